// The topology as integer adjacency lists for route computation. Indices follow ascending peer
// name, so sorting a BFS level by name is sorting small integers.
import type { PeerSummary } from './peer.js';
import type { PeerName } from './peer-name.js';

export const UNREACHED = -1;

/** What a graph is built from: a consistent set of summaries (e.g. a Peers instance). */
export interface GraphSource {
  all(): Iterable<PeerSummary>;
  /** Changes whenever a name joins or leaves (Peers.membership); lets a graph reuse the last one's indices. */
  readonly membership?: number;
}

/** One summary's connections as indices (valid for one name order). */
interface Links {
  /** Every listed peer, once, in listed order. */
  readonly any: readonly number[];
  /** Those listed as established, in listed order and sorted. */
  readonly out: readonly number[];
  readonly outSorted: readonly number[];
}

export class RouteGraph {
  /** index → name, ascending. */
  readonly names: readonly PeerName[];
  readonly index: ReadonlyMap<PeerName, number>;
  /** Every peer each peer lists a connection to (mesh's "all connections"). */
  readonly any: readonly (readonly number[])[];
  /** Connections both ends list and both mark established. */
  readonly symmetric: readonly (readonly number[])[];
  /** Per index, the peers it lists as established (sorted: a binary search tells membership). */
  private readonly establishedOut: readonly (readonly number[])[];
  private readonly membership: number | undefined;
  /** Each summary's links under this name order, shared with later graphs of the same names. */
  private readonly linksOf: WeakMap<PeerSummary, Links>;
  /** levels()'s result and work queue, reused. */
  private levelScratch: Int32Array | undefined;
  private queueScratch: Int32Array | undefined;
  /** namesAllSymmetric()'s marks and the current stamp. */
  private markScratch: Int32Array | undefined;
  private stamp = 0;

  /**
   * The graph of `view`. Given the graph of the previous computation and the same membership
   * (no name joined or left since), its name order and indices are kept and only summaries
   * replaced since are mapped again: a route computation is then O(connections) integer work,
   * without sorting names or looking up every connection's name (at 250 routers in memory,
   * building the graph was 11 % of all CPU).
   */
  constructor(source: GraphSource, prior?: RouteGraph) {
    let summaries: PeerSummary[] | undefined;
    if (prior !== undefined && source.membership !== undefined && prior.membership === source.membership) {
      summaries = new Array<PeerSummary>(prior.names.length);
      let count = 0;
      for (const p of source.all()) {
        const i = prior.index.get(p.name);
        if (i === undefined || summaries[i] !== undefined) {
          count = -1;
          break;
        }
        summaries[i] = p;
        count++;
      }
      if (count !== prior.names.length) summaries = undefined;
    }
    let index: Map<PeerName, number> | ReadonlyMap<PeerName, number>;
    if (summaries !== undefined) {
      this.names = prior!.names;
      index = prior!.index;
      this.linksOf = prior!.linksOf;
    } else {
      summaries = [...source.all()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const fresh = new Map<PeerName, number>();
      summaries.forEach((p, i) => fresh.set(p.name, i));
      index = fresh;
      this.names = summaries.map((p) => p.name);
      this.linksOf = new WeakMap();
    }
    this.index = index;
    this.membership = source.membership;
    const n = summaries.length;

    const mark = new Int32Array(n).fill(-1);
    const all: Links[] = [];
    for (let i = 0; i < n; i++) {
      const p = summaries[i]!;
      let links = this.linksOf.get(p);
      if (links === undefined) {
        const list: number[] = [];
        const out: number[] = [];
        for (const c of p.connections) {
          const j = index.get(c.name);
          // Unknown names cannot happen with Peers (placeholders), but a raw view may have them.
          if (j === undefined || j === i || mark[j] === i) continue;
          mark[j] = i;
          list.push(j);
          if (c.established) out.push(j);
        }
        links = { any: list, out, outSorted: [...out].sort(ascending) };
        this.linksOf.set(p, links);
      }
      all.push(links);
    }
    const establishedIn: number[][] = Array.from({ length: n }, () => []);
    for (let i = 0; i < n; i++) for (const j of all[i]!.out) establishedIn[j]!.push(i);
    // Symmetric = established out of i and established into i: intersect via a stamp array.
    mark.fill(-1);
    const symmetric: number[][] = [];
    for (let i = 0; i < n; i++) {
      for (const j of establishedIn[i]!) mark[j] = i;
      symmetric.push(all[i]!.out.filter((j) => mark[j] === i));
    }

    this.any = all.map((l) => l.any);
    this.symmetric = symmetric;
    this.establishedOut = all.map((l) => l.outSorted);
  }

  /** Whether `links` names every peer `start` has a symmetric connection to in this graph. */
  namesAllSymmetric(start: number, links: readonly PeerName[]): boolean {
    const stamp = (this.markScratch ??= new Int32Array(this.names.length));
    // A fresh stamp per call instead of clearing: the array is cleared only when stamps wrap.
    if (++this.stamp === 0x7fffffff) {
      stamp.fill(0);
      this.stamp = 1;
    }
    for (const name of links) {
      const v = this.index.get(name);
      if (v !== undefined) stamp[v] = this.stamp;
    }
    for (const v of this.symmetric[start]!) if (stamp[v] !== this.stamp) return false;
    return true;
  }

  /**
   * Hops from `start` over symmetric connections, with start's own connections taken from
   * `startLinks` (its newest summary: a peer counts if it lists start as established here), level
   * by level until `until`'s level is done (the next level is then complete) or all are reached.
   * UNREACHED for the rest. The array is the graph's own and is overwritten by the next call: a
   * router asks this for every topology update it relays, and a fresh array and frontier lists
   * each time were 8 % of all the memory a mesh allocated.
   */
  levels(start: number, startLinks: readonly PeerName[], until: number): Int32Array {
    const n = this.names.length;
    const level = (this.levelScratch ??= new Int32Array(n));
    const queue = (this.queueScratch ??= new Int32Array(n));
    level.fill(UNREACHED);
    level[start] = 0;
    let tail = 0;
    for (const name of startLinks) {
      const v = this.index.get(name);
      if (v === undefined || v === start || level[v] !== UNREACHED || !hasSorted(this.establishedOut[v]!, start)) continue;
      level[v] = 1;
      queue[tail++] = v;
    }
    if (start === until) return level;
    // The queue holds one level after another; each pass of the loop takes one whole level.
    for (let head = 0, d = 1; head < tail; d++) {
      const levelEnd = tail;
      let done = false;
      for (; head < levelEnd; head++) {
        const u = queue[head]!;
        if (u === until) done = true;
        for (const v of this.symmetric[u]!) {
          if (level[v] !== UNREACHED) continue;
          level[v] = d + 1;
          queue[tail++] = v;
        }
      }
      if (done) break;
    }
    return level;
  }

  /**
   * Mesh's breadth-first widening from `start`: each level is visited in name order and a peer
   * takes its first hop from the first visited peer that reaches it, so every peer computing
   * this on the same table gets the same answer. Returns, per index, the first hop from
   * `start` (the peer itself for neighbours, `start` for `start`) or UNREACHED. With `stopAt`,
   * the search stops when that peer's turn comes; `stopped` tells whether it did, and the
   * result then marks exactly the peers reached up to that moment.
   */
  widen(
    adjacency: readonly (readonly number[])[],
    start: number,
    stopAt?: number,
  ): { hops: Int32Array; stopped: boolean } {
    const hops = new Int32Array(this.names.length).fill(UNREACHED);
    hops[start] = start;
    let level = [start];
    while (level.length > 0) {
      level.sort(ascending);
      const next: number[] = [];
      for (const cur of level) {
        if (cur === stopAt) return { hops, stopped: true };
        const via = cur === start ? -1 : hops[cur]!;
        for (const r of adjacency[cur]!) {
          if (hops[r] !== UNREACHED) continue;
          hops[r] = via === -1 ? r : via;
          next.push(r);
        }
      }
      level = next;
    }
    return { hops, stopped: false };
  }
}

function ascending(a: number, b: number): number {
  return a - b;
}

function hasSorted(list: readonly number[], x: number): boolean {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = list[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
