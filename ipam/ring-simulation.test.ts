// Many peers changing and gossiping one ring over a bad network: messages lost, duplicated,
// delivered in random order, and cut by partitions that later heal. After every step no address
// may be believed owned by two peers (P believes it owns addr when P's own ring says so); after
// healing and full anti-entropy every ring is the same. Takeovers are left out: they rely on the
// allocator's majority rule, not on the ring.
//
//   peers p1..p20, seeded ring over 10.0.0.0/16 owned by p1..p6
//   step: a random peer gives / reports free / gossips (whole ring or a delta), then the
//         network delivers a few queued messages in random order (relaying what changed)
import { describe, expect, it } from 'vitest';
import type { PeerName } from '../mesh/peer-name.js';
import { seededRandom } from '../test/harness/memory-mesh.js';
import { decodeRing, encodeRing } from './ring-codec.js';
import { Ring } from './ring.js';
import type { Entry, Range } from './types.js';

const PEERS = 20;
const SEEDED = 6;
const STEPS = 3000;
const LOSS = 0.2;
const DUPLICATE = 0.1;
const RELAY = 0.3;
const RANGE: Range = { start: 0x0a000000, end: 0x0a010000 };

interface Message {
  from: number;
  to: number;
  bytes: Buffer;
}

interface Stats {
  gives: number;
  sent: number;
  lost: number;
  cut: number;
  relayed: number;
  partitions: number;
  sawBoundary: boolean;
}

class Simulation {
  readonly names: PeerName[] = Array.from({ length: PEERS }, (_, i) => 0x0200_0000_0000n + BigInt(i + 1));
  readonly rings: Ring[];
  readonly queue: Message[] = [];
  /** Group of each peer while partitioned; undefined when healed. */
  group: number[] | undefined;
  partitionLeft = 0;
  private readonly owned: Range[][];
  readonly stats: Stats = { gives: 0, sent: 0, lost: 0, cut: 0, relayed: 0, partitions: 0, sawBoundary: false };

  constructor(private readonly random: () => number) {
    const seed = Ring.seed(RANGE, this.names.slice(0, SEEDED));
    this.rings = this.names.map(() => Ring.fromState(seed.state()));
    this.owned = this.names.map((n, i) => this.rings[i]!.rangesOf(n));
  }

  private pick(n: number): number {
    return Math.floor(this.random() * n);
  }

  private send(from: number, to: number, entries?: readonly Entry[]): void {
    this.stats.sent++;
    if (this.random() < LOSS) {
      this.stats.lost++;
      return;
    }
    const bytes = encodeRing(this.rings[from]!.state(entries));
    this.queue.push({ from, to, bytes });
    if (this.random() < DUPLICATE) this.queue.push({ from, to, bytes });
  }

  private other(p: number): number {
    const q = this.pick(PEERS - 1);
    return q >= p ? q + 1 : q;
  }

  private give(p: number): void {
    const ranges = this.owned[p]!;
    if (ranges.length === 0) return;
    const r = ranges[this.pick(ranges.length)]!;
    const size = r.end - r.start;
    let start = r.start + this.pick(size);
    let end = start + 1 + this.pick(r.end - start);
    if (this.random() < 0.7) {
      // The allocator's way: the upper half of the first aligned block of the range.
      let block = 1;
      while (r.start % (block * 2) === 0 && r.start + block * 2 <= r.end) block *= 2;
      [start, end] = block === 1 ? [r.start, r.start + 1] : [r.start + block / 2, r.start + block];
    }
    const to = this.other(p);
    const delta = this.rings[p]!.give(this.names[p]!, { start, end }, this.names[to]!);
    this.stats.gives++;
    this.changed(p);
    this.send(p, to, delta);
    for (let i = 0; i < 2; i++) this.send(p, this.other(p), delta);
  }

  private reportFree(p: number): void {
    const mine = this.rings[p]!.entries().filter((e) => e.owner === this.names[p]);
    if (mine.length === 0) return;
    const free = new Map<number, number>();
    for (const e of mine) if (this.random() < 0.5) free.set(e.token, this.pick(1000));
    const delta = this.rings[p]!.reportFree(this.names[p]!, free);
    if (delta.length > 0) this.send(p, this.other(p), delta);
  }

  private gossip(p: number): void {
    const ring = this.rings[p]!;
    if (this.random() < 0.4) {
      this.send(p, this.other(p));
      return;
    }
    const es = ring.entries();
    const from = this.pick(es.length);
    this.send(p, this.other(p), es.slice(from, from + 1 + this.pick(8)));
  }

  private deliver(): void {
    const m = this.queue.splice(this.pick(this.queue.length), 1)[0]!;
    if (this.group && this.group[m.from] !== this.group[m.to]) {
      this.stats.cut++;
      return;
    }
    const d = decodeRing(m.bytes);
    if (!d.ok) throw new Error(d.reason);
    const res = this.rings[m.to]!.merge(d.value);
    if ('error' in res) throw new Error(res.error);
    if (res.changed.length === 0) return;
    this.changed(m.to);
    if (this.random() < RELAY) {
      this.stats.relayed++;
      this.send(m.to, this.other(m.to), res.changed);
    }
  }

  private changed(p: number): void {
    const ring = this.rings[p]!;
    this.owned[p] = ring.rangesOf(this.names[p]!);
    if (!this.stats.sawBoundary && !ring.isComplete()) this.stats.sawBoundary = true;
  }

  private weather(): void {
    if (this.group) {
      if (--this.partitionLeft <= 0) this.group = undefined;
    } else if (this.random() < 0.004) {
      const groups = 2 + this.pick(2);
      this.group = this.names.map(() => this.pick(groups));
      this.partitionLeft = 100 + this.pick(300);
      this.stats.partitions++;
    }
  }

  step(): void {
    this.weather();
    const p = this.pick(PEERS);
    const x = this.random();
    if (x < 0.3) this.give(p);
    else if (x < 0.45) this.reportFree(p);
    else this.gossip(p);
    for (let n = this.pick(5); n > 0 && this.queue.length > 0; n--) this.deliver();
    while (this.queue.length > 300) this.deliver();
  }

  /** Every address believed owned by at most one peer, from each peer's own ring. */
  overlap(): string | undefined {
    const all = this.owned.flatMap((rs, p) => rs.map((r) => ({ ...r, p })));
    all.sort((a, b) => a.start - b.start);
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1]!, all[i]!];
      if (b.start < a.end) return `p${a.p + 1} [${a.start}, ${a.end}) and p${b.p + 1} [${b.start}, ${b.end}) overlap`;
    }
    return undefined;
  }

  heal(): void {
    this.group = undefined;
    while (this.queue.length > 0) this.deliver();
    let changed = true;
    while (changed) {
      changed = false;
      for (let p = 0; p < PEERS; p++) {
        for (let q = 0; q < PEERS; q++) {
          const res = this.rings[q]!.merge(this.rings[p]!.state());
          if ('error' in res) throw new Error(res.error);
          if (res.changed.length > 0) changed = true;
        }
      }
    }
    this.names.forEach((_, p) => this.changed(p));
  }
}

describe('ring simulation', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`never has two owners of an address and converges after healing (seed ${seed})`, () => {
      const sim = new Simulation(seededRandom(seed));
      for (let i = 0; i < STEPS; i++) {
        sim.step();
        const bad = sim.overlap();
        if (bad) expect.fail(`step ${i}: ${bad}`);
      }
      expect(sim.stats.gives).toBeGreaterThan(STEPS / 5);
      expect(sim.stats.lost).toBeGreaterThan(0);
      expect(sim.stats.relayed).toBeGreaterThan(0);
      expect(sim.stats.sawBoundary).toBe(true);
      expect(sim.stats.partitions).toBeGreaterThan(0);
      expect(sim.stats.cut).toBeGreaterThan(0);

      sim.heal();
      const first = sim.rings[0]!.entries();
      for (const r of sim.rings) expect(r.entries()).toEqual(first);
      expect(sim.rings[0]!.isComplete()).toBe(true);
      expect(sim.overlap()).toBeUndefined();
      const owned = sim.names.reduce((n, name) => n + sim.rings[0]!.rangesOf(name).reduce((m, r) => m + r.end - r.start, 0), 0);
      expect(owned).toBe(RANGE.end - RANGE.start);
      expect(sim.rings[0]!.owners().length).toBeGreaterThan(SEEDED);
    });
  }
});
