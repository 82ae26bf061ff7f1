// The probe budget (docs/dataplane.md, "Probe budget"): one host's real Prober among up to 1,000
// real peer Probers in memory (test/harness/probe-mesh.ts), one ManualClock.
//
//   host 198.18.0.1 ──┬── peer 0   198.18.1.0
//                     ├── …
//                     └── peer 999 198.18.4.231
import { afterEach, describe, expect, it } from 'vitest';
import { HOST_ADDR, HOST_NAME, maxInWindow, probeMesh, ratePerSecond, type ProbeMesh } from '../test/harness/probe-mesh.js';
import { idlePeriodMs, phaseOf, pickRound, slotAfter, type Candidate } from './probe-schedule.js';

const BUDGET = 300;
const IDLE_RATE = 50;
const ROUND = 300;
const SETTINGS = { budget: BUDGET, idleRate: IDLE_RATE };
/** One round's worth: the most the bucket holds. */
const BURST = (BUDGET * ROUND) / 1000;

describe('the probe schedule', () => {
  it('gives idle peers a period of whole rounds, never below one round', () => {
    expect(idlePeriodMs(3, IDLE_RATE, ROUND)).toBe(ROUND);
    expect(idlePeriodMs(100, IDLE_RATE, ROUND)).toBe(2_100);
    expect(idlePeriodMs(1000, IDLE_RATE, ROUND)).toBe(20_100);
    expect(idlePeriodMs(1000, undefined, ROUND)).toBe(ROUND);
  });

  it('puts each peer\'s next idle slot within one period after any time, at a phase spread evenly over the period', () => {
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 1000; i++) {
      const name = 0x02_00_00_10_00_00n + BigInt(i);
      buckets[Math.floor(phaseOf(name) * 10)]!++;
      for (const t of [0, 1, 12_345, 20_000, 987_654]) {
        const s = slotAfter(name, t, 20_000);
        expect(s).toBeGreaterThan(t);
        expect(s).toBeLessThanOrEqual(t + 20_000);
        expect(slotAfter(name, s, 20_000)).toBe(s + 20_000);
      }
    }
    for (const b of buckets) expect(b).toBeGreaterThan(60);
    for (const b of buckets) expect(b).toBeLessThan(140);
  });

  it('serves the idle share first, then fast peers by rank and oldest probe, then idle peers still due', () => {
    const c = (n: number, o: Partial<Candidate>): Candidate => ({ name: BigInt(n), fast: false, rank: 3, cost: 1, ...o });
    const cands = [
      c(1, { nextIdleAt: 50 }), c(2, { nextIdleAt: 10 }), c(3, { nextIdleAt: 500 }),
      c(4, { fast: true, rank: 2, lastProbeAt: 0 }), c(5, { fast: true, rank: 0, lastProbeAt: 90 }), c(6, { fast: true, rank: 0, lastProbeAt: 80 }),
    ];
    expect(pickRound(cands, { now: 100, tokens: Infinity, idleShare: 1 }).map((x) => Number(x.name))).toEqual([2, 6, 5, 4, 1]);
    expect(pickRound(cands, { now: 100, tokens: 3, idleShare: 1 }).map((x) => Number(x.name))).toEqual([2, 6, 5]);
  });
});

describe('Prober under a probe budget', () => {
  let m: ProbeMesh;
  afterEach(() => m?.stop());
  const now = (): number => m.clock.now();
  /** Advances in rounds until done() or maxMs; returns the time it took (Infinity if never). */
  const until = (done: () => boolean, maxMs: number, step = 100): number => {
    const start = now();
    while (now() - start <= maxMs) {
      if (done()) return now() - start;
      m.clock.advance(step);
    }
    return Infinity;
  };

  it('at 1,000 peers: all come up, the budget is never exceeded, and idle peers cost the idle rate', () => {
    m = probeMesh({ peers: 1000, prober: SETTINGS });
    const start = now();
    m.clock.advance(30_000);
    expect(m.peers.filter((p) => m.host.status(p.name).state !== 'up').length).toBe(0);
    expect(maxInWindow(m.sentAt, start, now(), 1000)).toBeLessThanOrEqual(BUDGET + BURST);
    const t0 = now();
    m.clock.advance(60_000);
    expect(m.host.probing()).toEqual({ fast: 0, idle: 1000, idlePeriodMs: 20_100 });
    const rate = ratePerSecond(m.sentAt, t0, now());
    expect(rate).toBeGreaterThan(IDLE_RATE * 0.9);
    expect(rate).toBeLessThanOrEqual(IDLE_RATE * 1.05);
    expect(maxInWindow(m.sentAt, start, now(), 1000)).toBeLessThanOrEqual(BUDGET + BURST);
  });

  it('probes every idle peer within its idle period, spread evenly over the rounds', () => {
    m = probeMesh({ peers: 1000, prober: SETTINGS });
    m.clock.advance(30_000);
    const t0 = now();
    m.clock.advance(60_000);
    let worst = 0;
    for (const p of m.peers) {
      const times = m.probesTo.get(p.addr)!;
      const from = times.findLastIndex((t) => t < t0);
      for (let i = Math.max(from, 0); i + 1 < times.length; i++) worst = Math.max(worst, times[i + 1]! - times[i]!);
      expect(now() - times.at(-1)!).toBeLessThanOrEqual(20_100);
    }
    expect(worst).toBeLessThanOrEqual(20_100);
    // 1000 peers / 20.1 s = 15 a round on average; never a burst.
    expect(maxInWindow(m.sentAt, t0, now(), ROUND)).toBeLessThanOrEqual(30);
  });

  it('probes a peer that carries traffic every round, and one that starts at once', () => {
    m = probeMesh({ peers: 1000, prober: SETTINGS });
    m.clock.advance(30_000);
    const x = m.peer(7);
    const sent = (): number => m.probesTo.get(x.addr)!.length;
    const before = sent();
    m.host.setActive(new Set([x.name]));
    expect(sent()).toBe(before + 1);
    m.clock.advance(3_000);
    expect(sent()).toBe(before + 1 + 10);
    expect(m.host.probing()).toMatchObject({ fast: 1, idle: 999 });
    // Idle again: after its settle time it is back in its idle slot.
    m.host.setActive(new Set());
    m.clock.advance(3_000);
    const idleFrom = sent();
    m.clock.advance(20_000);
    expect(sent() - idleFrom).toBeLessThanOrEqual(2);
  });

  it('an active peer whose direct path breaks among 1,000 idle ones is down within 2 s, and up within a round of healing', () => {
    m = probeMesh({ peers: 1000, prober: SETTINGS });
    m.clock.advance(30_000);
    const x = m.peer(500);
    m.host.setActive(new Set([x.name]));
    m.clock.advance(1_234);
    m.net.block(HOST_ADDR, x.addr);
    const down = until(() => m.host.status(x.name).state === 'down', 5_000, 10);
    expect(down).toBeLessThan(2_000);
    m.net.unblock(HOST_ADDR, x.addr);
    expect(until(() => m.host.status(x.name).state === 'up', 5_000, 10)).toBeLessThanOrEqual(ROUND);
  });

  it('an idle peer whose path breaks is down within its idle period plus the failure time', () => {
    m = probeMesh({ peers: 1000, prober: SETTINGS });
    m.clock.advance(30_000);
    const x = m.peer(123);
    m.net.block(HOST_ADDR, x.addr);
    const down = until(() => m.host.status(x.name).state === 'down', 40_000);
    expect(down).toBeLessThanOrEqual(20_100 + 1_500 + ROUND);
    // Settled down and idle: probed in its slots again, and up at the first answer after healing.
    m.clock.advance(10_000);
    expect(m.host.probing().fast).toBe(0);
    m.net.unblock(HOST_ADDR, x.addr);
    expect(until(() => m.host.status(x.name).state === 'up', 40_000)).toBeLessThanOrEqual(20_100 + ROUND);
  });

  it('a starved schedule fails no peer: 1,000 peers at start, and 200 carrying traffic (more than the budget serves every round), all stay up', () => {
    m = probeMesh({ peers: 1000, prober: SETTINGS });
    let downs = 0;
    for (let t = 0; t < 30_000; t += ROUND) {
      m.clock.advance(ROUND);
      downs += m.peers.filter((p) => m.host.status(p.name).state === 'down').length;
    }
    expect(downs).toBe(0);
    m.host.setActive(new Set(m.peers.slice(0, 200).map((p) => p.name)));
    const t0 = now();
    for (let t = 0; t < 30_000; t += ROUND) {
      m.clock.advance(ROUND);
      downs += m.peers.filter((p) => m.host.status(p.name).state !== 'up').length;
    }
    expect(downs).toBe(0);
    expect(maxInWindow(m.sentAt, t0, now(), 1000)).toBeLessThanOrEqual(BUDGET + BURST);
    // Each active peer still gets its share: 250+ probes/s over 200 peers.
    const perActive = m.peers.slice(0, 200).map((p) => m.probesTo.get(p.addr)!.filter((t) => t >= t0).length);
    expect(Math.min(...perActive)).toBeGreaterThanOrEqual(30);
  });

  it('with few peers every peer is probed every round, as without a budget', () => {
    m = probeMesh({ peers: 3, prober: SETTINGS });
    m.clock.advance(30_000);
    for (const p of m.peers) expect(m.probesTo.get(p.addr)!.length).toBe(100);
  });

  it('the peers\' own probes are answered (acks are not part of the budget, they answer others\')', () => {
    m = probeMesh({ peers: 100, prober: SETTINGS, probeBack: true });
    m.clock.advance(30_000);
    const t0 = now();
    m.clock.advance(30_000);
    expect(m.peers.every((p) => p.prober.status(HOST_NAME).state === 'up')).toBe(true);
    const sent = ratePerSecond(m.sentAt, t0, now());
    const probes = ratePerSecond([...m.probesTo.values()].flat().sort((a, b) => a - b), t0, now());
    // Each peer has one peer, the host: it probes it every round (3.3/s), and the host answers all.
    expect(probes).toBeGreaterThan(IDLE_RATE * 0.9);
    expect(sent - probes).toBeGreaterThan(100 * 3);
  });
});
