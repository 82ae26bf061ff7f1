// The encrypted data-plane benchmark: container-to-container traffic through weft with a password
// (the user-space ESP engine), through weft without one (kernel VXLAN), and through wireguard-go,
// three two-host namespace testbeds measured in one run.
//
//   throughput  iperf3 c0 → c1, 1 and 4 streams, rounds alternating wireguard-go, weft, weft+ESP;
//               median per side; user+system CPU seconds of the processes carrying the tunnel
//               (both weft routers, both wireguard-go) over each run, from /proc/PID/stat
//   latency     ping c0 → c1, 200 × 5 ms; avg and p50
//
// Goal (issue 5): encrypted weft ≥ 2 × wireguard-go's throughput. Everything runs in namespaces the
// harness creates; routers are remembered by PID so an interrupted run still ends them.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { canUseNetns, hasCommand } from '../test/harness/privileges.js';
import { reachable, weftTestbed, type Testbed } from './dataplane-hosts.js';
import { iperf, median, ping, startIperfServer, type IperfEnd, type PingStats } from './dataplane-traffic.js';
import { wireguardTestbed, wireguardUnavailable } from './wireguard.js';

export interface EspBenchOptions {
  /** iperf3 -t per run. */
  seconds?: number;
  /** Alternating rounds (the median per side is reported). */
  runs?: number;
  pings?: number;
  password?: string;
}

export interface EspThroughput {
  streams: number;
  /** bits/s, one per run. */
  runs: number[];
  /** CPU seconds (user + system) of the side's tunnel processes, one per run; empty if unknown. */
  cpuS: number[];
}

export interface EspSide {
  label: string;
  mtu: number;
  throughput: EspThroughput[];
  ping: PingStats;
}

export interface EspBenchResults {
  encrypted: EspSide;
  plain: EspSide;
  /** undefined when wireguard-go cannot run here (see wireguardSkipped). */
  wireguard: EspSide | undefined;
  wireguardSkipped: string | undefined;
  /** The cipher the two encrypted routers agreed on. */
  cipher: string | null;
  seconds: number;
}

/** A testbed and the PIDs of the processes that carry its tunnel (for CPU accounting). */
interface Measured {
  tb: Testbed;
  pids: number[];
  side: EspSide;
}

export const GOAL_VS_WIREGUARD = 2;
const END: IperfEnd = { port: 5201 };
const STREAMS = [1, 4];

/** Why the encrypted benchmark cannot run here, or undefined when it can. */
export function espBenchUnavailable(): string | undefined {
  const can = canUseNetns();
  if (!can.ok) return can.reason;
  if (!hasCommand('nft')) return 'nft (Debian package nftables) is not installed; weft needs it for its cleartext guard';
  if (!hasCommand('iperf3')) return 'iperf3 is not installed';
  return undefined;
}

let clkTck: number | undefined;

/** user + system CPU seconds of a process (all its threads), or undefined if it cannot be read. */
export function processCpuSeconds(pid: number): number | undefined {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const ticks = parseStatCpuTicks(stat);
  return ticks === undefined ? undefined : ticks / clkTck;
}

/** utime + stime (fields 14 and 15) of a /proc/PID/stat line, in clock ticks. */
export function parseStatCpuTicks(stat: string): number | undefined {
  // The command name (field 2) may contain spaces and parentheses: count from its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) && rest.length > 12 ? utime + stime : undefined;
}

function cpuOf(pids: number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s === undefined) return undefined;
    sum += s;
  }
  return sum;
}

function emptySide(tb: Testbed): EspSide {
  const none: PingStats = { sent: 0, received: 0, avgMs: NaN, p50Ms: NaN, p99Ms: NaN };
  return { label: tb.label, mtu: tb.mtu, throughput: STREAMS.map((streams) => ({ streams, runs: [], cpuS: [] })), ping: none };
}

async function prepare(m: Measured): Promise<void> {
  await reachable(m.tb.containers[0]!, m.tb.ips[1]!);
  await reachable(m.tb.containers[1]!, m.tb.ips[0]!);
  await startIperfServer(m.tb.containers[1]!, END);
}

async function throughputRound(m: Measured, seconds: number): Promise<void> {
  for (const c of m.side.throughput) {
    const before = m.pids.length > 0 ? cpuOf(m.pids) : undefined;
    c.runs.push(await iperf(m.tb.containers[0]!, m.tb.ips[1]!, END, c.streams, seconds));
    const after = before === undefined ? undefined : cpuOf(m.pids);
    if (before !== undefined && after !== undefined) c.cpuS.push(after - before);
  }
}

/** Builds the three testbeds, measures them alternately, and removes everything again (also on failure). */
export async function runEspBench(opts: EspBenchOptions = {}): Promise<EspBenchResults> {
  const seconds = opts.seconds ?? 5;
  const runs = opts.runs ?? 2;
  const pings = opts.pings ?? 200;
  const wireguardSkipped = wireguardUnavailable();
  const testbeds: Testbed[] = [];
  try {
    const enc = await weftTestbed(2, { password: opts.password ?? 'weft-bench' });
    testbeds.push(enc);
    const plain = await weftTestbed(2);
    testbeds.push(plain);
    const wg = wireguardSkipped === undefined ? await wireguardTestbed() : undefined;
    if (wg) testbeds.push(wg);
    const sides: Measured[] = [
      ...(wg ? [{ tb: wg, pids: wg.tunnel.processes.map((p) => p.pid), side: emptySide(wg) }] : []),
      { tb: plain, pids: [], side: emptySide(plain) },
      { tb: enc, pids: enc.pids, side: emptySide(enc) },
    ];
    for (const m of sides) await prepare(m);
    for (let r = 0; r < runs; r++) for (const m of sides) await throughputRound(m, seconds);
    for (const m of sides) m.side.ping = await ping(m.tb.containers[0]!, m.tb.ips[1]!, pings, 0.005);
    const find = (tb: Testbed): EspSide => sides.find((m) => m.tb === tb)!.side;
    return { encrypted: find(enc), plain: find(plain), wireguard: wg ? find(wg) : undefined, wireguardSkipped, cipher: enc.cipher, seconds };
  } finally {
    for (const tb of testbeds.reverse()) await tb.cleanup().catch((err: unknown) => console.error(`cleanup of ${tb.label}: ${String(err)}`));
  }
}

const gbit = (bps: number): string => `${(bps / 1e9).toFixed(2)} Gbit/s`;
const ms = (x: number): string => `${x.toFixed(3)} ms`;
const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) : '-');
const row = (cells: string[], widths: number[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('');

/** The results as `make bench` prints them. */
export function formatEspBench(r: EspBenchResults): string {
  const wg = r.wireguard;
  const w = [18, 17, 17, 17, 12, 12];
  const lines: string[] = [];
  lines.push(`encrypted data plane: container to container across two namespace hosts, ${r.seconds} s per run (cipher ${r.cipher ?? 'unknown'})`);
  lines.push(`  overlay MTU: weft + ESP ${r.encrypted.mtu}, weft ${r.plain.mtu}${wg ? `, wireguard-go ${wg.mtu}` : ''}`);
  if (!wg) lines.push(`  wireguard-go: skipped (${r.wireguardSkipped ?? 'unknown reason'})`);
  lines.push(row(['measurement', 'weft + ESP', 'weft (clear)', 'wireguard-go', 'ESP/clear', 'ESP/wg-go'], w));
  const goal: string[] = [];
  for (const [i, c] of r.encrypted.throughput.entries()) {
    const e = median(c.runs);
    const p = median(r.plain.throughput[i]!.runs);
    const g = wg ? median(wg.throughput[i]!.runs) : NaN;
    lines.push(row([`TCP, ${c.streams} stream${c.streams === 1 ? '' : 's'}`, gbit(e), gbit(p), wg ? gbit(g) : '-', ratio(e, p), wg ? ratio(e, g) : '-'], w));
    if (wg) goal.push(`${c.streams} stream${c.streams === 1 ? '' : 's'} ${ratio(e, g)} (${e / g >= GOAL_VS_WIREGUARD ? 'met' : 'not met'})`);
  }
  for (const [label, pick] of [
    ['ping avg', (s: EspSide) => s.ping.avgMs],
    ['ping p50', (s: EspSide) => s.ping.p50Ms],
  ] as const) {
    const e = pick(r.encrypted);
    const g = wg ? pick(wg) : NaN;
    lines.push(row([label, ms(e), ms(pick(r.plain)), wg ? ms(g) : '-', ratio(e, pick(r.plain)), wg ? ratio(e, g) : '-'], w));
  }
  if (wg) lines.push(`  goal: weft + ESP ≥ ${GOAL_VS_WIREGUARD.toFixed(1)}× wireguard-go throughput — ${goal.join(', ')}`);
  const cpu = (s: EspSide | undefined, who: string): string | undefined => {
    if (!s || s.throughput.every((c) => c.cpuS.length === 0)) return undefined;
    return `${who} ` + s.throughput.map((c) => `${c.streams} stream${c.streams === 1 ? '' : 's'} ${median(c.cpuS).toFixed(2)} s (${(median(c.cpuS) / (median(c.runs) / 1e9)).toFixed(2)} s per Gbit/s)`).join(', ');
  };
  const cpuLines = [cpu(r.encrypted, 'both weft routers'), cpu(wg, 'both wireguard-go')].filter((x) => x !== undefined);
  if (cpuLines.length > 0) lines.push(`  CPU (user+system) per ${r.seconds} s run, median: ${cpuLines.join('; ')}`);
  const runs = (s: EspSide): string => s.throughput.map((c) => `${c.streams} [${c.runs.map((x) => (x / 1e9).toFixed(2)).join(', ')}]`).join(' ');
  lines.push(`  raw Gbit/s per run (median of ${r.encrypted.throughput[0]?.runs.length ?? 0}, rounds alternating): weft + ESP ${runs(r.encrypted)}; weft ${runs(r.plain)}${wg ? `; wireguard-go ${runs(wg)}` : ''}`);
  const lost = (p: PingStats): string => `${p.sent - p.received}/${p.sent}`;
  lines.push(`  ping lost: weft + ESP ${lost(r.encrypted.ping)}, weft ${lost(r.plain.ping)}${wg ? `, wireguard-go ${lost(wg.ping)}` : ''}; latency: lower is better`);
  return lines.join('\n');
}
