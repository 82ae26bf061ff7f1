import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { PeerSummary } from './peer.js';
import type { PeerName } from './peer-name.js';
import { Peers } from './peers.js';
import { computeRoutes, type Routes, type TopologyView } from './routes.js';

/** Names a..z → 1..26 so expected hops read as letters. */
const n = (letter: string): PeerName => BigInt(letter.charCodeAt(0) - 96);
const letter = (name: PeerName): string => String.fromCharCode(Number(name) + 96);

/**
 * A topology from one line per peer: "a: b c* d?" means a lists connections to b (established),
 * c (listed but not established) ... and `?` is the same as `*`. Peers only mentioned as targets
 * are present with no connections.
 */
function topology(...lines: string[]): TopologyView {
  const peers = new Map<PeerName, PeerSummary>();
  const ensure = (name: PeerName) => {
    if (!peers.has(name)) {
      peers.set(name, { name, nickname: '', uid: name, version: 1n, shortId: undefined, connections: [] });
    }
  };
  for (const line of lines) {
    const [from, rest] = line.split(':') as [string, string];
    const name = n(from.trim());
    const connections = rest
      .trim()
      .split(/\s+/)
      .filter((t) => t !== '')
      .map((t) => ({ name: n(t[0]!), remoteTcpAddr: '', outbound: true, established: t.length === 1 }));
    connections.forEach((c) => ensure(c.name));
    peers.set(name, { name, nickname: '', uid: name, version: 1n, shortId: undefined, connections });
  }
  return { all: () => peers.values() };
}

/** Undirected, established both ways. */
function undirected(edges: string): TopologyView {
  const adj = new Map<string, string[]>();
  for (const e of edges.split(/\s+/)) {
    const [x, y] = e.split('-') as [string, string];
    adj.set(x, [...(adj.get(x) ?? []), y]);
    adj.set(y, [...(adj.get(y) ?? []), x]);
  }
  return topology(...[...adj].map(([k, v]) => `${k}: ${v.join(' ')}`));
}

function hops(map: ReadonlyMap<PeerName, PeerName>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [d, h] of [...map].sort(([a], [b]) => (a < b ? -1 : 1))) out[letter(d)] = letter(h);
  return out;
}

const letters = (names: readonly PeerName[]) => names.map(letter).join('');

describe('unicast', () => {
  it('line a-b-c-d', () => {
    const t = undirected('a-b b-c c-d');
    expect(hops(computeRoutes(n('a'), t).unicast)).toEqual({ b: 'b', c: 'b', d: 'b' });
    expect(hops(computeRoutes(n('c'), t).unicast)).toEqual({ a: 'b', b: 'b', d: 'd' });
  });

  it('ring: ties at a BFS level go to the lower-named discoverer', () => {
    const four = undirected('a-b b-c c-d d-a');
    expect(hops(computeRoutes(n('a'), four).unicast)).toEqual({ b: 'b', c: 'b', d: 'd' });
    expect(hops(computeRoutes(n('c'), four).unicast)).toEqual({ a: 'b', b: 'b', d: 'd' });
    const five = undirected('a-b b-c c-d d-e e-a');
    expect(hops(computeRoutes(n('a'), five).unicast)).toEqual({ b: 'b', c: 'b', d: 'e', e: 'e' });
  });

  it('the lower-named discoverer wins regardless of list order', () => {
    // a: d c b (listed in reverse); e is two hops away through both b and c.
    const t = topology('a: d c b', 'b: a e', 'c: a e', 'd: a', 'e: c b');
    expect(hops(computeRoutes(n('a'), t).unicast)).toEqual({ b: 'b', c: 'c', d: 'd', e: 'b' });
  });

  it('star: leaves reach each other through the hub', () => {
    const t = undirected('h-a h-b h-c');
    expect(hops(computeRoutes(n('a'), t).unicast)).toEqual({ h: 'h', b: 'h', c: 'h' });
    expect(hops(computeRoutes(n('h'), t).unicast)).toEqual({ a: 'a', b: 'b', c: 'c' });
  });

  it('unicast needs established and symmetric; unicastAll follows any listed connection', () => {
    // a→b one-sided; a⇄c but c has not marked it established; a⇄d fine; d→e one-sided.
    const t = topology('a: b c d', 'b:', 'c: a*', 'd: a e', 'e:');
    const r = computeRoutes(n('a'), t);
    expect(hops(r.unicast)).toEqual({ d: 'd' });
    expect(hops(r.unicastAll)).toEqual({ b: 'b', c: 'c', d: 'd', e: 'd' });
    // Direction matters for unicastAll: b lists nothing, so b reaches nobody.
    expect(computeRoutes(n('b'), t).unicastAll.size).toBe(0);
    expect(hops(computeRoutes(n('c'), t).unicastAll)).toEqual({ a: 'a', b: 'a', d: 'a', e: 'a' });
  });

  it('is empty for a peer missing from the table and never contains ourselves', () => {
    const t = undirected('a-b');
    expect(computeRoutes(n('z'), t).unicast.size).toBe(0);
    expect(computeRoutes(n('a'), t).unicast.has(n('a'))).toBe(false);
  });
});

describe('broadcast', () => {
  it('line: each peer relays away from the source', () => {
    const t = undirected('a-b b-c c-d');
    const at = (self: string, src: string) => letters(computeRoutes(n(self), t).broadcast(n(src)));
    expect(at('a', 'a')).toBe('b');
    expect(at('b', 'a')).toBe('c');
    expect(at('c', 'a')).toBe('d');
    expect(at('d', 'a')).toBe('');
    expect(at('b', 'b')).toBe('ac');
    expect(at('a', 'b')).toBe('');
    expect(at('c', 'b')).toBe('d');
  });

  it('square: "reached" is what the source BFS found before our turn', () => {
    // a-b, a-c, b-d, c-d. From a: level 1 is [b, c]; b's turn comes first and d is not yet
    // reached, so b relays to d; by c's turn b has already reached d, so c relays nothing.
    const t = undirected('a-b a-c b-d c-d');
    const at = (self: string) => letters(computeRoutes(n(self), t).broadcast(n('a')));
    expect(at('a')).toBe('bc');
    expect(at('b')).toBe('d');
    expect(at('c')).toBe('');
    expect(at('d')).toBe('');
  });

  it('star: the hub relays a leaf broadcast to the other leaves', () => {
    const t = undirected('h-a h-b h-c');
    expect(letters(computeRoutes(n('h'), t).broadcast(n('b')))).toBe('ac');
    expect(letters(computeRoutes(n('a'), t).broadcast(n('b')))).toBe('');
  });

  it('broadcast uses established symmetric links, broadcastAll any link of ours', () => {
    const t = topology('a: b c* d', 'b: a', 'c: a', 'd:');
    const r = computeRoutes(n('a'), t);
    expect(letters(r.broadcast(n('a')))).toBe('b');
    expect(letters(r.broadcastAll(n('a')))).toBe('bcd');
  });

  it('relays nothing for an unknown source or one whose BFS never reaches us', () => {
    const t = undirected('a-b c-d');
    const r = computeRoutes(n('a'), t);
    expect(r.broadcast(n('z'))).toEqual([]);
    expect(r.broadcast(n('c'))).toEqual([]);
    expect(r.broadcastAll(n('c'))).toEqual([]);
  });

  it('caches per source within one Routes value', () => {
    const r = computeRoutes(n('b'), undirected('a-b b-c'));
    expect(r.broadcast(n('a'))).toBe(r.broadcast(n('a')));
  });
});

describe('treeRelays (topology updates)', () => {
  const parents = (ours: number): number => (ours === 1 ? 1 : 2);
  const linksOf = (t: TopologyView, name: string): PeerName[] => [...t.all()].find((p) => p.name === n(name))!.connections.filter((c) => c.established).map((c) => c.name);
  const relays = (t: TopologyView, self: string, src: string, neighbours: string, links = linksOf(t, src)) => {
    const got = computeRoutes(n(self), t).treeRelays(n(src), links, [...neighbours].map(n), parents);
    return got === undefined ? undefined : letters(got);
  };

  it('one copy to the next level: the lowest-named parent on a two-hop level relays', () => {
    // From a: b, c at level 1; d at level 2 under both: b (lower) relays, c does not.
    const t = undirected('a-b a-c b-d c-d');
    expect(relays(t, 'b', 'a', 'ad')).toBe('d');
    expect(relays(t, 'c', 'a', 'ad')).toBe('');
    // d is as far from a as it gets: nothing onward.
    expect(relays(t, 'd', 'a', 'bc')).toBe('');
  });

  it('three hops or more: the two lowest-named parents relay', () => {
    // From a: b (1); c, d, f (2); e (3) under c, d and f: c and d relay to e, f does not.
    const t = undirected('a-b b-c b-d b-f c-e d-e f-e');
    expect(relays(t, 'c', 'a', 'be')).toBe('e');
    expect(relays(t, 'd', 'a', 'be')).toBe('e');
    expect(relays(t, 'f', 'a', 'be')).toBe('');
  });

  it('leaves a source that dropped a connection to the older rule, and sends where the tree does not reach', () => {
    // The routes still have a-b; a's newest summary lists only c: b's subtree might be cut off.
    const t = undirected('a-b a-c b-d c-d');
    expect(relays(t, 'd', 'a', 'bc')).toBe('');
    expect(relays(t, 'd', 'a', 'bc', [n('c')])).toBeUndefined();
    // Our connection to e is not in the table yet: e gets the update.
    expect(relays(t, 'd', 'a', 'bce')).toBe('e');
  });

  it('is undefined when the tree does not reach us or the source is unknown', () => {
    const t = undirected('a-b c-d');
    expect(relays(t, 'c', 'a', 'd')).toBeUndefined();
    expect(computeRoutes(n('a'), t).treeRelays(n('z'), [], [n('b')], parents)).toBeUndefined();
  });

  it('on a settled table every peer gets each update, at most twice and once at two hops', () => {
    fc.assert(
      fc.property(graphArb(false), ({ names, edges }) => {
        const { view, adj } = build(names, edges);
        const routes = new Map<PeerName, Routes>(names.map((p) => [p, computeRoutes(p, view)]));
        for (let s = 0; s < names.length; s++) {
          const source = names[s]!;
          const links = adj[s]!.map((i) => names[i]!);
          const received = names.map(() => 0);
          // The source sends its own update to every neighbour; a peer relays the first copy it gets.
          const queue = [...adj[s]!];
          for (const i of queue) received[i]!++;
          for (let q = 0; q < queue.length; q++) {
            const at = queue[q]!;
            const out = routes.get(names[at]!)!.treeRelays(source, links, adj[at]!.map((i) => names[i]!), parents)!;
            for (const next of out) {
              const i = names.indexOf(next);
              if (received[i]!++ === 0) queue.push(i);
            }
          }
          const d = distances(adj, s);
          received.forEach((count, i) => {
            if (i === s) return expect(count).toBe(0);
            expect(count).toBeGreaterThanOrEqual(1);
            expect(count).toBeLessThanOrEqual(d[i]! <= 2 ? 1 : 2);
          });
        }
      }),
      { numRuns: 150 },
    );
  });
});

/** A peer whose connections are all outbound and established. */
const mk = (name: PeerName, conns: PeerName[]): PeerSummary => ({
  name,
  nickname: '',
  uid: 1n,
  version: 1n,
  shortId: undefined,
  connections: conns.map((c) => ({ name: c, remoteTcpAddr: '', outbound: true, established: true })),
});

describe('randomNeighbours', () => {
  // Star around self "s" with leaves; used for counting.
  function starWith(leaves: number): { view: TopologyView; self: PeerName } {
    const self = 1000n;
    const leafNames = Array.from({ length: leaves }, (_, i) => BigInt(i + 1));
    const list = [mk(self, leafNames), ...leafNames.map((l) => mk(l, [self]))];
    return { view: { all: () => list }, self };
  }

  it('picks min(2·log2(peers), next hops) distinct hops and honours except', () => {
    const { view, self } = starWith(30); // 31 peers: ⌊2·log2 31⌋ = 9
    const r = computeRoutes(self, view);
    const got = r.randomNeighbours(undefined, seeded(3));
    expect(got).toHaveLength(9);
    expect(new Set(got).size).toBe(9);
    for (let i = 0; i < 20; i++) expect(r.randomNeighbours(5n, seeded(i))).not.toContain(5n);

    const small = starWith(3); // 4 peers: ⌊2·log2 4⌋ = 4 > 3 hops
    expect(computeRoutes(small.self, small.view).randomNeighbours(undefined, seeded(1)).sort()).toEqual([1n, 2n, 3n]);
    expect(computeRoutes(small.self, small.view).randomNeighbours(2n, seeded(1)).sort()).toEqual([1n, 3n]);

    const alone = starWith(0);
    expect(computeRoutes(alone.self, alone.view).randomNeighbours(undefined, Math.random)).toEqual([]);
  });

  it('favours a neighbour behind which most destinations lie', () => {
    // self s has 30 leaf neighbours and one neighbour x with 200 peers behind it.
    // 232 peers: ⌊2·log2 232⌋ = 15 of 31 hops; uniform choice would include x about half the time.
    const self = 10_000n;
    const x = 5_000n;
    const leaves = Array.from({ length: 30 }, (_, i) => BigInt(i + 1));
    const behind = Array.from({ length: 200 }, (_, i) => BigInt(i + 100));
    const list = [
      mk(self, [...leaves, x]),
      mk(x, [self, ...behind]),
      ...leaves.map((l) => mk(l, [self])),
      ...behind.map((b) => mk(b, [x])),
    ];
    const r = computeRoutes(self, { all: () => list });
    let withX = 0;
    for (let seed = 0; seed < 40; seed++) {
      const got = r.randomNeighbours(undefined, seeded(seed));
      expect(got).toHaveLength(15);
      if (got.includes(x)) withX++;
    }
    expect(withX).toBe(40);
  });
});

// ---- properties -----------------------------------------------------------------------------

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Edge {
  a: number;
  b: number;
  /** 'ok' = both list it established; others break symmetry or establishment. */
  kind: 'ok' | 'oneSided' | 'pending';
}

/** A random connected graph: a random spanning tree plus extra edges, names shuffled. */
const graphArb = (brokenEdges: boolean) =>
  fc
    .integer({ min: 2, max: 24 })
    .chain((size) =>
      fc.record({
        size: fc.constant(size),
        parents: fc.array(fc.nat(), { minLength: size - 1, maxLength: size - 1 }),
        extra: fc.array(fc.tuple(fc.nat(size - 1), fc.nat(size - 1)), { maxLength: size * 2 }),
        kinds: fc.array(fc.constantFrom<Edge['kind']>('ok', 'ok', 'oneSided', 'pending'), {
          minLength: size * 3,
          maxLength: size * 3,
        }),
        names: fc.uniqueArray(fc.bigInt({ min: 1n, max: (1n << 48n) - 1n }), { minLength: size, maxLength: size }),
      }),
    )
    .map(({ size, parents, extra, kinds, names }) => {
      const edges: Edge[] = [];
      const seen = new Set<string>();
      const add = (a: number, b: number) => {
        const key = a < b ? `${a}-${b}` : `${b}-${a}`;
        if (a === b || seen.has(key)) return;
        seen.add(key);
        edges.push({ a, b, kind: brokenEdges ? kinds[edges.length % kinds.length]! : 'ok' });
      };
      for (let i = 1; i < size; i++) add(i, parents[i - 1]! % i);
      for (const [a, b] of extra) add(a, b);
      return { names, edges };
    });

function build(names: PeerName[], edges: Edge[]): { view: TopologyView; adj: number[][] } {
  const conns: PeerSummary['connections'][number][][] = names.map(() => []);
  const adj: number[][] = names.map(() => []);
  for (const { a, b, kind } of edges) {
    conns[a]!.push({ name: names[b]!, remoteTcpAddr: '', outbound: true, established: true });
    if (kind !== 'oneSided') {
      conns[b]!.push({ name: names[a]!, remoteTcpAddr: '', outbound: false, established: kind === 'ok' });
    }
    if (kind === 'ok') {
      adj[a]!.push(b);
      adj[b]!.push(a);
    }
  }
  const list: PeerSummary[] = names.map((name, i) => ({
    name,
    nickname: '',
    uid: 1n,
    version: 1n,
    shortId: undefined,
    connections: conns[i]!,
  }));
  return { view: { all: () => list }, adj };
}

function distances(adj: number[][], from: number): number[] {
  const d = adj.map(() => -1);
  d[from] = 0;
  const q = [from];
  for (let i = 0; i < q.length; i++) {
    for (const v of adj[q[i]!]!) {
      if (d[v] === -1) {
        d[v] = d[q[i]!]! + 1;
        q.push(v);
      }
    }
  }
  return d;
}

describe('routes: properties', () => {
  it('a broadcast relayed by every peer along its own broadcast(source) reaches each peer once', () => {
    fc.assert(
      fc.property(graphArb(true), ({ names, edges }) => {
        const { view, adj } = build(names, edges);
        const routes = new Map<PeerName, Routes>(names.map((p) => [p, computeRoutes(p, view)]));
        const index = new Map(names.map((p, i) => [p, i]));
        for (let s = 0; s < names.length; s++) {
          const received = names.map(() => 0);
          const queue = [names[s]!];
          while (queue.length > 0) {
            const at = queue.shift()!;
            for (const next of routes.get(at)!.broadcast(names[s]!)) {
              received[index.get(next)!]!++;
              queue.push(next);
            }
          }
          // Exactly once within the source's component of established symmetric links.
          const d = distances(adj, s);
          received.forEach((count, i) => expect(count).toBe(i === s || d[i] === -1 ? 0 : 1));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('broadcastAll on a symmetric graph also reaches each peer once', () => {
    fc.assert(
      fc.property(graphArb(false), ({ names, edges }) => {
        const { view } = build(names, edges);
        const routes = new Map<PeerName, Routes>(names.map((p) => [p, computeRoutes(p, view)]));
        for (const source of names) {
          const received = new Map<PeerName, number>();
          const queue = [source];
          while (queue.length > 0) {
            for (const next of routes.get(queue.shift()!)!.broadcastAll(source)) {
              received.set(next, (received.get(next) ?? 0) + 1);
              queue.push(next);
            }
          }
          expect(received.has(source)).toBe(false);
          expect(received.size).toBe(names.length - 1);
          for (const c of received.values()) expect(c).toBe(1);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('following each hop’s own unicast next hop reaches the destination in BFS-shortest hops', () => {
    fc.assert(
      fc.property(graphArb(true), ({ names, edges }) => {
        const { view, adj } = build(names, edges);
        const routes = names.map((p) => computeRoutes(p, view));
        const index = new Map(names.map((p, i) => [p, i]));
        for (let s = 0; s < names.length; s++) {
          const d = distances(adj, s);
          for (let t = 0; t < names.length; t++) {
            if (t === s) continue;
            if (d[t] === -1) {
              expect(routes[s]!.unicast.has(names[t]!)).toBe(false);
              continue;
            }
            let at = s;
            let steps = 0;
            while (at !== t) {
              const hop = index.get(routes[at]!.unicast.get(names[t]!)!)!;
              expect(adj[at]).toContain(hop);
              at = hop;
              steps++;
            }
            expect(steps).toBe(d[t]);
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('routes over a Peers table', () => {
  it('uses our local connection list and the gossiped summaries', () => {
    const conn = (name: PeerName, established = true) => ({ name, remoteTcpAddr: '', outbound: true, established });
    const p = new Peers({ name: 1n, nickname: 'a', uid: 9n, shortId: 1 }, seeded(1));
    p.setLocalConnections([conn(2n), conn(3n, false)]);
    const sum = (name: PeerName, conns: PeerSummary['connections']) => ({
      name,
      nickname: '',
      uid: 5n,
      version: 1n,
      shortId: Number(name),
      connections: conns,
    });
    p.applyUpdate([sum(2n, [conn(1n), conn(4n)]), sum(3n, [conn(1n)]), sum(4n, [conn(2n)])]);
    const r = computeRoutes(1n, p);
    expect([...r.unicast].sort()).toEqual([
      [2n, 2n],
      [4n, 2n],
    ]);
    expect(r.unicastAll.get(3n)).toBe(3n);
    expect(r.broadcast(1n)).toEqual([2n]);
    expect(r.broadcastAll(1n)).toEqual([2n, 3n]);
  });
});

describe('routes computed from the previous ones', () => {
  it('equal routes computed from scratch, through any sequence of changes to a Peers table', () => {
    const names = [1n, 2n, 3n, 4n, 5n, 6n];
    const conn = (name: PeerName, established: boolean) => ({ name, remoteTcpAddr: '', outbound: true, established });
    const change = fc.record({
      peer: fc.constantFrom(...names),
      version: fc.bigInt({ min: 1n, max: 8n }),
      links: fc.subarray([...names, 7n, 8n]),
      established: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      gc: fc.boolean(),
    });
    const same = (a: Routes, b: Routes, at: PeerName[]) => {
      expect([...a.unicast].sort()).toEqual([...b.unicast].sort());
      expect([...a.unicastAll].sort()).toEqual([...b.unicastAll].sort());
      for (const s of at) {
        expect(a.broadcast(s)).toEqual(b.broadcast(s));
        expect(a.broadcastAll(s)).toEqual(b.broadcastAll(s));
        expect(a.treeRelays(s, names, names, () => 1)).toEqual(b.treeRelays(s, names, names, () => 1));
      }
    };
    fc.assert(
      fc.property(fc.array(change, { maxLength: 25 }), (changes) => {
        const p = new Peers({ name: 1n, nickname: 'a', uid: 9n, shortId: 1 }, seeded(1));
        let routes = computeRoutes(1n, p);
        for (const c of changes) {
          const conns = c.links.filter((l) => l !== c.peer).map((l, i) => conn(l, c.established[i]!));
          if (c.peer === 1n) p.setLocalConnections(conns);
          else p.applyUpdate([{ name: c.peer, nickname: '', uid: 5n, version: c.version, shortId: undefined, connections: conns }]);
          if (c.gc) p.garbageCollect();
          const next = computeRoutes(1n, p, routes);
          same(next, computeRoutes(1n, p), [...names, 7n, 8n]);
          routes = next;
        }
      }),
      { numRuns: 300 },
    );
  });
});
