import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ConnectionSummary, PeerSummary } from './peer.js';
import { Peers } from './peers.js';
import type { PeerName } from './peer-name.js';

const SELF = 0x50n;

function conn(name: PeerName, established = true): ConnectionSummary {
  return { name, remoteTcpAddr: `10.0.0.${Number(name % 250n)}:6783`, outbound: true, established };
}

function peer(
  name: PeerName,
  opts: { uid?: bigint; version?: bigint; shortId?: number; conns?: ConnectionSummary[]; nickname?: string } = {},
): PeerSummary {
  return {
    name,
    nickname: opts.nickname ?? `p${name}`,
    uid: opts.uid ?? 1000n + name,
    version: opts.version ?? 1n,
    shortId: 'shortId' in opts ? opts.shortId : Number(name),
    connections: opts.conns ?? [],
  };
}

/** A deterministic [0,1) sequence. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function table(p: Peers): PeerSummary[] {
  return [...p.all()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The names reachable from `roots` over the connections the table lists (roots included). */
function reachable(p: Peers, roots: PeerName[]): Set<PeerName> {
  const reach = new Set<PeerName>(roots);
  const stack = [...roots];
  while (stack.length > 0) {
    for (const c of p.get(stack.pop()!)!.connections) {
      if (!reach.has(c.name)) {
        reach.add(c.name);
        stack.push(c.name);
      }
    }
  }
  return reach;
}

function newPeers(shortId = 4000): Peers {
  return new Peers({ name: SELF, nickname: 'self', uid: 77n, shortId }, seeded(1));
}

describe('Peers: construction', () => {
  it('holds ourselves at version 0 with the given or a random short ID', () => {
    const p = newPeers(123);
    expect(p.self).toMatchObject({ name: SELF, uid: 77n, version: 0n, shortId: 123, connections: [] });
    expect(p.size).toBe(1);
    expect(p.byShortId(123)?.name).toBe(SELF);

    const q = new Peers({ name: SELF, nickname: 's', uid: 1n }, () => 0.5);
    expect(q.self.shortId).toBe(2048);
  });

  it('refuses an invalid own name or uid', () => {
    expect(() => new Peers({ name: 1n << 48n, nickname: '', uid: 1n }, Math.random)).toThrow();
    expect(() => new Peers({ name: 1n, nickname: '', uid: 0n }, Math.random)).toThrow();
  });
});

describe('Peers: merge rules', () => {
  const base = { version: 5n, uid: 10n, shortId: 7 as number | undefined };
  const cases: [string, typeof base, typeof base, boolean][] = [
    ['higher version', base, { ...base, version: 6n, uid: 1n }, true],
    ['lower version', base, { ...base, version: 4n, uid: 99n }, false],
    ['same version, higher uid', base, { ...base, uid: 11n }, true],
    ['same version, lower uid', base, { ...base, uid: 9n }, false],
    ['same version+uid, only incoming has a short ID', { ...base, shortId: undefined }, base, true],
    ['same version+uid, both have short IDs', base, { ...base, shortId: 8 }, false],
    ['same version+uid, only known has a short ID', base, { ...base, shortId: undefined }, false],
    ['identical', base, base, false],
  ];
  it.each(cases)('%s', (_label, known, incoming, replaced) => {
    const p = newPeers();
    p.applyUpdate([peer(1n, { ...known, nickname: 'old', conns: [conn(2n)] })]);
    const r = p.applyUpdate([peer(1n, { ...incoming, nickname: 'new', conns: [conn(3n)] })]);
    expect(r.received).toEqual(new Set([1n]));
    expect(r.improved).toEqual(replaced ? new Set([1n]) : new Set());
    const got = p.get(1n)!;
    expect(got.nickname).toBe(replaced ? 'new' : 'old');
    expect(got.connections.map((c) => c.name)).toEqual(replaced ? [3n] : [2n]);
    expect(got.shortId).toBe(replaced ? incoming.shortId : known.shortId);
    expect(p.byShortId(7)?.name).toBe(got.shortId === 7 ? 1n : undefined);
  });

  it('adds unknown peers and makes placeholders for names only seen in connections', () => {
    const p = newPeers();
    const r = p.applyUpdate([peer(1n, { conns: [conn(2n), conn(SELF)] })]);
    expect(r.improved).toEqual(new Set([1n]));
    expect(p.get(2n)).toEqual({ name: 2n, nickname: '', uid: 0n, version: 0n, shortId: undefined, connections: [] });
    expect(p.size).toBe(3);
    expect(p.encodeFor().map((s) => s.name).sort()).toEqual([1n, SELF]);
  });

  it('lets any real summary improve a placeholder, even at version 0', () => {
    const p = newPeers();
    p.applyUpdate([peer(1n, { conns: [conn(2n)] })]);
    const r = p.applyUpdate([peer(2n, { version: 0n, uid: 5n, shortId: undefined })]);
    expect(r.improved).toEqual(new Set([2n]));
    expect(p.get(2n)?.uid).toBe(5n);
  });

  it('a gossiped placeholder never replaces what we know', () => {
    const p = newPeers();
    p.applyUpdate([peer(1n, { version: 0n })]);
    const r = p.applyUpdate([peer(1n, { version: 0n, uid: 0n, shortId: undefined })]);
    expect(r.improved.size).toBe(0);
    expect(p.get(1n)?.uid).toBe(1001n);
  });

  it('dedupes connection lists (later entry wins) and drops invalid names', () => {
    const p = newPeers();
    const r = p.applyUpdate([peer(1n, { conns: [conn(2n, false), conn(1n << 50n), conn(2n, true)] })]);
    expect(r.rejected).toBe(1);
    expect(p.get(1n)?.connections).toEqual([conn(2n, true)]);
  });

  it('rejects and counts invalid summaries without touching the table', () => {
    const p = newPeers();
    const before = table(p);
    const r = p.applyUpdate([
      peer(1n << 48n),
      peer(-1n),
      peer(1n, { shortId: 4096 }),
      peer(2n, { version: -1n }),
      peer(3n, { uid: 1n << 64n }),
    ]);
    expect(r.rejected).toBe(5);
    expect(r.received.size).toBe(0);
    expect(table(p)).toEqual(before);
  });

  it('does not alias caller objects', () => {
    const p = newPeers();
    const conns = [conn(2n)];
    p.applyUpdate([peer(1n, { conns })]);
    (conns as ConnectionSummary[]).push(conn(3n));
    expect(p.get(1n)?.connections).toHaveLength(1);
  });
});

describe('Peers: ourselves', () => {
  it('never takes our own entry from an update', () => {
    const p = newPeers();
    const r = p.applyUpdate([peer(SELF, { uid: 77n, version: 50n, conns: [conn(1n)], shortId: 1 })]);
    expect(r.received).toEqual(new Set([SELF]));
    expect(r.improved.size).toBe(0);
    expect(r.selfChanged).toBe(false);
    expect(p.self).toMatchObject({ version: 0n, connections: [], shortId: 4000 });
    expect(p.get(1n)).toBeUndefined();
  });

  it('outbids an old incarnation of us: version becomes theirs + 1', () => {
    const p = newPeers();
    p.setLocalConnections([conn(1n)]);
    const r = p.applyUpdate([peer(SELF, { uid: 5n, version: 7n, conns: [conn(9n)] })]);
    expect(r).toMatchObject({ oldIncarnation: true, selfChanged: true });
    expect(r.improved.size).toBe(0);
    expect(p.self).toMatchObject({ uid: 77n, version: 8n });
    expect(p.self.connections.map((c) => c.name)).toEqual([1n]);
    expect(p.get(9n)).toBeUndefined();

    const again = p.applyUpdate([peer(SELF, { uid: 5n, version: 3n })]);
    expect(again).toMatchObject({ oldIncarnation: true, selfChanged: false });
    expect(p.self.version).toBe(8n);
  });

  it('bumps our version once per change of our connection list', () => {
    const p = newPeers();
    expect(p.setLocalConnections([conn(1n, false)])).toBe(true);
    expect(p.self.version).toBe(1n);
    expect(p.get(1n)?.uid).toBe(0n);
    expect(p.setLocalConnections([conn(1n, false)])).toBe(false);
    expect(p.setLocalConnections([conn(1n, true)])).toBe(true);
    expect(p.setLocalConnections([conn(2n), conn(1n, true)])).toBe(true);
    expect(p.setLocalConnections([conn(1n, true), conn(2n)])).toBe(false);
    expect(p.setLocalConnections([conn(2n)])).toBe(true);
    expect(p.self.version).toBe(4n);
    expect(p.setLocalConnections([conn(SELF), conn(2n)])).toBe(false);
  });

  it('learns handshake peers at version 0 without overriding better knowledge', () => {
    const p = newPeers();
    p.setLocalConnections([conn(1n, false)]);
    const r = p.learn({ name: 1n, nickname: 'one', uid: 11n, shortId: 3 });
    expect(r.improved).toEqual(new Set([1n]));
    expect(p.get(1n)).toMatchObject({ nickname: 'one', uid: 11n, version: 0n, shortId: 3 });

    p.applyUpdate([peer(1n, { uid: 11n, version: 4n, conns: [conn(SELF)] })]);
    expect(p.learn({ name: 1n, nickname: 'one', uid: 11n, shortId: 3 }).improved.size).toBe(0);
    expect(p.get(1n)?.version).toBe(4n);

    expect(p.learn({ name: SELF, nickname: 'x', uid: 1n, shortId: 0 }).oldIncarnation).toBe(false);
    expect(p.self.version).toBe(1n);
  });
});

describe('Peers: garbage collection', () => {
  it('removes peers unreachable over any connections and returns them', () => {
    // self -(pending)-> 1 -(one-sided)-> 2        5 -> 6 (nobody reachable lists 5)
    const p = newPeers();
    p.setLocalConnections([conn(1n, false)]);
    p.applyUpdate([peer(1n, { conns: [conn(2n, false)] }), peer(5n, { conns: [conn(6n)] })]);
    p.applyUpdate([peer(2n, { conns: [] })]);
    expect(p.size).toBe(5);

    const removed = p.garbageCollect();
    expect(removed.map((s) => s.name).sort()).toEqual([5n, 6n]);
    expect(table(p).map((s) => s.name)).toEqual([1n, 2n, SELF]);
    expect(p.byShortId(5)).toBeUndefined();
    expect(p.garbageCollect()).toEqual([]);
  });

  it('keeps peers the caller pins, and collects them once unpinned', () => {
    const p = newPeers();
    p.learn({ name: 9n, nickname: 'nine', uid: 3n, shortId: undefined });
    expect(p.garbageCollect([9n])).toEqual([]);
    expect(p.garbageCollect().map((s) => s.name)).toEqual([9n]);
  });

  it('drops everything behind a deleted local connection', () => {
    const p = newPeers();
    p.setLocalConnections([conn(1n)]);
    p.applyUpdate([peer(1n, { conns: [conn(SELF), conn(2n)] }), peer(2n, { conns: [conn(1n)] })]);
    expect(p.garbageCollect()).toEqual([]);
    p.setLocalConnections([]);
    expect(p.garbageCollect().map((s) => s.name).sort()).toEqual([1n, 2n]);
    expect(p.size).toBe(1);
  });
});

describe('Peers: short IDs', () => {
  it('the lowest name keeps a contested short ID; if that is not us we move and bump', () => {
    const p = newPeers(100);
    p.setLocalConnections([conn(1n)]);
    const r = p.applyUpdate([peer(1n, { shortId: 100 })]);
    expect(r).toMatchObject({ shortIdChanged: true, selfChanged: true });
    expect(p.self.version).toBe(2n);
    expect(p.self.shortId).not.toBe(100);
    expect(p.byShortId(100)?.name).toBe(1n);
    expect(p.byShortId(p.self.shortId!)?.name).toBe(SELF);
    expect(p.encodeFor([SELF])[0]?.shortId).toBe(p.self.shortId);
  });

  it('keeps our short ID against a higher name', () => {
    const p = newPeers(100);
    const r = p.applyUpdate([peer(SELF + 1n, { shortId: 100 })]);
    expect(r).toMatchObject({ shortIdChanged: false, selfChanged: false });
    expect(p.self).toMatchObject({ shortId: 100, version: 0n });
    expect(p.byShortId(100)?.name).toBe(SELF);
  });

  it('resolves collisions between other peers by lowest name, and hands over on change', () => {
    const p = newPeers();
    p.applyUpdate([peer(3n, { shortId: 9 }), peer(2n, { shortId: 9 })]);
    expect(p.byShortId(9)?.name).toBe(2n);
    p.applyUpdate([peer(2n, { version: 2n, shortId: 10 })]);
    expect(p.byShortId(9)?.name).toBe(3n);
    expect(p.byShortId(10)?.name).toBe(2n);
  });

  it('when every short ID is taken, keeps the contested one until GC frees one', () => {
    const p = newPeers(0);
    // Peer 1 (a lower name than ours, connected to us) contests our ID 0; unreachable peers
    // with higher names claim every other ID, so there is nowhere to move until GC.
    p.setLocalConnections([conn(1n)]);
    const others: PeerSummary[] = [peer(1n, { shortId: 0 })];
    for (let id = 1; id < 4096; id++) others.push(peer(0x1000n + BigInt(id), { shortId: id }));
    const r = p.applyUpdate(others);
    expect(r.shortIdChanged).toBe(false);
    expect(p.self.shortId).toBe(0);
    expect(p.byShortId(0)?.name).toBe(1n);

    const version = p.self.version;
    const removed = p.garbageCollect();
    expect(removed).toHaveLength(4095);
    expect(p.self.version).toBe(version + 1n);
    expect(p.self.shortId).not.toBe(0);
    expect(p.byShortId(p.self.shortId!)?.name).toBe(SELF);
  });
});

describe('Peers: encodeFor', () => {
  it('returns the named known peers once each, never placeholders', () => {
    const p = newPeers();
    p.applyUpdate([peer(1n, { conns: [conn(2n)] })]);
    expect(p.encodeFor([1n, 2n, 1n, 99n]).map((s) => s.name)).toEqual([1n]);
    expect(p.encodeFor([]).length).toBe(0);
    expect(p.encodeFor().map((s) => s.name).sort()).toEqual([1n, SELF]);
  });
});

// ---- properties -----------------------------------------------------------------------------

const OTHERS = [1n, 2n, 3n, 4n, 5n];
const EXTRA = [6n, 7n]; // only ever referenced in connection lists

/** A peer's own state at (uid, version): everything else follows from those, as in reality. */
function stateOf(name: PeerName, uid: bigint, version: bigint, withShortId: boolean): PeerSummary {
  const h = Number((name * 31n + uid * 7n + version * 13n) % 1000n);
  const candidates = [...OTHERS, ...EXTRA, SELF].filter((n) => n !== name);
  const conns = candidates
    .filter((_, i) => ((h >> i) & 1) === 1)
    .map((n, i) => ({ ...conn(n, (h + i) % 3 !== 0), outbound: i % 2 === 0 }));
  return {
    name,
    nickname: `p${name}-${uid}`,
    uid,
    version,
    // Per incarnation, and small, so other peers collide with each other (never with us: 4000).
    shortId: withShortId ? Number((name + uid) % 4n) : undefined,
    connections: conns,
  };
}

const summaryArb = fc
  .record({
    name: fc.constantFrom(...OTHERS, SELF),
    uid: fc.bigInt({ min: 1n, max: 3n }),
    version: fc.bigInt({ min: 0n, max: 6n }),
    withShortId: fc.boolean(),
  })
  // uid 77 is ours: summaries of our name are always other incarnations here.
  .map(({ name, uid, version, withShortId }) => stateOf(name, uid, version, withShortId));

function snapshot(p: Peers, withPlaceholders = true): unknown {
  const byShortId = [0, 1, 2, 3, 4000].map((id) => p.byShortId(id)?.name);
  const rows = table(p).filter((s) => withPlaceholders || s.uid !== 0n).map((s) => ({
    ...s,
    connections: [...s.connections].sort((a, b) => (a.name < b.name ? -1 : 1)),
  }));
  return { rows, byShortId };
}

function chunk<T>(items: T[], sizes: number[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  for (const n of sizes) {
    if (i >= items.length) break;
    out.push(items.slice(i, i + n));
    i += n;
  }
  if (i < items.length) out.push(items.slice(i));
  return out;
}

describe('Peers: properties', () => {
  it('converges to the same table whatever the order and batching of updates', () => {
    fc.assert(
      fc.property(
        fc.array(summaryArb, { minLength: 1, maxLength: 25 }),
        fc.array(fc.nat(), { minLength: 25, maxLength: 25 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 25 }),
        (summaries, keys, sizes) => {
          const a = newPeers();
          a.setLocalConnections(OTHERS.map((n) => conn(n)));
          a.applyUpdate(summaries);
          const shuffled = summaries
            .map((s, i) => ({ s, k: keys[i]! }))
            .sort((x, y) => x.k - y.k)
            .map((x) => x.s);
          const b = newPeers();
          b.setLocalConnections(OTHERS.map((n) => conn(n)));
          for (const u of chunk(shuffled, sizes)) b.applyUpdate(u);
          expect(snapshot(b, false)).toEqual(snapshot(a, false));
          // Placeholders left by states that were later superseded depend on the order (as in
          // mesh); GC removes the unreferenced ones, and then the tables are identical.
          a.garbageCollect();
          b.garbageCollect();
          expect(snapshot(b)).toEqual(snapshot(a));
        },
      ),
    );
  });

  it('applying an update twice changes nothing the second time', () => {
    fc.assert(
      fc.property(fc.array(summaryArb, { maxLength: 20 }), fc.array(summaryArb, { maxLength: 20 }), (first, u) => {
        const p = newPeers();
        p.applyUpdate(first);
        const r1 = p.applyUpdate(u);
        const after = snapshot(p);
        const r2 = p.applyUpdate(u);
        expect(snapshot(p)).toEqual(after);
        expect(r2.improved.size).toBe(0);
        expect(r2.selfChanged).toBe(false);
        expect(r2.received).toEqual(r1.received);
        for (const n of r1.improved) expect(r1.received.has(n)).toBe(true);
      }),
    );
  });

  it('keeps its counts exact through any sequence of updates, local changes and GCs (GC skips only when nothing can be unreachable)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('update' as const), u: fc.array(summaryArb, { maxLength: 4 }) }),
      fc.record({ kind: fc.constant('local' as const), local: fc.subarray([...OTHERS, ...EXTRA]) }),
      fc.record({ kind: fc.constant('gc' as const), keep: fc.option(fc.subarray([...OTHERS, ...EXTRA]), { nil: undefined }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const p = newPeers();
        let membership = p.membership;
        let names = new Set([...p.all()].map((s) => s.name));
        for (const o of ops) {
          if (o.kind === 'update') p.applyUpdate(o.u);
          else if (o.kind === 'local') p.setLocalConnections(o.local.map((n) => conn(n)));
          else {
            p.garbageCollect(o.keep);
            // Exactly what we reach, and what kept peers reach; no summary names a missing peer.
            for (const s of p.all()) for (const c of s.connections) expect(p.get(c.name)).toBeDefined();
            expect(p.size).toBe(reachable(p, [SELF, ...(o.keep ?? []).filter((n) => p.get(n) !== undefined)]).size);
          }
          expect(p.placeholders()).toBe([...p.all()].filter((s) => s.uid === 0n).length);
          const now = new Set([...p.all()].map((s) => s.name));
          const same = now.size === names.size && [...now].every((n) => names.has(n));
          if (!same) expect(p.membership).not.toBe(membership);
          membership = p.membership;
          names = now;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never leaves a dangling reference, and GC keeps exactly the reachable peers', () => {
    fc.assert(
      fc.property(fc.array(summaryArb, { maxLength: 25 }), fc.subarray([...OTHERS, ...EXTRA]), (u, local) => {
        const p = newPeers();
        p.applyUpdate(u);
        p.setLocalConnections(local.map((n) => conn(n)));
        const check = () => {
          for (const s of p.all()) for (const c of s.connections) expect(p.get(c.name)).toBeDefined();
        };
        check();
        p.garbageCollect();
        check();
        expect(p.size).toBe(reachable(p, [SELF]).size);
      }),
    );
  });
});
