// The wireguard-go reference for the encrypted data-plane benchmark: the same two-host namespace
// LAN as weft's testbeds, with a WireGuard tunnel between the hosts and one routed container
// behind each, so that container-to-container traffic crosses one veth, one user-space tunnel and
// the underlay, as it does through weft's user-space ESP engine.
//
//   c0 10.51.0.1 ─ vwg 10.51.0.254   h0 198.18.0.1                h1 198.18.0.2   vwg 10.51.1.254 ─ c1 10.51.1.1
//                                    wgw… 10.50.0.1 ═ UDP 51820 ═ wgw… 10.50.0.2
//
// wireguard-go runs in the foreground (-f) in each host namespace, started and stopped by PID.
// Its control socket lives in /var/run/wireguard, which all namespaces share, so interface names
// are unique per machine: `wgw<creator pid base36><random tag><0|1>`. Sockets are removed by stop(),
// at process exit, and (for a run that was killed) by the next run when their creator is gone.
// The MTU defaults to weft's encrypted overlay MTU (1402 on a 1500 underlay), not wg-quick's 1420,
// so both carry the same TCP segment size.
//
// `node dist/bench/wireguard.js` measures the reference alone: 1 and 4 TCP streams, 5 s each, and ping.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLan, pidAlive, type Host, type HostProcess, waitFor } from '../test/harness/netns.js';
import { canUseNetns, hasCommand } from '../test/harness/privileges.js';
import { reachable, type Testbed } from './dataplane-hosts.js';
import { iperf, ping, startIperfServer, type IperfEnd, type PingStats } from './dataplane-traffic.js';

export const WG_SOCKET_DIR = '/var/run/wireguard';
export const WG_PORT = 51820;
/** weft's encrypted overlay MTU on a 1500-byte underlay (1500 − 50 VXLAN − 48 ESP in UDP). */
export const WG_BENCH_MTU = 1402;
const TUNNEL_PREFIX = '10.50.0';
const CONTAINER_PREFIX = '10.51';
const SOCKET_NAME = /^wgw([0-9a-z]+)[0-9a-z]{3}[01]\.sock$/;

export interface WireguardOptions {
  /** MTU of the wg devices; default WG_BENCH_MTU. */
  mtu?: number;
  /** UDP port both ends listen on; default WG_PORT. */
  port?: number;
  /** Subnets routed into the tunnel towards hosts[i] (beyond its tunnel address), e.g. its containers. */
  behind?: readonly [readonly string[], readonly string[]];
}

/** A running tunnel between two hosts; innerAddrs[i] is hosts[i]'s address on it. */
export interface WireguardTunnel {
  readonly ifnames: readonly [string, string];
  readonly innerAddrs: readonly [string, string];
  readonly processes: readonly [HostProcess, HostProcess];
  readonly mtu: number;
  /** Stops both wireguard-go processes by PID and removes their sockets and links. Safe to repeat. */
  stop(): Promise<void>;
}

export interface WireguardTestbed extends Testbed {
  readonly tunnel: WireguardTunnel;
}

const liveSockets = new Set<string>();
let hooked = false;

function removeSockets(): void {
  for (const s of liveSockets) rmSync(s, { force: true });
  liveSockets.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeSockets);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      removeSockets();
      // 'exit' runs the harness's hook, which kills wireguard-go by PID and deletes the namespaces.
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

/** Removes sockets named by this module whose creator process is gone; returns their names. */
export function sweepStaleSockets(dir = WG_SOCKET_DIR): string[] {
  if (!existsSync(dir)) return [];
  const stale = readdirSync(dir).filter((f) => {
    const m = SOCKET_NAME.exec(f);
    return m !== null && !pidAlive(parseInt(m[1]!, 36));
  });
  for (const f of stale) rmSync(`${dir}/${f}`, { force: true });
  return stale;
}

async function must(host: Host, cmd: string, args: string[], input?: string): Promise<string> {
  const r = await host.exec(cmd, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${host.name}: ${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout.trim();
}

async function ipBatch(host: Host, lines: string[]): Promise<void> {
  await must(host, 'ip', ['-batch', '-'], lines.join('\n') + '\n');
}

/** Starts wireguard-go as `ifname` in `host` and waits for its control socket and device. */
async function startDaemon(host: Host, ifname: string): Promise<HostProcess> {
  const sock = `${WG_SOCKET_DIR}/${ifname}.sock`;
  if (existsSync(sock)) throw new Error(`${sock} exists: another wireguard-go uses interface name ${ifname}`);
  liveSockets.add(sock);
  const proc = host.spawn('wireguard-go', ['-f', ifname]);
  await waitFor(
    async () => {
      if (!proc.running) throw new Error(`wireguard-go ${ifname} exited in ${host.name}: ${proc.output().trim()}`);
      return existsSync(sock) && (await host.exec('ip', ['link', 'show', 'dev', ifname])).code === 0;
    },
    { timeoutMs: 10_000, intervalMs: 20, what: `wireguard-go to create ${ifname} in ${host.name}` },
  ).catch(async (err: unknown) => {
    await stopDaemon(host, ifname, proc);
    throw err;
  });
  return proc;
}

async function stopDaemon(host: Host, ifname: string, proc: HostProcess): Promise<void> {
  await proc.stop();
  const sock = `${WG_SOCKET_DIR}/${ifname}.sock`;
  rmSync(sock, { force: true });
  liveSockets.delete(sock);
  // The TUN goes with its process; a SIGKILLed one may leave the link for a moment.
  await host.exec('ip', ['link', 'del', 'dev', ifname]).catch(() => undefined);
}

/**
 * A WireGuard tunnel between hosts[0] and hosts[1] (which must reach each other at their `addr`),
 * through wireguard-go with fresh keys. On failure everything started is stopped again.
 */
export async function setupWireguard(hosts: readonly [Host, Host], opts: WireguardOptions = {}): Promise<WireguardTunnel> {
  hookExit();
  sweepStaleSockets();
  const mtu = opts.mtu ?? WG_BENCH_MTU;
  const port = opts.port ?? WG_PORT;
  const tag = (randomBytes(4).readUInt32BE(0) % 36 ** 3).toString(36).padStart(3, '0');
  const ifnames = [0, 1].map((i) => `wgw${process.pid.toString(36)}${tag}${i}`) as [string, string];
  const innerAddrs = [`${TUNNEL_PREFIX}.1`, `${TUNNEL_PREFIX}.2`] as [string, string];
  const started: { host: Host; ifname: string; proc: HostProcess }[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const s of started) await stopDaemon(s.host, s.ifname, s.proc);
    })();
    return stopping;
  };
  try {
    for (const [i, host] of hosts.entries()) started.push({ host, ifname: ifnames[i]!, proc: await startDaemon(host, ifnames[i]!) });
    const keys = await Promise.all(
      hosts.map(async (h) => {
        const priv = await must(h, 'wg', ['genkey']);
        return { priv, pub: await must(h, 'wg', ['pubkey'], priv + '\n') };
      }),
    );
    for (const [i, host] of hosts.entries()) {
      const o = 1 - i;
      const ifname = ifnames[i]!;
      const allowed = [`${innerAddrs[o]}/32`, ...(opts.behind?.[o] ?? [])];
      // `wg set` reads the private key from a file only, and cannot open the harness's stdin (a socket).
      const keyDir = mkdtempSync(join(tmpdir(), 'weft-wg-'));
      try {
        const keyFile = join(keyDir, 'private');
        writeFileSync(keyFile, keys[i]!.priv + '\n', { mode: 0o600 });
        await must(host, 'wg', ['set', ifname, 'listen-port', String(port), 'private-key', keyFile, 'peer', keys[o]!.pub, 'endpoint', `${hosts[o]!.addr}:${port}`, 'allowed-ips', allowed.join(',')]);
      } finally {
        rmSync(keyDir, { recursive: true, force: true });
      }
      await ipBatch(host, [
        `addr add ${innerAddrs[i]}/24 dev ${ifname}`,
        `link set dev ${ifname} mtu ${mtu} up`,
        ...(opts.behind?.[o] ?? []).map((net) => `route add ${net} dev ${ifname}`),
      ]);
    }
    return { ifnames, innerAddrs, processes: [started[0]!.proc, started[1]!.proc], mtu, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A new two-host LAN with a wireguard-go tunnel and a routed container behind each host. */
export async function wireguardTestbed(opts: Omit<WireguardOptions, 'behind'> = {}): Promise<WireguardTestbed> {
  const lan = await createLan({ hosts: 2 });
  let tunnel: WireguardTunnel | undefined;
  const cleanup = async (): Promise<void> => {
    try {
      await tunnel?.stop();
    } finally {
      await lan.cleanup();
    }
  };
  try {
    const hosts = [lan.hosts[0]!, lan.hosts[1]!] as const;
    const nets = [`${CONTAINER_PREFIX}.0.0/24`, `${CONTAINER_PREFIX}.1.0/24`];
    tunnel = await setupWireguard(hosts, { ...opts, behind: [[nets[0]!], [nets[1]!]] });
    const containers: Host[] = [];
    const ips: string[] = [];
    for (const [i, h] of hosts.entries()) {
      const c = await lan.addContainer();
      const ip = `${CONTAINER_PREFIX}.${i}.1`;
      const gw = `${CONTAINER_PREFIX}.${i}.254`;
      await must(h, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await ipBatch(h, [`link add vwg mtu ${tunnel.mtu} type veth peer name eth0 netns ${c.name}`, `addr add ${gw}/24 dev vwg`, 'link set vwg up']);
      await ipBatch(c, [`link set eth0 mtu ${tunnel.mtu}`, `addr add ${ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${gw}`]);
      containers.push(c);
      ips.push(ip);
    }
    return { label: 'wireguard-go', lan, containers, ips, mtu: tunnel.mtu, tunnel, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export interface PairBench {
  mtu: number;
  /** bits/s per stream count, c0 → c1. */
  throughput: { streams: number; bps: number }[];
  /** c0 → c1. */
  ping: PingStats;
}

/** iperf3 c0 → c1 for each stream count, then `pings` pings every `pingIntervalS`, on any two-container testbed. */
export async function measurePair(
  tb: Testbed,
  opts: { seconds?: number; streams?: number[]; pings?: number; pingIntervalS?: number; end?: IperfEnd } = {},
): Promise<PairBench> {
  const end = opts.end ?? { port: 5201 };
  const [a, b] = [tb.containers[0]!, tb.containers[1]!];
  await reachable(a, tb.ips[1]!);
  await reachable(b, tb.ips[0]!);
  const server = await startIperfServer(b, end);
  try {
    const throughput: PairBench['throughput'] = [];
    for (const streams of opts.streams ?? [1, 4]) throughput.push({ streams, bps: await iperf(a, tb.ips[1]!, end, streams, opts.seconds ?? 5) });
    return { mtu: tb.mtu, throughput, ping: await ping(a, tb.ips[1]!, opts.pings ?? 200, opts.pingIntervalS ?? 0.005) };
  } finally {
    await server.stop();
  }
}

/** Why the reference cannot run here, or undefined when it can. */
export function wireguardUnavailable(): string | undefined {
  const can = canUseNetns();
  if (!can.ok) return can.reason;
  if (!hasCommand('wireguard-go')) return 'wireguard-go (Debian package wireguard-go) is not installed';
  if (!hasCommand('wg')) return 'wg (Debian package wireguard-tools) is not installed';
  return undefined;
}

async function main(): Promise<void> {
  const why = wireguardUnavailable();
  if (why !== undefined) {
    console.log(`wireguard-go reference: skipped (${why})`);
    return;
  }
  const tb = await wireguardTestbed();
  try {
    const r = await measurePair(tb);
    console.log(`wireguard-go reference: container to container across two namespace hosts (tunnel MTU ${r.mtu})`);
    for (const t of r.throughput) console.log(`  TCP, ${t.streams} stream${t.streams === 1 ? ' ' : 's'}  ${(t.bps / 1e9).toFixed(2)} Gbit/s`);
    console.log(`  ping avg ${r.ping.avgMs.toFixed(3)} ms, p50 ${r.ping.p50Ms.toFixed(3)} ms (${r.ping.received}/${r.ping.sent} replies)`);
  } finally {
    await tb.cleanup();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
