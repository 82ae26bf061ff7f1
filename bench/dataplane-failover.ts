// Relay failover under a steady ping stream: h0's container pings h2's every 10 ms while UDP 6784
// between h0 and h2 is dropped (traffic must move to the relay h1) and then allowed again (traffic
// moves back to direct, ideally without a loss).
//
//   h0 ◄── h1 ◄── h2        `weft launch` chain; c0 on h0 pings c2 on h2 (`ping -D -O -i 0.01`)
//    └──── ✕ ────┘          blockUdpPort(h0, h2, 6784), later unblockUdpPort
import { writeFileSync } from 'node:fs';
import { blockUdpPort, unblockUdpPort, waitFor } from '../test/harness/netns.js';
import { weftTestbed, reachable } from './dataplane-hosts.js';
import type { Parsed } from './dataplane-traffic.js';

const INTERVAL_S = 0.01;

export interface PingReply {
  seq: number;
  /** Receipt time, ms since the epoch (ping -D). */
  atMs: number;
}

export interface PingTrace {
  replies: PingReply[];
  /** Highest sequence number ping reported on (reply or "no answer yet"). */
  lastSeq: number;
}

/** Replies and "no answer yet" reports of `ping -D -O`. */
export function parsePingTrace(out: string): Parsed<PingTrace> {
  const replies: PingReply[] = [];
  let lastSeq = -1;
  for (const m of out.matchAll(/^\[(\d+\.\d+)\] (?:\d+ bytes from .*?icmp_seq=(\d+) .*time=|no answer yet for icmp_seq=(\d+))/gm)) {
    const seq = Number(m[2] ?? m[3]);
    lastSeq = Math.max(lastSeq, seq);
    if (m[2] !== undefined) replies.push({ seq, atMs: Number(m[1]) * 1000 });
  }
  if (replies.length === 0) return { ok: false, reason: `no replies in: ${out.slice(0, 300)}` };
  return { ok: true, value: { replies, lastSeq } };
}

export interface Outage {
  /** Sequence numbers sent in the window that never got a reply. */
  lost: number;
  /** From the last reply before the first loss to the first reply after the last loss (0 if none lost). */
  gapMs: number;
}

/** Losses among the pings whose replies would arrive in [fromMs, toMs). */
export function outageIn(trace: PingTrace, fromMs: number, toMs: number): Outage {
  const got = new Map(trace.replies.map((r) => [r.seq, r.atMs]));
  const before = trace.replies.filter((r) => r.atMs < fromMs).at(-1);
  const after = trace.replies.filter((r) => r.atMs >= toMs)[0];
  const lo = before ? before.seq + 1 : 0;
  const hi = after ? after.seq - 1 : trace.lastSeq;
  const missing: number[] = [];
  for (let s = lo; s <= hi; s++) if (!got.has(s)) missing.push(s);
  if (missing.length === 0) return { lost: 0, gapMs: 0 };
  const prev = trace.replies.filter((r) => r.seq < missing[0]!).at(-1);
  const next = trace.replies.find((r) => r.seq > missing.at(-1)!);
  return { lost: missing.length, gapMs: prev && next ? next.atMs - prev.atMs : NaN };
}

function meanInterval(t: PingTrace): number {
  const a = t.replies[0]!;
  const b = t.replies.at(-1)!;
  return b.seq > a.seq ? (b.atMs - a.atMs) / (b.seq - a.seq) : NaN;
}

export interface FailoverBench {
  /** Block → replies flowing again through the relay. */
  block: Outage & { relayPathAfterMs: number };
  /** Unblock → back to direct. */
  heal: Outage & { directPathAfterMs: number };
  sent: number;
  received: number;
  /** The interval ping actually kept, from its first and last replies. */
  intervalMs: number;
}

export async function benchFailover(): Promise<FailoverBench> {
  const tb = await weftTestbed(3);
  const [h0, h1, h2] = tb.lan.hosts as [typeof tb.lan.hosts[0], typeof tb.lan.hosts[0], typeof tb.lan.hosts[0]];
  let blocked = false;
  try {
    const pathTo = async (from: number, to: number): Promise<string | undefined> =>
      (await tb.paths(from)).find((p) => p.nickname === tb.lan.hosts[to]!.name)?.path;
    await reachable(tb.containers[0]!, tb.ips[2]!);
    const stream = tb.containers[0]!.spawn('ping', ['-n', '-D', '-O', '-i', String(INTERVAL_S), '-W', '1', tb.ips[2]!]);
    const received = (): number => (stream.stdout().match(/ time=/g) ?? []).length;
    await waitFor(() => received() >= 100, { timeoutMs: 10_000, intervalMs: 20, what: 'the ping stream to run' });

    const blockedAt = Date.now();
    await blockUdpPort(h0, h2, 6784);
    blocked = true;
    const relay = `relay via ${h1.name}`;
    await waitFor(async () => (await pathTo(0, 2)) === relay && (await pathTo(2, 0)) === relay, {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: 'h0 and h2 to relay via h1',
    });
    const relayPathAfterMs = Date.now() - blockedAt;
    const base = received();
    await waitFor(() => received() >= base + 100, { timeoutMs: 10_000, intervalMs: 20, what: 'replies through the relay' });

    const healedAt = Date.now();
    await unblockUdpPort(h0, h2, 6784);
    blocked = false;
    await waitFor(async () => (await pathTo(0, 2)) === 'direct' && (await pathTo(2, 0)) === 'direct', {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: 'h0 and h2 to be direct again',
    });
    const directPathAfterMs = Date.now() - healedAt;
    const base2 = received();
    await waitFor(() => received() >= base2 + 100, { timeoutMs: 10_000, intervalMs: 20, what: 'replies on the direct path' });

    stream.kill('SIGINT');
    await stream.exited;
    const out = stream.stdout();
    if (process.env.WEFT_BENCH_TRACE) writeFileSync(process.env.WEFT_BENCH_TRACE, out);
    const trace = parsePingTrace(out);
    if (!trace.ok) throw new Error(`ping trace: ${trace.reason}`);
    const sum = /(\d+) packets transmitted, (\d+) received/.exec(out);
    return {
      block: { ...outageIn(trace.value, blockedAt, healedAt), relayPathAfterMs },
      heal: { ...outageIn(trace.value, healedAt, Infinity), directPathAfterMs },
      sent: Number(sum?.[1] ?? trace.value.lastSeq),
      received: Number(sum?.[2] ?? trace.value.replies.length),
      intervalMs: meanInterval(trace.value),
    };
  } finally {
    if (blocked) await unblockUdpPort(h0, h2, 6784).catch(() => undefined);
    await tb.cleanup();
  }
}
