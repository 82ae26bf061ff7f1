import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WeftError } from '../lib/errors.js';
import type { PeerName } from '../mesh/peer-name.js';
import { genesisOf, NO_OWNER, Ring } from './ring.js';
import { TAKEOVER_BUMP } from './types.js';
import type { Entry, Range } from './types.js';

const NET = 0x0a000000;
const R24: Range = { start: NET, end: NET + 256 };
const A = 0xa1n;
const B = 0xb2n;
const C = 0xc3n;
const PEERS = [A, B, C, 0xd4n, 0xe5n];

const clone = (r: Ring): Ring => Ring.fromState(r.state());

function mergeOk(into: Ring, from: Ring | ReturnType<Ring['state']>): Entry[] {
  const res = into.merge(from instanceof Ring ? from.state() : from);
  if ('error' in res) throw new Error(res.error);
  return res.changed;
}

/** Owner of every address of the range by a linear scan of the entries. */
function bruteOwners(r: Ring): (PeerName | undefined)[] {
  const out: (PeerName | undefined)[] = [];
  const es = r.entries();
  for (let a = r.range.start; a < r.range.end; a++) {
    let owner: PeerName | undefined;
    for (const e of es) if (e.token <= a) owner = e.version === 0 ? undefined : e.owner;
    out.push(owner);
  }
  return out;
}

// An operation on one of several replicas that start from one seeded ring; the numbers pick
// the replica, peer, range and counts, whatever the ring looks like at that point.
type Op = { kind: 'give' | 'free' | 'transfer' | 'merge' | 'delta'; r: number; x: number; y: number; z: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<Op['kind']>('give', 'give', 'free', 'merge', 'delta', 'transfer'),
  r: fc.nat(2),
  x: fc.nat(1000),
  y: fc.nat(1000),
  z: fc.nat(1000),
});

function apply(replicas: Ring[], op: Op): void {
  const ring = replicas[op.r]!;
  const owners = ring.owners();
  const self = owners[op.x % owners.length]!;
  switch (op.kind) {
    case 'give': {
      const ranges = ring.rangesOf(self);
      const owned = ranges[op.y % ranges.length]!;
      const size = owned.end - owned.start;
      const start = owned.start + (op.y % size);
      const end = start + 1 + (op.z % (owned.end - start));
      const to = PEERS[(op.z + 1) % PEERS.length]!;
      if (to !== self) ring.give(self, { start, end }, to);
      break;
    }
    case 'free': {
      const mine = ring.entries().filter((e) => e.owner === self);
      ring.reportFree(self, new Map(mine.slice(0, 1 + (op.y % mine.length)).map((e) => [e.token, op.z])));
      break;
    }
    case 'transfer':
      if (op.y % 4 === 0) ring.transfer(self, PEERS[op.z % PEERS.length]!);
      break;
    case 'merge':
      mergeOk(ring, replicas[op.y % replicas.length]!);
      break;
    case 'delta': {
      const other = replicas[op.y % replicas.length]!;
      const es = other.entries();
      const from = op.z % es.length;
      mergeOk(ring, other.state(es.slice(from, from + 1 + (op.x % 4))));
      break;
    }
  }
}

const replicasArb = fc.array(opArb, { maxLength: 40 }).map((ops) => {
  const seed = Ring.seed(R24, [A, B, C]);
  const replicas = [clone(seed), clone(seed), clone(seed)];
  for (const op of ops) apply(replicas, op);
  return replicas;
});

describe('Ring.seed', () => {
  it('splits the range among the sorted, deduplicated owners in aligned blocks', () => {
    const r = Ring.seed(R24, [C, A, B, A]);
    expect(r.entries()).toEqual([
      { token: NET, owner: A, version: 1, free: 64 },
      { token: NET + 64, owner: B, version: 1, free: 64 },
      { token: NET + 128, owner: C, version: 1, free: 128 },
    ]);
    expect(r.genesis).toBe(Ring.seed(R24, [A, B, C]).genesis);
    expect(r.genesis).toBe(genesisOf(R24, [B, C, A]));
    expect(r.genesis).not.toBe(Ring.seed(R24, [A, B]).genesis);
    expect(r.genesis).not.toBe(Ring.seed({ start: NET, end: NET + 512 }, [A, B, C]).genesis);
    expect(r.genesis).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives every owner one CIDR-aligned block, sizes within a factor of two', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), (n) => {
        const owners = Array.from({ length: n }, (_, i) => BigInt(i + 1));
        const range = { start: 0x0a200000, end: 0x0a300000 };
        const r = Ring.seed(range, owners);
        expect(r.owners()).toEqual(owners);
        const sizes = owners.map((o) => {
          const rs = r.rangesOf(o);
          expect(rs).toHaveLength(1);
          const size = rs[0]!.end - rs[0]!.start;
          expect(Math.log2(size) % 1).toBe(0);
          expect(rs[0]!.start % size).toBe(0);
          return size;
        });
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(range.end - range.start);
        expect(Math.max(...sizes)).toBeLessThanOrEqual(2 * Math.min(...sizes));
        for (const e of r.entries()) expect(e.free).toBe(r.rangesOf(e.owner)[0]!.end - e.token);
      }),
    );
  });

  it('leaves owners beyond the number of addresses without space', () => {
    const r = Ring.seed({ start: NET, end: NET + 4 }, [1n, 2n, 3n, 4n, 5n, 6n]);
    expect(r.entries().map((e) => e.free)).toEqual([1, 1, 1, 1]);
    expect(r.owners()).toHaveLength(4);
  });

  it('rejects no owners and the reserved owner 0', () => {
    expect(() => Ring.seed(R24, [])).toThrow(WeftError);
    expect(() => Ring.seed(R24, [NO_OWNER, A])).toThrow(WeftError);
    expect(() => new Ring({ start: 5, end: 5 }, 'g')).toThrow(WeftError);
  });
});

describe('merge laws', () => {
  it('is commutative', () => {
    fc.assert(
      fc.property(replicasArb, ([a, b]) => {
        const ab = clone(a!);
        mergeOk(ab, b!);
        const ba = clone(b!);
        mergeOk(ba, a!);
        expect(ab.entries()).toEqual(ba.entries());
      }),
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(replicasArb, ([a, b, c]) => {
        const left = clone(a!);
        mergeOk(left, b!);
        mergeOk(left, c!);
        const bc = clone(b!);
        mergeOk(bc, c!);
        const right = clone(a!);
        mergeOk(right, bc);
        expect(left.entries()).toEqual(right.entries());
      }),
    );
  });

  it('is idempotent, and merging a ring into itself changes nothing', () => {
    fc.assert(
      fc.property(replicasArb, ([a, b]) => {
        const before = a!.entries();
        expect(mergeOk(a!, a!)).toEqual([]);
        expect(a!.entries()).toEqual(before);
        const once = clone(a!);
        mergeOk(once, b!);
        const twice = clone(once);
        expect(mergeOk(twice, b!)).toEqual([]);
        expect(twice.entries()).toEqual(once.entries());
      }),
    );
  });

  it('reports exactly the entries that changed', () => {
    fc.assert(
      fc.property(replicasArb, ([a, b]) => {
        const before = new Map(a!.entries().map((e) => [e.token, e]));
        const changed = mergeOk(a!, b!);
        const after = a!.entries().filter((e) => before.get(e.token) !== e);
        expect(changed).toEqual(after);
      }),
    );
  });
});

describe('ownerOf and rangesOf', () => {
  it('agree with a brute force over a /24', () => {
    fc.assert(
      fc.property(replicasArb, (replicas) => {
        for (const r of replicas) {
          const brute = bruteOwners(r);
          brute.forEach((owner, i) => expect(r.ownerOf(NET + i)).toBe(owner));
          for (const p of [...PEERS, NO_OWNER]) {
            const addrs = new Set<number>();
            let prevEnd = -1;
            for (const rg of r.rangesOf(p)) {
              expect(rg.start).toBeGreaterThan(prevEnd);
              prevEnd = rg.end;
              for (let a = rg.start; a < rg.end; a++) addrs.add(a);
            }
            const expected = brute.flatMap((o, i) => (o === p ? [NET + i] : []));
            expect([...addrs]).toEqual(expected);
          }
          expect(r.owners()).toEqual([...new Set(brute.filter((o) => o !== undefined))].sort((x, y) => (x < y ? -1 : 1)));
        }
      }),
    );
  });

  it('is undefined outside the range', () => {
    const r = Ring.seed(R24, [A]);
    expect(r.ownerOf(NET - 1)).toBeUndefined();
    expect(r.ownerOf(NET + 256)).toBeUndefined();
    expect(r.ownerOf(NET + 255)).toBe(A);
  });
});

describe('give', () => {
  it('inserts a token for the receiver and one for the donor after it', () => {
    const r = Ring.seed(R24, [A, B]);
    const delta = r.give(A, { start: NET + 32, end: NET + 48 }, C);
    expect(delta).toEqual([
      { token: NET + 32, owner: C, version: 1, free: 16 },
      { token: NET + 48, owner: A, version: 1, free: 80 },
    ]);
    expect(r.rangesOf(A)).toEqual([
      { start: NET, end: NET + 32 },
      { start: NET + 48, end: NET + 128 },
    ]);
    expect(r.rangesOf(C)).toEqual([{ start: NET + 32, end: NET + 48 }]);
  });

  it('updates an existing token with a version above the one there, and no end token at a boundary', () => {
    const r = Ring.seed(R24, [A, B]);
    r.reportFree(B, new Map([[NET + 128, 7]]));
    const delta = r.give(B, { start: NET + 128, end: NET + 256 }, C);
    expect(delta).toEqual([{ token: NET + 128, owner: C, version: 3, free: 128 }]);
    const back = r.give(C, { start: NET + 128, end: NET + 256 }, B);
    expect(back).toEqual([{ token: NET + 128, owner: B, version: 4, free: 128 }]);
    const upper = r.give(A, { start: NET + 64, end: NET + 128 }, C);
    expect(upper).toEqual([{ token: NET + 64, owner: C, version: 1, free: 64 }]);
  });

  it('gives a range spanning several of its own entries, all of them', () => {
    const r = Ring.seed(R24, [A, B]);
    r.give(A, { start: NET + 64, end: NET + 128 }, B);
    r.give(B, { start: NET + 64, end: NET + 128 }, A);
    expect(r.rangesOf(A)).toEqual([{ start: NET, end: NET + 128 }]);
    const delta = r.give(A, { start: NET + 32, end: NET + 96 }, C);
    expect(delta.map((e) => [e.token - NET, e.owner])).toEqual([
      [32, C],
      [64, C],
      [96, A],
    ]);
    expect(r.rangesOf(C)).toEqual([{ start: NET + 32, end: NET + 96 }]);
  });

  it('refuses what the donor does not own entirely, and changes nothing then', () => {
    const r = Ring.seed(R24, [A, B]);
    const before = r.entries();
    for (const [start, end] of [
      [120, 130],
      [128, 129],
      [0, 257],
      [-1, 3],
      [10, 10],
    ] as const) {
      const err = (() => {
        try {
          r.give(A, { start: NET + start, end: NET + end }, C);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(WeftError);
      expect((err as WeftError).code).toBe('usage');
    }
    expect(() => r.give(A, { start: NET, end: NET + 1 }, A)).toThrow(WeftError);
    expect(r.entries()).toBe(before);
  });

  it('never takes a version at or below one already seen at the token', () => {
    fc.assert(
      fc.property(replicasArb, ([a, b]) => {
        mergeOk(a!, b!);
        const seen = new Map(a!.entries().map((e) => [e.token, e.version]));
        const self = a!.owners()[0]!;
        const owned = a!.rangesOf(self)[0]!;
        const delta = a!.give(self, owned, self === C ? A : C);
        for (const e of delta) expect(e.version).toBeGreaterThan(seen.get(e.token) ?? 0);
      }),
    );
  });
});

describe('reportFree', () => {
  it('bumps the version of own entries whose count changed, and only those', () => {
    const r = Ring.seed(R24, [A, B]);
    const delta = r.reportFree(
      A,
      new Map([
        [NET, 10],
        [NET + 128, 5],
        [NET + 3, 1],
      ]),
    );
    expect(delta).toEqual([{ token: NET, owner: A, version: 2, free: 10 }]);
    expect(r.reportFree(A, new Map([[NET, 10]]))).toEqual([]);
    expect(r.entries()[1]).toEqual({ token: NET + 128, owner: B, version: 1, free: 128 });
    expect(() => r.reportFree(A, new Map([[NET, -1]]))).toThrow(WeftError);
  });
});

describe('transfer', () => {
  it('moves every entry of a peer, winning over its concurrent changes', () => {
    const seed = Ring.seed(R24, [A, B, C]);
    const taker = clone(seed);
    const gone = clone(seed);
    const moved = taker.transfer(A, B);
    expect(moved).toEqual([{ token: NET, owner: B, version: 1 + TAKEOVER_BUMP, free: 64 }]);
    gone.reportFree(A, new Map([[NET, 3]]));
    mergeOk(gone, taker);
    expect(gone.rangesOf(A)).toEqual([]);
    expect(gone.entries()).toEqual(taker.entries());
    expect(taker.transfer(A, B)).toEqual([]);
    expect(taker.transfer(B, B)).toEqual([]);
  });
});

describe('merge input', () => {
  it('refuses a different range or genesis and merges nothing', () => {
    const r = Ring.seed(R24, [A, B]);
    const other = Ring.seed(R24, [A, C]);
    expect(r.merge(other.state())).toMatchObject({ error: expect.stringContaining('genesis') });
    expect(r.merge({ ...r.state(), end: NET + 512 })).toMatchObject({ error: expect.stringContaining('range') });
    expect(r.entries()).toEqual(Ring.seed(R24, [A, B]).entries());
  });

  it('ignores invalid entries', () => {
    const r = Ring.seed(R24, [A, B]);
    const bad: Entry[] = [
      { token: NET - 1, owner: C, version: 9, free: 0 },
      { token: NET + 256, owner: C, version: 9, free: 0 },
      { token: NET + 1.5, owner: C, version: 9, free: 0 },
      { token: NET + 2, owner: NO_OWNER, version: 9, free: 0 },
      { token: NET + 3, owner: C, version: 0, free: 0 },
      { token: NET + 4, owner: C, version: -1, free: 0 },
      { token: NET + 5, owner: C, version: 2 ** 32, free: 0 },
      { token: NET + 6, owner: 1n << 48n, version: 2, free: 0 },
      { token: NET + 7, owner: C, version: 2, free: NaN },
    ];
    expect(mergeOk(r, { ...r.state(), entries: bad })).toEqual([]);
    expect(r.size).toBe(2);
  });

  it('keeps a ring without its start token empty', () => {
    const seed = Ring.seed(R24, [A, B]);
    const empty = new Ring(R24, seed.genesis);
    expect(mergeOk(empty, seed.state([seed.entries()[1]!]))).toEqual([]);
    expect(empty.size).toBe(0);
    expect(empty.ownerOf(NET)).toBeUndefined();
    expect(mergeOk(empty, seed).length).toBe(2);
    expect(empty.isComplete()).toBe(true);
    expect(Ring.fromState({ ...seed.state(), entries: seed.state().entries.slice(1) }).size).toBe(0);
  });

  it('takes the greater of two entries for one token in a single state', () => {
    const r = Ring.seed(R24, [A]);
    const changed = mergeOk(r, {
      ...r.state(),
      entries: [
        { token: NET + 9, owner: B, version: 2, free: 1 },
        { token: NET + 9, owner: C, version: 2, free: 0 },
        { token: NET + 9, owner: B, version: 1, free: 5 },
      ],
    });
    expect(changed).toEqual([{ token: NET + 9, owner: C, version: 2, free: 0 }]);
  });

  it('inserts many new tokens at once in order', () => {
    const big = { start: 0, end: 1 << 20 };
    const r = Ring.seed(big, [A]);
    const source = clone(r);
    const tokens = Array.from({ length: 500 }, (_, i) => ((i * 7919) % 4096) * 256 + 1);
    for (const t of tokens) mergeOk(source, { ...source.state(), entries: [{ token: t, owner: B, version: 1, free: 0 }] });
    const delta = source.entries().filter((e) => e.token !== 0);
    expect(mergeOk(r, { ...r.state(), entries: [...delta].reverse() })).toHaveLength(500);
    expect(r.entries()).toEqual(source.entries());
  });
});

describe('deltas carry the boundary that ends each entry', () => {
  it('adds a boundary entry at the successor token', () => {
    const r = Ring.seed(R24, [A, B]);
    const delta = r.give(A, { start: NET + 64, end: NET + 128 }, C);
    expect(r.state(delta).entries).toEqual([
      { token: NET + 64, owner: C, version: 1, free: 64 },
      { token: NET + 128, owner: NO_OWNER, version: 0, free: 0 },
    ]);
    expect(r.state([r.entries()[2]!]).entries).toHaveLength(1);
  });

  it('keeps a relayed entry from stretching its owner over a range given away since', () => {
    // A gives [32,64) to B, then [64,128) to C; a relay passes on only the entry at 32.
    const seed = Ring.seed(R24, [A, B]);
    const a = clone(seed);
    const relay = clone(seed);
    const b = clone(seed);
    const first = a.give(A, { start: NET + 32, end: NET + 64 }, B);
    const firstState = a.state(first);
    a.give(A, { start: NET + 64, end: NET + 128 }, C);
    mergeOk(relay, a);
    mergeOk(b, relay.state([relay.entries()[1]!]));
    expect(b.rangesOf(B)).toEqual([
      { start: NET + 32, end: NET + 64 },
      { start: NET + 128, end: NET + 256 },
    ]);
    expect(b.ownerOf(NET + 64)).toBeUndefined();
    mergeOk(b, firstState);
    mergeOk(b, relay);
    expect(b.entries()).toEqual(a.entries());
    expect(b.isComplete()).toBe(true);
  });
});
