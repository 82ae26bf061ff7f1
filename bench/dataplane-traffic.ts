// Traffic between two containers of a testbed: iperf3 TCP throughput and ping round trips, with
// the parsers for their output (which return a reason instead of throwing on odd output).
import { waitFor, type Host, type HostProcess } from '../test/harness/netns.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Where an iperf3 server listens, and the one CPU both ends are pinned to (taskset), if any. */
export interface IperfEnd {
  port: number;
  cpu?: number;
}

const pinned = (end: IperfEnd, cmd: string[]): [string, string[]] =>
  end.cpu === undefined ? [cmd[0]!, cmd.slice(1)] : ['taskset', ['-c', String(end.cpu), ...cmd]];

/** `end.sum_received.bits_per_second` of an `iperf3 -J` client run. */
export function parseIperf(json: string): Parsed<number> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return { ok: false, reason: `not JSON: ${json.slice(0, 200)}` };
  }
  const d = doc as { error?: unknown; end?: { sum_received?: { bits_per_second?: unknown } } };
  if (typeof d.error === 'string') return { ok: false, reason: `iperf3: ${d.error}` };
  const bps = d.end?.sum_received?.bits_per_second;
  return typeof bps === 'number' && bps > 0 ? { ok: true, value: bps } : { ok: false, reason: 'no end.sum_received.bits_per_second' };
}

export interface PingStats {
  sent: number;
  received: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Per-reply `time=` values and the summary line of a ping run (not -q). */
export function parsePing(out: string): Parsed<PingStats> {
  const times = [...out.matchAll(/ time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  const sum = /(\d+) packets transmitted, (\d+) received/.exec(out);
  if (!sum) return { ok: false, reason: `no ping summary in: ${out.slice(-300)}` };
  if (times.length === 0) return { ok: false, reason: `no replies: ${sum[0]}` };
  return {
    ok: true,
    value: {
      sent: Number(sum[1]),
      received: Number(sum[2]),
      avgMs: times.reduce((a, b) => a + b, 0) / times.length,
      p50Ms: quantile(times, 0.5),
      p99Ms: quantile(times, 0.99),
    },
  };
}

/** The q-quantile of sorted values (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The median: the mean of the middle two for an even count. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Starts `iperf3 -s` in `server` and waits until it listens; stopped by the LAN's cleanup or by the caller. */
export async function startIperfServer(server: Host, end: IperfEnd): Promise<HostProcess> {
  const proc = server.spawn(...pinned(end, ['iperf3', '-s', '-p', String(end.port)]));
  await waitFor(
    async () => {
      if (!proc.running) throw new Error(`iperf3 -s exited: ${proc.output()}`);
      return (await server.exec('ss', ['-Hltn', `sport = :${end.port}`])).stdout.includes(`:${end.port}`);
    },
    { timeoutMs: 10_000, intervalMs: 50, what: `iperf3 to listen in ${server.name}` },
  );
  return proc;
}

/** TCP goodput in bits/s from `client` to the iperf3 server at `ip`. */
export async function iperf(client: Host, ip: string, end: IperfEnd, streams: number, seconds: number): Promise<number> {
  const cmd = ['iperf3', '-c', ip, '-p', String(end.port), '-t', String(seconds), '-P', String(streams), '-J'];
  const r = await client.exec(...pinned(end, cmd), { timeoutMs: (seconds + 20) * 1000 });
  const p = parseIperf(r.stdout);
  if (!p.ok) throw new Error(`iperf3 ${client.name} → ${ip} (exit ${r.code}): ${p.reason} ${r.stderr.trim()}`);
  return p.value;
}

/** Round trips of `count` pings every `intervalS` seconds. */
export async function ping(from: Host, ip: string, count: number, intervalS: number): Promise<PingStats> {
  const r = await from.exec('ping', ['-n', '-c', String(count), '-i', String(intervalS), '-W', '1', ip], { timeoutMs: count * intervalS * 1000 + 15_000 });
  const p = parsePing(r.stdout);
  if (!p.ok) throw new Error(`ping ${from.name} → ${ip}: ${p.reason}`);
  return p.value;
}
