import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { seededRandom } from '../test/harness/memory-mesh.js';
import { Consensus, type ConsensusTimings } from './consensus.js';
import { decodeConsensus, encodeConsensus, type Ballot, type ConsensusMessage } from './consensus-codec.js';

// ── the simulated network ───────────────────────────────────────────────────
// Every peer runs a Consensus on one ManualClock; each message is delivered after a random delay
// (so in random order), may be lost or duplicated, and is dropped if either end is down.

interface SimOptions {
  n: number;
  quorum?: number;
  seed: number;
  loss?: number;
  dup?: number;
  maxDelayMs?: number;
  down?: number[];
  /** Peer i's view of the topology (called once per peer; the getter on every look); all peers by default. */
  known?: (i: number, names: PeerName[]) => () => PeerName[];
  timings?: Partial<ConsensusTimings>;
  /** Return false to lose this message. */
  filter?: (from: PeerName, to: PeerName, m: ConsensusMessage) => boolean;
}

class Sim {
  readonly clock = new ManualClock();
  readonly random: () => number;
  readonly names: PeerName[];
  readonly nodes = new Map<PeerName, Consensus>();
  readonly decisions = new Map<PeerName, PeerName[][]>();
  readonly down = new Set<PeerName>();
  sent = 0;
  bytes = 0;
  readonly kinds: Record<string, number> = {};

  constructor(private readonly o: SimOptions) {
    this.random = seededRandom(o.seed);
    this.names = Array.from({ length: o.n }, (_, i) => 0x0200_0000_0000n + BigInt(i) * 7n + 3n);
    for (const i of o.down ?? []) this.down.add(this.names[i]!);
    const quorum = o.quorum ?? Math.floor(o.n / 2) + 1;
    this.names.forEach((self, i) => {
      const known = o.known ? o.known(i, this.names) : () => this.names;
      const node = new Consensus({
        self,
        quorum,
        clock: this.clock,
        random: seededRandom(o.seed * 7919 + i),
        log: silentLogger(),
        send: (to, msg) => this.send(self, to, msg),
        knownPeers: known,
        onDecided: (owners) => this.decisions.set(self, [...(this.decisions.get(self) ?? []), owners]),
        timings: o.timings,
      });
      this.nodes.set(self, node);
    });
  }

  node(i: number): Consensus {
    return this.nodes.get(this.names[i]!)!;
  }

  startAll(): void {
    for (const [name, node] of this.nodes) if (!this.down.has(name)) node.start();
  }

  private send(from: PeerName, to: PeerName, msg: Buffer): void {
    this.sent++;
    this.bytes += msg.length;
    const d = decodeConsensus(msg);
    if (!d.ok) throw new Error(`sent a malformed message: ${d.reason}`);
    this.kinds[d.value.kind] = (this.kinds[d.value.kind] ?? 0) + 1;
    if (this.o.filter && !this.o.filter(from, to, d.value)) return;
    if (this.random() < (this.o.loss ?? 0)) return;
    const copies = this.random() < (this.o.dup ?? 0) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      this.clock.setTimeout(() => {
        if (this.down.has(from) || this.down.has(to)) return;
        this.nodes.get(to)?.onMessage(from, msg);
      }, 1 + this.random() * (this.o.maxDelayMs ?? 20));
    }
  }

  /** Advances time in steps until pred holds or limitMs passed; returns the simulated time taken. */
  runUntil(pred: () => boolean, limitMs: number, stepMs = 10): number {
    const t0 = this.clock.now();
    while (!pred() && this.clock.now() - t0 < limitMs) this.clock.advance(stepMs);
    return this.clock.now() - t0;
  }

  alive(): PeerName[] {
    return this.names.filter((n) => !this.down.has(n));
  }

  allAliveDecided(): boolean {
    return this.alive().every((n) => this.decisions.has(n));
  }

  /** Every decision made, at most one per peer (throws otherwise), all equal (checked by caller). */
  decided(): PeerName[][] {
    for (const [, list] of this.decisions) expect(list).toHaveLength(1);
    return [...this.decisions.values()].map((l) => l[0]!);
  }
}

// ── codec ───────────────────────────────────────────────────────────────────

const nameArb = fc.bigInt({ min: 0n, max: (1n << 48n) - 1n });
const ballotArb: fc.Arbitrary<Ballot> = fc.record({ round: fc.integer({ min: 0, max: 0xffff_ffff }), proposer: nameArb });
const valueArb = fc.uniqueArray(nameArb, { minLength: 1, maxLength: 40 }).map((v) => v.sort((a, b) => (a < b ? -1 : 1)));
const messageArb: fc.Arbitrary<ConsensusMessage> = fc.oneof(
  fc.record({ kind: fc.constant('prepare' as const), ballot: ballotArb }),
  fc.record({ kind: fc.constant('promise' as const), ballot: ballotArb }),
  fc.record({ kind: fc.constant('promise' as const), ballot: ballotArb, accepted: fc.record({ ballot: ballotArb, value: valueArb }) }),
  fc.record({ kind: fc.constant('nack' as const), ballot: ballotArb, promised: ballotArb }),
  fc.record({ kind: fc.constant('accept' as const), ballot: ballotArb, value: valueArb }),
  fc.record({ kind: fc.constant('accepted' as const), ballot: ballotArb }),
  fc.record({ kind: fc.constant('decided' as const), value: valueArb }),
  fc.constant({ kind: 'query' as const }),
);

describe('consensus codec', () => {
  it('decode(encode(m)) = m for every message kind', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(decodeConsensus(encodeConsensus(m))).toEqual({ ok: true, value: m });
      }),
    );
  });

  it('rejects every truncation and any trailing byte of a valid message', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const b = encodeConsensus(m);
        for (let len = 0; len < b.length; len++) expect(decodeConsensus(b.subarray(0, len)).ok).toBe(false);
        expect(decodeConsensus(Buffer.concat([b, Buffer.from([0])]))).toEqual({ ok: false, reason: 'trailing bytes' });
      }),
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 8 }), (bytes, kind) => {
        const withHeader = Buffer.from([1, kind, ...bytes]);
        expect(() => decodeConsensus(Buffer.from(bytes))).not.toThrow();
        expect(() => decodeConsensus(withHeader)).not.toThrow();
      }),
    );
  });

  it('gives fixed reasons for bad versions, kinds and values', () => {
    const decided = encodeConsensus({ kind: 'decided', value: [1n, 2n] });
    expect(decodeConsensus(Buffer.from([2, 1]))).toEqual({ ok: false, reason: 'unsupported version' });
    expect(decodeConsensus(Buffer.from([1, 0]))).toEqual({ ok: false, reason: 'unknown kind' });
    expect(decodeConsensus(Buffer.from([1, 8]))).toEqual({ ok: false, reason: 'unknown kind' });
    const swapped = Buffer.from(decided);
    swapped[11] = 1;
    swapped[17] = 0; // value [1, 0]: not ascending
    expect(decodeConsensus(swapped)).toEqual({ ok: false, reason: 'unsorted value' });
    expect(decodeConsensus(Buffer.from([1, 6, 0, 0, 0, 0]))).toEqual({ ok: false, reason: 'empty value' });
    expect(decodeConsensus(Buffer.from([1, 6, 0xff, 0xff, 0xff, 0xff]))).toEqual({ ok: false, reason: 'truncated' });
  });
});

// ── protocol ────────────────────────────────────────────────────────────────

describe('consensus', () => {
  it('5 peers decide all 5 as owners: only the lowest proposes, each learns once', () => {
    const sim = new Sim({ n: 5, seed: 1 });
    sim.startAll();
    sim.node(0).start(); // idempotent
    const took = sim.runUntil(() => sim.allAliveDecided(), 10_000);
    expect(took).toBeLessThan(500);
    const values = sim.decided();
    expect(values).toHaveLength(5);
    for (const v of values) expect(v).toEqual(sim.names);
    // 4 × (prepare, promise, accept, accepted, decided), plus each other peer's first query
    // (to the lowest-named peer and one random peer) and the answers to the late ones.
    expect(sim.sent).toBeGreaterThanOrEqual(20);
    expect(sim.sent).toBeLessThanOrEqual(36);
    expect(sim.node(0).status()).toMatchObject({ state: 'decided', round: 1, promises: 3, accepts: 3, decided: sim.names });
    for (let i = 1; i < 5; i++) expect(sim.node(i).status()).toMatchObject({ state: 'decided', round: 0 });
    const sent = sim.sent;
    sim.clock.advance(60_000);
    expect(sim.decided()).toHaveLength(5);
    expect(sim.sent).toBe(sent);
  });

  it('a ring needed only by the highest-ranked peer comes at once: its query wakes the lowest', () => {
    const sim = new Sim({ n: 5, seed: 3 });
    sim.node(4).start();
    const took = sim.runUntil(() => sim.node(4).status().state === 'decided', 10_000);
    expect(took).toBeLessThan(500);
    expect(sim.node(4).status().decided).toEqual(sim.names);
  });

  it('a minority down (including the lowest peer) does not stop a decision', () => {
    const sim = new Sim({ n: 5, seed: 2, down: [0, 3] });
    sim.startAll();
    const took = sim.runUntil(() => sim.allAliveDecided(), 30_000);
    expect(sim.allAliveDecided()).toBe(true);
    // peer 1 (rank 1) takes over after about 1 s + jitter
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(3_000);
    for (const v of sim.decided()) expect(v).toEqual(sim.names);
    expect(sim.decisions.has(sim.names[0]!)).toBe(false);
  });

  it('fewer than quorum alive: nobody decides', () => {
    const sim = new Sim({ n: 5, seed: 3, down: [0, 2, 4] });
    sim.startAll();
    sim.clock.advance(120_000);
    expect(sim.decisions.size).toBe(0);
    expect(sim.node(1).status().state).toBe('proposing');
    expect(sim.node(1).status().round).toBeGreaterThan(1);
  });

  it('waits until it knows a quorum of peers, then proposes', () => {
    const views: PeerName[][] = [];
    const sim = new Sim({
      n: 5,
      seed: 4,
      known: (i, names) => {
        views[i] = [names[i]!, names[(i + 1) % names.length]!];
        return () => views[i]!;
      },
    });
    sim.startAll();
    sim.clock.advance(10_000);
    expect(Object.keys(sim.kinds)).toEqual(['query']);
    expect(sim.node(0).status().state).toBe('idle');
    for (const v of views) v.splice(0, v.length, ...sim.names);
    const took = sim.runUntil(() => sim.allAliveDecided(), 10_000);
    expect(took).toBeLessThanOrEqual(1_500);
    for (const v of sim.decided()) expect(v).toEqual(sim.names);
  });

  it('a peer that missed "decided" asks for it instead of waiting for its rank', () => {
    let lost = 0;
    const loseFirst = (to: PeerName, m: ConsensusMessage): boolean => {
      if (m.kind !== 'decided' || to !== sim.names[4] || lost > 0) return true;
      lost++;
      return false;
    };
    const sim = new Sim({
      n: 5,
      seed: 5,
      timings: { rankDelayMs: 60_000 },
      filter: (_from, to, m) => loseFirst(to, m),
    });
    sim.startAll();
    const took = sim.runUntil(() => sim.allAliveDecided(), 30_000);
    expect(lost).toBe(1);
    expect(sim.allAliveDecided()).toBe(true);
    expect(took).toBeGreaterThan(2_000);
    expect(took).toBeLessThan(5_000);
  });

  it('counts and drops malformed messages without answering', () => {
    const sim = new Sim({ n: 3, seed: 6 });
    const node = sim.node(1);
    node.onMessage(sim.names[0]!, Buffer.from([]));
    node.onMessage(sim.names[0]!, Buffer.from([9, 1]));
    node.onMessage(sim.names[0]!, Buffer.from([1, 1, 0, 0]));
    node.onMessage(sim.names[0]!, Buffer.from([1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]));
    node.onMessage(sim.names[0]!, Buffer.from([1, 99]));
    expect(node.dropped).toEqual({ truncated: 2, 'trailing bytes': 1, 'unsupported version': 1, 'unknown kind': 1 });
    expect(sim.sent).toBe(0);
    expect(node.status().state).toBe('idle');
  });

  it('a peer started late learns an earlier decision by asking', () => {
    const sim = new Sim({ n: 5, seed: 9, down: [4] });
    sim.startAll();
    sim.runUntil(() => sim.allAliveDecided(), 10_000);
    expect(sim.decisions.has(sim.names[4]!)).toBe(false);
    sim.down.delete(sim.names[4]!);
    sim.node(4).start();
    const took = sim.runUntil(() => sim.decisions.has(sim.names[4]!), 10_000);
    expect(took).toBeLessThanOrEqual(2_100);
    for (const v of sim.decided()) expect(v).toEqual(sim.names);
    expect(sim.kinds.prepare).toBe(4);
  });

  it('stop() ends proposing, timers and callbacks', () => {
    const sim = new Sim({ n: 3, seed: 7, down: [1, 2] });
    sim.node(0).start();
    sim.clock.advance(100);
    const sent = sim.sent;
    expect(sent).toBe(2);
    sim.node(0).stop();
    sim.node(0).stop();
    sim.clock.advance(60_000);
    expect(sim.sent).toBe(sent);
    expect(sim.node(0).status().state).toBe('idle');
    sim.node(0).onMessage(sim.names[1]!, encodeConsensus({ kind: 'decided', value: sim.names }));
    expect(sim.decisions.size).toBe(0);
  });

  it('safety: concurrent proposers with different views, loss, duplication and reordering agree', () => {
    let multiProposer = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const r = seededRandom(seed * 31);
      const n = 3 + Math.floor(r() * 6);
      const quorum = Math.floor(n / 2) + 1;
      // each peer knows itself and a random superset of a quorum of the others
      const known = (i: number, names: PeerName[]): (() => PeerName[]) => {
        const view = names.filter((_, j) => j === i || j < quorum || r() < 0.5);
        return () => view;
      };
      const sim = new Sim({
        n,
        seed,
        loss: 0.1 + r() * 0.3,
        dup: r() * 0.2,
        maxDelayMs: 200,
        known,
        timings: { rankDelayMs: 0, rankJitterMs: 300, resendMs: 300, retryMs: 700, retryJitterMs: 700 },
      });
      sim.startAll();
      sim.runUntil(() => sim.allAliveDecided(), 300_000, 50);
      const values = sim.decided();
      expect(values.length, `seed ${seed}`).toBe(n);
      for (const v of values) expect(v, `seed ${seed}`).toEqual(values[0]);
      if (sim.names.filter((_, i) => sim.node(i).status().round > 0).length > 1) multiProposer++;
    }
    expect(multiProposer).toBeGreaterThan(100);
  });

  it('scale: 1,000 peers started together all learn the decision within seconds', () => {
    const started = performance.now();
    const sim = new Sim({ n: 1_000, seed: 8, maxDelayMs: 50 });
    sim.startAll();
    const took = sim.runUntil(() => sim.decisions.size === 1_000, 60_000, 20);
    const real = performance.now() - started;
    console.log(
      `consensus scale: 1,000 peers decided in ${took} ms simulated (${real.toFixed(0)} ms real), ` +
        `${sim.sent} messages, ${(sim.bytes / 1e6).toFixed(1)} MB`,
    );
    expect(sim.decisions.size).toBe(1_000);
    expect(took).toBeLessThan(3_000);
    for (const v of sim.decided()) expect(v).toEqual(sim.names);
  }, 30_000);

  it('scale: 1,000 peers with 5% loss and 2% duplication still decide within seconds', () => {
    const sim = new Sim({ n: 1_000, seed: 10, maxDelayMs: 50, loss: 0.05, dup: 0.02 });
    sim.startAll();
    const took = sim.runUntil(() => sim.decisions.size === 1_000, 60_000, 20);
    console.log(`consensus scale with loss: 1,000 peers decided in ${took} ms simulated, ${sim.sent} messages`, sim.kinds);
    expect(sim.decisions.size).toBe(1_000);
    expect(took).toBeLessThan(5_000);
    for (const v of sim.decided()) expect(v).toEqual(sim.names);
  }, 30_000);
});
