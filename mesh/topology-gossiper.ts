// The "topology" channel: the router's own gossiper. Its data is a set of peer names; the
// summaries are read from the table when the message is encoded, so merged updates always
// carry the newest state.
import type { GossipData, GossipExchange, Gossiper } from './gossip.js';
import { isPlaceholder, type PeerSummary } from './peer.js';
import { supersedes, type Peers, type UpdateResult } from './peers.js';
import type { PeerName } from './peer-name.js';
import { decodeTopology, encodeTopology } from './topology-codec.js';
import { computeRoutes, type Routes } from './routes.js';

export const TOPOLOGY_CHANNEL = 'topology';

export class TopologyData implements GossipData {
  /** The last encoding and the table generation it was made at: one update relayed to ten neighbours is encoded once. */
  private encoded: { generation: number; bytes: Buffer } | undefined;

  constructor(
    private readonly peers: Peers,
    /** undefined = every peer. */
    readonly names: Set<PeerName> | undefined,
  ) {}

  encode(): Buffer[] {
    const generation = this.peers.generation;
    if (this.encoded?.generation !== generation) this.encoded = { generation, bytes: encodeTopology(this.peers.encodeFor(this.names)) };
    return [this.encoded.bytes];
  }

  /** Whether bytes are exactly our encoding at the table's current generation (none made yet: false). */
  isCurrent(bytes: Buffer): boolean {
    return this.encoded?.generation === this.peers.generation && this.encoded.bytes.equals(bytes);
  }

  merge(other: GossipData): GossipData {
    if (!(other instanceof TopologyData) || this.names === undefined || other.names === undefined) {
      return new TopologyData(this.peers, undefined);
    }
    return new TopologyData(this.peers, new Set([...this.names, ...other.names]));
  }
}

export interface TopologyEvents {
  /** A decoded update was applied (or failed to decode: result undefined, reason given). */
  onUpdate(result: UpdateResult | undefined, reason?: string): void;
}

export class TopologyGossiper implements Gossiper {
  private all: TopologyData | undefined;

  constructor(
    private readonly peers: Peers,
    private readonly events: TopologyEvents,
    /** The routes relays follow (Topology's, at most 100 ms behind the table); by default computed from the table when asked. */
    private readonly routes: () => Routes = () => computeRoutes(peers.self.name, peers),
  ) {}

  /**
   * Who needs an update about the peers in data. weft peers send their own summary to every
   * neighbour (mesh sends it to ~2·log2(N) random ones, each of which relays it to as many:
   * every peer then receives it about 2·log2(N) times). A relay of P's update follows a
   * breadth-first tree rooted at P over the connections both ends list as established (the
   * routes' graph, at most 100 ms behind the table, with P's newest connections): it goes to
   * neighbour X only when X is one level further from P than we are and we are X's designated parent, the lowest-named of
   * X's neighbours on our level, or one of the two lowest when X is three or more hops from P
   * (a second copy where one parent's view may lag; measured at 100 processes, flooding peers
   * more than two hops away was 17 of every 18 relays and 85 % of received updates told the
   * receiver nothing). A neighbour the tree does not reach (our connection to it is not yet in
   * the table) gets it. Where the tree does not reach us, or P dropped a connection the routes
   * still have (the departed peer's subtree would miss it), the rule before the tree applies: skip X when P is connected to X, or when a lower-named peer connects
   * both, otherwise send. A peer then receives each change about once, so the cost of a change
   * is bounded by the degree, not by N. Anti-entropy (periodic full gossip, push-pull answers,
   * repair of missing summaries) mends an update a designated relay missed, for example because
   * views differ or it is a Go peer.
   */
  relayTargets(data: GossipData, neighbours: readonly PeerName[]): PeerName[] | undefined {
    if (!(data instanceof TopologyData) || data.names === undefined) return undefined;
    const self = this.peers.self.name;
    if (data.names.has(self)) return [...neighbours];
    const chosen = new Set<PeerName>();
    for (const n of data.names) {
      const p = this.peers.get(n);
      if (p === undefined || isPlaceholder(p)) continue;
      for (const x of this.treeTargets(p, neighbours)) chosen.add(x);
    }
    return neighbours.filter((x) => chosen.has(x));
  }

  /** relayTargets for one subject. */
  private treeTargets(p: PeerSummary, neighbours: readonly PeerName[]): PeerName[] {
    const links = p.connections.filter((c) => c.established).map((c) => c.name);
    return this.routes().treeRelays(p.name, links, neighbours, (ours) => (ours === 1 ? 1 : 2)) ?? this.nearTargets(p, neighbours);
  }

  /** The rule where the tree does not reach us (views still forming) or P dropped a connection. */
  private nearTargets(p: PeerSummary, neighbours: readonly PeerName[]): PeerName[] {
    const self = this.peers.self.name;
    const pConns = listedNames(p);
    const out: PeerName[] = [];
    for (const x of neighbours) {
      if (x === p.name || pConns.has(x)) continue;
      let lowest: PeerName | undefined;
      for (const c of this.peers.get(x)?.connections ?? []) if (pConns.has(c.name) && (lowest === undefined || c.name < lowest)) lowest = c.name;
      if (lowest === undefined || lowest === self) out.push(x);
    }
    return out;
  }

  onGossipUnicast(): void {}

  onGossipBroadcast(_src: bigint, update: Buffer): GossipData | undefined {
    const r = this.apply(update);
    return r && r.received.size > 0 ? new TopologyData(this.peers, r.received) : undefined;
  }

  gossip(): GossipData {
    // One instance for the complete state, so its encoding is shared until the table changes.
    this.all ??= new TopologyData(this.peers, undefined);
    return this.all;
  }

  onGossip(msg: Buffer): GossipData | undefined {
    return this.exchange(msg, false).delta;
  }

  /**
   * Push-pull anti-entropy. Besides applying the message, answer its sender with what it showed
   * it lacks when the message is a complete table (isComplete): the peers it left out and those
   * it carried older than we know them. A neighbour that missed an update then gets it back from
   * the first complete table it sends anyone (every gossip interval, or sooner: Topology's
   * repair), not only when a neighbour happens to pick it for its own periodic gossip (measured
   * at 100 processes, one missed summary took 130 s to arrive that way). A relayed delta gets no
   * answer: an older version in it is one still being relayed, and the newer one is on its way
   * to the sender too (answering deltas as well, 29 % of all topology messages at 100 processes
   * were answers, and their relays cost more still). The answer names only peers on which the
   * sender is strictly behind, so it never answers back, and it is empty when tables agree.
   */
  exchange(msg: Buffer, answer = true): GossipExchange {
    // A neighbour's periodic full gossip, once the tables agree, is byte for byte the complete
    // table we last sent (both encode in name order): it cannot improve anything, so it is not
    // decoded (at 100 peers a 39 KB decode, ~2 ms).
    if (this.all?.isCurrent(msg)) return { delta: undefined, reply: undefined };
    const d = this.decode(msg);
    if (!d) return { delta: undefined, reply: undefined };
    const r = this.peers.applyUpdate(d);
    this.events.onUpdate(r);
    const delta = r.improved.size > 0 ? new TopologyData(this.peers, r.improved) : undefined;
    if (!answer) return { delta, reply: undefined };
    // Counted, not listed: most messages are deltas, and listing the table for each was O(N)
    // per message (6 % of the CPU of 250 routers in memory).
    if (!isComplete(r.received.size, this.peers.size - this.peers.placeholders())) return { delta, reply: undefined };
    const behind = new Set<PeerName>();
    for (const theirs of d) {
      const ours = theirs.name === this.peers.self.name ? this.peers.self : this.peers.get(theirs.name);
      if (ours !== undefined && !isPlaceholder(ours) && supersedes(ours, theirs)) behind.add(theirs.name);
    }
    for (const p of this.peers.all()) if (!isPlaceholder(p) && !r.received.has(p.name)) behind.add(p.name);
    return { delta, reply: behind.size > 0 ? new TopologyData(this.peers, behind) : undefined };
  }

  private apply(bytes: Buffer): UpdateResult | undefined {
    const d = this.decode(bytes);
    if (!d) return undefined;
    const r = this.peers.applyUpdate(d);
    this.events.onUpdate(r);
    return r;
  }

  private decode(bytes: Buffer): PeerSummary[] | undefined {
    // Most summaries that arrive once a mesh has formed are ones we have (at 100 processes, 61 %
    // of topology messages improved nothing): applyUpdate drops those, and ours, without looking
    // at their connections, so those lists are not read.
    const d = decodeTopology(bytes, (p) => this.peers.ignoresConnectionsOf(p));
    if (d.ok) return d.value;
    this.events.onUpdate(undefined, d.reason);
    return undefined;
  }
}

/** A summary's connection names, cached: summaries never change. */
const listed = new WeakMap<PeerSummary, Set<PeerName>>();
function listedNames(p: PeerSummary): Set<PeerName> {
  let names = listed.get(p);
  if (names === undefined) listed.set(p, (names = new Set(p.connections.map((c) => c.name))));
  return names;
}

/**
 * Whether a message naming `received` peers is taken for a complete table when we know `known`:
 * all but one or at least 90 % of them, in a table of three or more. The bound is at least
 * two thirds of `known`, so an answer is never itself complete enough to be answered: two
 * peers cannot keep sending each other the part the other left out (two disjoint sets cannot
 * both be two thirds of what each side knows). A table of two would answer forever.
 */
export function isComplete(received: number, known: number): boolean {
  return known >= 3 && received >= Math.min(known - 1, 0.9 * known);
}
