// Calling CNI plugins the way a runtime does, for bench/cni.ts: the plugin executable is started
// with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and CNI_PATH in its environment and one
// plugin's network configuration on stdin, inside the namespace that plays the container host.
// Each call is timed from spawn to the end of its output, so the plugin's process start counts, as
// it does for a runtime. The harness starts every process through `ip netns exec`, which costs the
// same for both plugins; floor() measures it so the table can show it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ExecResult, Host } from '../test/harness/netns.js';

const execFileP = promisify(execFile);
const CALL_TIMEOUT_MS = 30_000;

/** One plugin as a runtime knows it: where it runs, its executable, CNI_PATH and its configuration. */
export interface Plugin {
  readonly label: string;
  readonly host: Host;
  readonly bin: string;
  /** CNI_PATH: where the plugin finds its delegates (host-local for bridge). */
  readonly cniPath: string;
  /** A single plugin's configuration (not a conflist). */
  readonly config: Record<string, unknown>;
}

export interface Call {
  ms: number;
  r: ExecResult;
}

/** A container a plugin attached: its namespace, CNI_CONTAINERID and the ADD result (DEL's prevResult). */
export interface Attached {
  netns: Host;
  id: string;
  result: unknown;
  address: string;
}

function cniEnv(command: string, id: string, netns: string, p: Plugin): Record<string, string> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: p.cniPath };
}

async function timed(p: Plugin, env: Record<string, string>, input: string): Promise<Call> {
  const t0 = performance.now();
  const r = await p.host.exec(p.bin, [], { env, input, timeoutMs: CALL_TIMEOUT_MS });
  return { ms: performance.now() - t0, r };
}

function failure(p: Plugin, what: string, r: ExecResult): Error {
  return new Error(`${p.label}: ${what} exited ${r.code}: ${(r.stdout || r.stderr).trim().slice(0, 500)}`);
}

/** The first address of a CNI result (any version from 0.3.0 on), or a reason it has none. */
export function resultAddress(stdout: string): { address: string; result: unknown } | { reason: string } {
  let result: unknown;
  try {
    result = JSON.parse(stdout);
  } catch {
    return { reason: `the result is not JSON: ${stdout.slice(0, 200)}` };
  }
  const ips = (result as { ips?: { address?: unknown }[] } | null)?.ips;
  const address = Array.isArray(ips) ? ips[0]?.address : undefined;
  if (typeof address !== 'string' || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(address)) return { reason: `the result has no IPv4 address: ${stdout.slice(0, 200)}` };
  return { address, result };
}

/** CNI ADD for container `netns` (eth0); throws if the plugin fails or its result has no address. */
export async function add(p: Plugin, netns: Host, id: string): Promise<{ ms: number; attached: Attached }> {
  const c = await timed(p, cniEnv('ADD', id, `/run/netns/${netns.name}`, p), JSON.stringify(p.config));
  if (c.r.code !== 0) throw failure(p, `ADD ${netns.name}`, c.r);
  const parsed = resultAddress(c.r.stdout);
  if ('reason' in parsed) throw new Error(`${p.label}: ADD ${netns.name}: ${parsed.reason}`);
  return { ms: c.ms, attached: { netns, id, result: parsed.result, address: parsed.address } };
}

/** CNI DEL with the ADD's result as prevResult, as libcni sends it; throws if the plugin fails. */
export async function del(p: Plugin, a: Attached): Promise<number> {
  const c = await timed(p, cniEnv('DEL', a.id, `/run/netns/${a.netns.name}`, p), JSON.stringify({ ...p.config, prevResult: a.result }));
  if (c.r.code !== 0) throw failure(p, `DEL ${a.netns.name}`, c.r);
  return c.ms;
}

/** CNI VERSION: the plugin's bare process start (plus the launcher), nothing else. */
export async function version(p: Plugin): Promise<number> {
  const env = { CNI_COMMAND: 'VERSION', CNI_CONTAINERID: 'dummy', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: p.cniPath };
  const c = await timed(p, env, JSON.stringify({ cniVersion: p.config.cniVersion }));
  if (c.r.code !== 0) throw failure(p, 'VERSION', c.r);
  return c.ms;
}

/**
 * A floor every call pays: `ip netns exec HOST true` (the launcher, before any plugin starts), or
 * `ip netns exec HOST node -e 0` (the launcher and Node's own start, before a Node plugin's code loads).
 */
export async function floor(host: Host, what: 'launcher' | 'node'): Promise<number> {
  const [cmd, args] = what === 'launcher' ? ['true', []] : [process.execPath, ['-e', '0']];
  const t0 = performance.now();
  const r = await host.exec(cmd, args);
  if (r.code !== 0) throw new Error(`${host.name}: ${cmd} exited ${r.code}`);
  return performance.now() - t0;
}

/**
 * Deletes container namespaces made by lan.addContainer() in one `ip` process (the LAN's cleanup
 * skips them then). The kernel frees a namespace later, on a worker thread; callers delete between
 * phases, not between timed calls, so that work does not land in the samples.
 */
export async function removeNetns(namespaces: Host[]): Promise<void> {
  if (namespaces.length === 0) return;
  const child = execFileP('ip', ['-batch', '-']);
  child.child.stdin?.end(namespaces.map((ns) => `netns del ${ns.name}`).join('\n') + '\n');
  await child;
}

/** Names of the ports of `bridge` in `host` ([] when the bridge does not exist). */
export async function bridgePortsOf(host: Host, bridge: string): Promise<string[]> {
  const r = await host.exec('ip', ['-j', 'link', 'show', 'master', bridge]);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) return [];
    throw new Error(`${host.name}: ip link show master ${bridge} failed: ${r.stderr.trim()}`);
  }
  return (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

// The router's part of an ADD, measured from inside the host with no plugin process: one node
// process makes the calls given on stdin one after another, each on a new connection as the
// plugin makes it, and times each from request to the end of the reply.
const ROUTER_PROBE = `
import http from 'node:http';
import { readFileSync } from 'node:fs';
const calls = JSON.parse(readFileSync(0, 'utf8'));
const call = ({ method, path, body }) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const req = http.request({ host: '127.0.0.1', port: 6784, method, path, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
    let s = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (s += d));
    res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t0, body: s }));
  });
  req.on('error', reject);
  req.end(body === undefined ? undefined : JSON.stringify(body));
});
const out = [];
for (const c of calls) out.push(await call(c));
process.stdout.write(JSON.stringify(out));
`;

export interface RouterCall {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}

/**
 * Makes `calls` to the router of `host` from a client inside it and returns each call's time;
 * throws on a non-2xx reply or a /cni/add reply without an address.
 */
export async function routerCalls(host: Host, calls: RouterCall[]): Promise<number[]> {
  const r = await host.exec(process.execPath, ['--input-type=module', '-e', ROUTER_PROBE], { input: JSON.stringify(calls), timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${host.name}: the router probe exited ${r.code}: ${r.stderr.trim().slice(0, 500)}`);
  const out = JSON.parse(r.stdout) as { status: number; ms: number; body: string }[];
  for (const [i, c] of out.entries()) {
    const what = `${calls[i]!.method} ${calls[i]!.path}`;
    if (c.status < 200 || c.status > 299) throw new Error(`${host.name}: ${what} answered ${c.status}: ${c.body.slice(0, 300)}`);
    if (calls[i]!.path === '/cni/add') {
      const cidrs = (JSON.parse(c.body) as { cidrs?: unknown }).cidrs;
      if (!Array.isArray(cidrs) || cidrs.length === 0) throw new Error(`${host.name}: ${what} answered without an address: ${c.body.slice(0, 300)}`);
    }
  }
  return out.map((c) => c.ms);
}
