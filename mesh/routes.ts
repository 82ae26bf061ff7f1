// Routes from one peer's point of view, computed from a snapshot of the topology table as
// weaveworks/mesh does (weave-protocol.md §5): hop-count BFS with name-ordered levels, so all
// peers agree; broadcast relays follow a BFS spanning tree rooted at the original source.
// A Routes value is immutable; the router computes a new one (deferred, coalesced) after
// topology changes.
import type { PeerName } from './peer-name.js';
import { RouteGraph, UNREACHED, type GraphSource } from './route-graph.js';

/** What route computation reads: a consistent set of summaries (e.g. a Peers instance). */
export type TopologyView = GraphSource;

export interface Routes {
  /**
   * Destination → next hop over connections that are established and symmetric (both ends
   * list the connection and mark it established). Data frames use this. Never contains self.
   */
  readonly unicast: ReadonlyMap<PeerName, PeerName>;
  /** Destination → next hop over any listed connection, in its listed direction (gossip). */
  readonly unicastAll: ReadonlyMap<PeerName, PeerName>;
  /**
   * Our neighbours to relay a broadcast from `source` to (established, symmetric connections),
   * in name order. Empty if `source` is unknown or its BFS never reaches us.
   */
  broadcast(source: PeerName): readonly PeerName[];
  /** As `broadcast`, over any connection (gossip broadcasts). */
  broadcastAll(source: PeerName): readonly PeerName[];
  /**
   * min(⌊2·log2(#reachable peers incl. us)⌋, #distinct next hops) distinct next hops from
   * `unicastAll`, drawn without replacement with weight = destinations reached through each
   * (favouring bottleneck links, as mesh ≥ 0.4). Hops equal to `except` are not candidates.
   */
  randomNeighbours(except: PeerName | undefined, random: () => number): PeerName[];
  /**
   * Which of `neighbours` to relay `source`'s update to along a breadth-first tree rooted at
   * source over symmetric established connections (`sourceLinks`: the peers source lists now,
   * which may be newer than these routes). A neighbour one level further from source than us
   * gets it when fewer than `parents(ourLevel)` peers on our level with lower names are
   * connected to it; one the tree reaches no further than us does not; one the tree does not
   * reach (no symmetric connection to it yet) does. undefined: the tree does not reach us, or
   * source dropped a connection these routes still have (the caller uses another rule).
   */
  treeRelays(source: PeerName, sourceLinks: readonly PeerName[], neighbours: readonly PeerName[], parents: (ourLevel: number) => number): PeerName[] | undefined;
}

/**
 * Routes from `self`. `previous` (the routes this replaces) lets the computation reuse what has
 * not changed since: with a view that counts membership (Peers), its name order and the links of
 * every summary not replaced since.
 */
export function computeRoutes(self: PeerName, peers: TopologyView, previous?: Routes): Routes {
  return new ComputedRoutes(self, new RouteGraph(peers, previous instanceof ComputedRoutes ? previous.graph : undefined));
}

/** True if both give every destination the same next hop (unicast and unicastAll). O(peers). */
export function sameNextHops(a: Routes, b: Routes): boolean {
  return sameMap(a.unicast, b.unicast) && sameMap(a.unicastAll, b.unicastAll);
}

function sameMap(a: ReadonlyMap<PeerName, PeerName>, b: ReadonlyMap<PeerName, PeerName>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

class ComputedRoutes implements Routes {
  readonly unicast: ReadonlyMap<PeerName, PeerName>;
  readonly unicastAll: ReadonlyMap<PeerName, PeerName>;
  private readonly selfIndex: number | undefined;
  private readonly broadcastCache = new Map<PeerName, readonly PeerName[]>();
  private readonly broadcastAllCache = new Map<PeerName, readonly PeerName[]>();
  private hopWeights: Map<PeerName, number> | undefined;

  constructor(
    self: PeerName,
    readonly graph: RouteGraph,
  ) {
    this.selfIndex = graph.index.get(self);
    this.unicast = this.unicastFrom(graph.symmetric);
    this.unicastAll = this.unicastFrom(graph.any);
  }

  broadcast(source: PeerName): readonly PeerName[] {
    return this.cached(this.broadcastCache, source, this.graph.symmetric);
  }

  broadcastAll(source: PeerName): readonly PeerName[] {
    return this.cached(this.broadcastAllCache, source, this.graph.any);
  }

  randomNeighbours(except: PeerName | undefined, random: () => number): PeerName[] {
    const candidates: [PeerName, number][] = [];
    let total = 0;
    for (const [hop, weight] of this.weights()) {
      if (hop === except) continue;
      candidates.push([hop, weight]);
      total += weight;
    }
    const wanted = Math.floor(2 * Math.log2(this.unicastAll.size + 1));
    const out: PeerName[] = [];
    while (out.length < wanted && candidates.length > 0) {
      let point = Math.min(total - 1, Math.floor(random() * total));
      let i = 0;
      while (point >= candidates[i]![1]) point -= candidates[i++]![1];
      const [hop, weight] = candidates[i]!;
      out.push(hop);
      total -= weight;
      candidates.splice(i, 1);
    }
    return out;
  }

  treeRelays(source: PeerName, sourceLinks: readonly PeerName[], neighbours: readonly PeerName[], parents: (ourLevel: number) => number): PeerName[] | undefined {
    const self = this.selfIndex;
    const start = this.graph.index.get(source);
    if (self === undefined || start === undefined) return undefined;
    // The source dropped a connection these routes still have (a peer left, or is leaving): the
    // rest of the graph may still route through the departed peer, whose subtree would then
    // miss the update. Such changes go by the rule before the tree (at 250 routers in memory, a
    // departure took 30 s to reach everyone along the tree, 1 s this way).
    if (!this.graph.namesAllSymmetric(start, sourceLinks)) return undefined;
    const level = this.graph.levels(start, sourceLinks, self);
    const ours = level[self]!;
    if (ours === UNREACHED) return undefined;
    const wanted = parents(ours);
    const out: PeerName[] = [];
    for (const x of neighbours) {
      if (x === source) continue;
      const xi = this.graph.index.get(x);
      const lx = xi === undefined ? UNREACHED : level[xi]!;
      if (lx !== UNREACHED && lx <= ours) continue;
      if (lx === UNREACHED || lx > ours + 1) {
        out.push(x);
        continue;
      }
      let lower = 0;
      // Indices follow names: a lower index is a lower name.
      for (const y of this.graph.symmetric[xi!]!) if (y < self && level[y] === ours) lower++;
      if (lower < wanted) out.push(x);
    }
    return out;
  }

  private unicastFrom(adjacency: readonly (readonly number[])[]): Map<PeerName, PeerName> {
    const routes = new Map<PeerName, PeerName>();
    if (this.selfIndex === undefined) return routes;
    const { hops } = this.graph.widen(adjacency, this.selfIndex);
    const names = this.graph.names;
    for (let i = 0; i < hops.length; i++) {
      if (i === this.selfIndex || hops[i] === UNREACHED) continue;
      routes.set(names[i]!, names[hops[i]!]!);
    }
    return routes;
  }

  private cached(
    cache: Map<PeerName, readonly PeerName[]>,
    source: PeerName,
    adjacency: readonly (readonly number[])[],
  ): readonly PeerName[] {
    let hops = cache.get(source);
    if (hops === undefined) {
      hops = this.relayTargets(source, adjacency);
      cache.set(source, hops);
    }
    return hops;
  }

  /**
   * BFS from the source until our turn comes; our neighbours it has not reached by then are
   * the ones we relay to. Everyone runs the same BFS, so each peer is reached once.
   */
  private relayTargets(source: PeerName, adjacency: readonly (readonly number[])[]): readonly PeerName[] {
    const self = this.selfIndex;
    const start = this.graph.index.get(source);
    if (self === undefined || start === undefined) return [];
    const { hops, stopped } = this.graph.widen(adjacency, start, self);
    if (!stopped) return [];
    const names = this.graph.names;
    return adjacency[self]!.filter((n) => hops[n] === UNREACHED)
      .sort((a, b) => a - b)
      .map((n) => names[n]!);
  }

  /** Next hop → number of destinations reached through it (unicastAll), in name order. */
  private weights(): Map<PeerName, number> {
    if (this.hopWeights === undefined) {
      const counts = new Map<PeerName, number>();
      for (const hop of this.unicastAll.values()) counts.set(hop, (counts.get(hop) ?? 0) + 1);
      this.hopWeights = new Map([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return this.hopWeights;
  }
}
