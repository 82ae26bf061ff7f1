// The router's command-line options, shared by `weft router` (foreground) and `weft launch`
// (background): declaring them, validating them into DaemonOptions, and turning DaemonOptions
// back into arguments for the background child (without the password, which goes by env).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import * as C from '../../lib/constants.js';
import { WeftError } from '../../lib/errors.js';
import { defaultOptions, portClashes, type DaemonOptions, type IpallocInit } from '../daemon/options.js';
import { isHostname, parseHostPort, parsePeerAddresses, parsePort } from '../api/address.js';
import { isIPv6 } from 'node:net';
import { parsePeerName } from '../../mesh/peer-name.js';
import { parseIpv4, parseNetwork } from '../../lib/ip.js';
import { ESP_CIPHERS, type EspCipher } from '../../crypto/esp-sa.js';

/** Option values as commander hands them over (strings; discovery from --no-discovery). */
export interface RawRouterOptions {
  host?: string;
  port?: string;
  httpAddr?: string;
  metricsAddr?: string;
  dataDir?: string;
  password?: string;
  name?: string;
  nickname?: string;
  connLimit?: string;
  degree?: string;
  discovery?: boolean;
  logLevel?: string;
  vxlanPort?: string;
  mtu?: string;
  ipallocRange?: string;
  dataplane?: boolean;
  ipallocInit?: string;
  ipallocReclaimAfter?: string;
  espKeylog?: string;
  espCipher?: string;
  espEngine?: string;
}

export const LOG_LEVELS: readonly DaemonOptions['logLevel'][] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function addRouterOptions(cmd: Command): Command {
  return cmd
    .option('--host <addr>', 'mesh listen address (default: every address of this network namespace)')
    .option('--port <n>', `mesh TCP port (default ${C.MESH_PORT})`)
    .option('--metrics-addr <host:port>', `serve Prometheus /metrics, /healthz and /readyz here, e.g. ${C.METRICS_ADDR} or the node's address; off for none (default: ${C.METRICS_ADDR} for weft launch, none for weft router)`)
    .option('--data-dir <dir>', `where the peer name and weft.log are kept (default ${C.DATA_DIR}, env WEFT_DATA_DIR)`)
    .option('--password <pw>', 'encrypt all traffic between peers with this password; prefer env WEFT_PASSWORD, which ps does not show')
    .option('--name <mac>', 'peer name for this run, e.g. 02:aa:bb:cc:dd:ee (default: the one kept in the data dir)')
    .option('--nickname <name>', 'human-friendly peer name (default: this host name)')
    .option('--conn-limit <n>', `most connections to accept (default ${C.CONN_LIMIT})`)
    .option('--degree <n>', `how many peers discovery connects to; 0 = every peer it learns of (default ${C.MESH_DEGREE}, or 0 with a password)`)
    .option('--no-discovery', 'do not connect to peers learnt from other peers')
    .option('--log-level <level>', `${LOG_LEVELS.join(', ')} (default info)`)
    .option('--vxlan-port <n>', `UDP port of the kernel VXLAN data plane (default ${C.VXLAN_PORT})`)
    .option('--mtu <n>', 'overlay MTU (default: the underlay interface MTU minus the 50-byte VXLAN overhead)')
    .option('--ipalloc-range <cidr>', `the overlay range containers are routed to (default ${C.IPALLOC_RANGE})`)
    .option('--ipalloc-init <mode>', 'how the address ring starts: consensus[=N] (default; N = how many peers start together) or seed=NAME,NAME,…')
    .option('--ipalloc-reclaim-after <duration>', `reclaim the address space of a peer unreachable this long, e.g. 30s, 10m, 1h (default ${C.IPALLOC_RECLAIM_AFTER})`)
    .option('--esp-keylog <file>', 'DEBUGGING ONLY: append every ESP key to this file, one Wireshark esp_sa record per line, so captures can be decrypted')
    .option('--esp-engine <engine>', 'auto (default: the kernel\'s IPsec when it has ESP, else user space), kernel or user')
    .option('--esp-cipher <list>', `ESP ciphers in order of preference: ${ESP_CIPHERS.join(', ')} (default ${C.ESP_CIPHERS.join(',')})`)
    .option('--no-dataplane', 'run the mesh control plane only (no bridge, no VXLAN; needs no privileges)');
}

/**
 * Validates everything and fills in defaults (env WEFT_HTTP_ADDR, WEFT_DATA_DIR, WEFT_PASSWORD
 * when the option is absent). Throws a 'usage' WeftError listing every problem with its fix.
 */
export function parseRouterOptions(
  raw: RawRouterOptions,
  peers: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  hostname: string,
): DaemonOptions {
  const o = defaultOptions();
  const problems: string[] = [];

  if (raw.host !== undefined && raw.host !== '') {
    const h = raw.host.replace(/^\[(.*)\]$/, '$1');
    if (parseIpv4(h).ok || isIPv6(h) || isHostname(h)) o.host = h;
    else problems.push(`--host "${raw.host}" is not an IP address of this host; leave it out to listen on every address`);
  }
  if (raw.port !== undefined) {
    const p = parsePort(raw.port);
    if (p.ok) o.port = p.value;
    else problems.push(`--port: ${p.reason}; leave it out for ${C.MESH_PORT}`);
  }
  const httpAddr = raw.httpAddr ?? env.WEFT_HTTP_ADDR;
  if (httpAddr !== undefined) {
    const a = parseHttpAddr(httpAddr);
    if (a.ok) o.httpAddr = httpAddr.trim();
    else problems.push(a.reason);
  }
  if (raw.metricsAddr !== undefined && !['', 'off'].includes(raw.metricsAddr.trim())) {
    const a = parseHostPort(raw.metricsAddr.trim(), { requirePort: true });
    if (a.ok) o.metricsAddr = raw.metricsAddr.trim();
    else problems.push(`--metrics-addr "${raw.metricsAddr}": ${a.reason} — write host:port, e.g. ${C.METRICS_ADDR}, or off for no metrics`);
  }
  const dataDir = raw.dataDir ?? env.WEFT_DATA_DIR;
  if (dataDir !== undefined) {
    if (dataDir.trim() === '') problems.push(`--data-dir is empty; give a directory, or leave it out for ${C.DATA_DIR}`);
    else o.dataDir = resolve(dataDir);
  }
  const password = raw.password ?? env.WEFT_PASSWORD;
  // An empty password would mean no encryption: whoever typed one meant to encrypt, so refuse.
  if (password === '') {
    problems.push(
      raw.password !== undefined
        ? '--password is empty, which would run without encryption — give the password (env WEFT_PASSWORD keeps it out of ps), or leave --password out to run unencrypted'
        : 'WEFT_PASSWORD is set but empty, which would run without encryption — set it to the password, or unset it to run unencrypted',
    );
  } else if (password !== undefined) {
    o.password = Buffer.from(password, 'utf8');
  }
  if (raw.name !== undefined) {
    if (parsePeerName(raw.name) === undefined) {
      problems.push(`--name "${raw.name}" is not a peer name; write six hex bytes like 02:aa:bb:cc:dd:ee, or leave it out to use the one kept in the data dir`);
    } else {
      o.name = raw.name.trim().toLowerCase();
    }
  }
  const nickname = raw.nickname ?? hostname;
  // eslint-disable-next-line no-control-regex
  if (nickname.length === 0 || nickname.length > 255 || /[\u0000-\u001f\u007f]/.test(nickname)) {
    problems.push(`--nickname must be 1 to 255 printable characters`);
  } else {
    o.nickname = nickname;
  }
  if (raw.connLimit !== undefined) {
    if (/^[0-9]{1,9}$/.test(raw.connLimit.trim())) o.connLimit = Number(raw.connLimit.trim());
    else problems.push(`--conn-limit "${raw.connLimit}" must be a whole number ≥ 0; leave it out for ${C.CONN_LIMIT}`);
  }
  if (raw.degree !== undefined) {
    if (/^[0-9]{1,4}$/.test(raw.degree.trim())) o.degree = Number(raw.degree.trim());
    else problems.push(`--degree "${raw.degree}" must be a whole number ≥ 0 (0: connect to every peer); leave it out for ${C.MESH_DEGREE}`);
  }
  o.discovery = raw.discovery ?? true;
  if (raw.logLevel !== undefined) {
    const level = raw.logLevel.trim().toLowerCase();
    if ((LOG_LEVELS as readonly string[]).includes(level)) o.logLevel = level as DaemonOptions['logLevel'];
    else problems.push(`--log-level "${raw.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  if (raw.vxlanPort !== undefined) {
    const p = parsePort(raw.vxlanPort);
    if (p.ok) o.vxlanPort = p.value;
    else problems.push(`--vxlan-port: ${p.reason}; leave it out for ${C.VXLAN_PORT}`);
  }
  if (raw.espKeylog !== undefined) {
    if (raw.espKeylog.trim() === '') problems.push('--esp-keylog needs a file name');
    else o.espKeylog = resolve(raw.espKeylog);
  }
  if (raw.espCipher !== undefined) {
    const list = raw.espCipher.split(',').map((c) => c.trim()).filter((c) => c !== '');
    const bad = list.filter((c) => !(ESP_CIPHERS as readonly string[]).includes(c));
    if (list.length === 0 || bad.length > 0) problems.push(`--esp-cipher "${raw.espCipher}": choose from ${ESP_CIPHERS.join(', ')} (comma-separated, preferred first)`);
    else o.espCiphers = list as EspCipher[];
  }
  if (raw.espEngine !== undefined) {
    if (raw.espEngine === 'auto' || raw.espEngine === 'kernel' || raw.espEngine === 'user') o.espEngine = raw.espEngine;
    else problems.push(`--esp-engine "${raw.espEngine}": choose auto, kernel or user`);
  }
  if (raw.mtu !== undefined) {
    const m = Number(raw.mtu.trim());
    if (/^[0-9]{3,5}$/.test(raw.mtu.trim()) && m >= C.MIN_MTU && m <= C.MAX_MTU) o.mtu = m;
    else problems.push(`--mtu "${raw.mtu}" must be a whole number from ${C.MIN_MTU} to ${C.MAX_MTU}; leave it out to take it from the underlay`);
  }
  if (raw.ipallocRange !== undefined) {
    const r = parseNetwork(raw.ipallocRange.trim());
    if (r.ok && r.value.prefix >= 1 && r.value.prefix <= 30) o.ipallocRange = raw.ipallocRange.trim();
    else problems.push(`--ipalloc-range "${raw.ipallocRange}" is not an IPv4 network like ${C.IPALLOC_RANGE} (prefix 1 to 30, no host bits set)`);
  }
  o.dataplane = raw.dataplane ?? true;
  if (raw.ipallocInit !== undefined) {
    const init = parseIpallocInit(raw.ipallocInit);
    if (init.ok) o.ipallocInit = init.value;
    else problems.push(init.reason);
  }
  if (raw.ipallocReclaimAfter !== undefined) {
    const ms = parseDuration(raw.ipallocReclaimAfter);
    if (ms !== undefined && ms >= 1000) o.ipallocReclaimAfterMs = ms;
    else problems.push(`--ipalloc-reclaim-after "${raw.ipallocReclaimAfter}" is not a duration of at least 1s, like 30s, 10m or 1h`);
  }
  const targets = parsePeerAddresses(peers);
  if (targets.ok) o.peers = targets.value;
  else problems.push(`${targets.reason}; peers are written as 192.0.2.1, 192.0.2.1:6783, [2001:db8::1]:6783 or host.example`);

  // Only when each port parsed: a clash with a port that was refused above would be noise.
  if (problems.length === 0) {
    const api = parseHostPort(o.httpAddr, { requirePort: true });
    const metrics = o.metricsAddr === undefined ? undefined : parseHostPort(o.metricsAddr, { requirePort: true });
    if (api.ok) problems.push(...portClashes(o, api.value.host, api.value.port!, metrics?.ok ? { host: metrics.value.host, port: metrics.value.port! } : undefined));
  }
  if (problems.length > 0) throw new WeftError('usage', problems.join('\n'));
  return o;
}

/** Checks the local API address (global --http-addr / WEFT_HTTP_ADDR). */
export function parseHttpAddr(text: string): { ok: true } | { ok: false; reason: string } {
  const a = parseHostPort(text, { requirePort: true });
  if (a.ok) return { ok: true };
  return { ok: false, reason: `--http-addr "${text}": ${a.reason} — write host:port, e.g. ${C.HTTP_ADDR}` };
}

/**
 * The arguments that make `weft router` run with these options. The password is left out on
 * purpose (pass it with childEnv): arguments are visible to every user through ps.
 */
export function routerArgs(o: DaemonOptions): string[] {
  const args: string[] = [];
  if (o.host !== '') args.push(`--host=${o.host}`);
  args.push(`--port=${o.port}`, `--http-addr=${o.httpAddr}`, `--data-dir=${o.dataDir}`);
  if (o.metricsAddr !== undefined) args.push(`--metrics-addr=${o.metricsAddr}`);
  if (o.name !== undefined) args.push(`--name=${o.name}`);
  args.push(`--nickname=${o.nickname}`, `--conn-limit=${o.connLimit}`);
  if (o.degree !== undefined) args.push(`--degree=${o.degree}`);
  if (!o.discovery) args.push('--no-discovery');
  args.push(`--log-level=${o.logLevel}`, `--vxlan-port=${o.vxlanPort}`, `--ipalloc-range=${o.ipallocRange}`);
  if (o.mtu !== undefined) args.push(`--mtu=${o.mtu}`);
  if (o.ipallocInit !== undefined) args.push(`--ipalloc-init=${formatIpallocInit(o.ipallocInit)}`);
  args.push(`--ipalloc-reclaim-after=${o.ipallocReclaimAfterMs / 1000}s`);
  if (o.espKeylog !== undefined) args.push(`--esp-keylog=${o.espKeylog}`);
  if (o.espEngine !== 'auto') args.push(`--esp-engine=${o.espEngine}`);
  if (o.espCiphers.join() !== C.ESP_CIPHERS.join()) args.push(`--esp-cipher=${o.espCiphers.join(',')}`);
  if (!o.dataplane) args.push('--no-dataplane');
  args.push('--', ...o.peers);
  return args;
}

/** The background router's environment: ours, with WEFT_PASSWORD set to the chosen password or removed. */
export function childEnv(o: DaemonOptions, env: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  delete out.WEFT_PASSWORD;
  if (o.password !== undefined && o.password.length > 0) out.WEFT_PASSWORD = o.password.toString('utf8');
  return out;
}

/** "30s", "10m", "1h", "1500ms", "2m30s" → milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d+(ms|s|m|h))+$/.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return ms;
}

/** `consensus`, `consensus=N` or `seed=NAME,NAME,…` (peer names). */
export function parseIpallocInit(text: string): { ok: true; value: IpallocInit } | { ok: false; reason: string } {
  const t = text.trim();
  const usage = `--ipalloc-init "${text}": write consensus, consensus=N (N peers start together) or seed=NAME,NAME,… (peer names like 02:aa:bb:cc:dd:ee)`;
  if (t === 'consensus') return { ok: true, value: { mode: 'consensus' } };
  const c = /^consensus=(\d{1,6})$/.exec(t);
  if (c) return Number(c[1]) >= 1 ? { ok: true, value: { mode: 'consensus', peers: Number(c[1]) } } : { ok: false, reason: usage };
  const s = /^seed=(.+)$/.exec(t);
  if (s) {
    const names = s[1]!.split(',').map((n) => n.trim());
    const parsed = names.map((n) => parsePeerName(n));
    if (parsed.every((p) => p !== undefined) && names.length > 0) return { ok: true, value: { mode: 'seed', seeds: names.map((n) => n.toLowerCase()) } };
  }
  return { ok: false, reason: usage };
}

export function formatIpallocInit(i: IpallocInit): string {
  if (i.mode === 'seed') return `seed=${i.seeds.join(',')}`;
  return i.peers === undefined ? 'consensus' : `consensus=${i.peers}`;
}
