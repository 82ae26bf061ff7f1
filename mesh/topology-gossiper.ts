// The "topology" channel: the router's own gossiper. Its data is a set of peer names; the
// summaries are read from the table when the message is encoded, so merged updates always
// carry the newest state.
import type { GossipData, GossipExchange, Gossiper } from './gossip.js';
import { isPlaceholder, type PeerSummary } from './peer.js';
import { supersedes, type Peers, type UpdateResult } from './peers.js';
import type { PeerName } from './peer-name.js';
import { decodeTopology, encodeTopology } from './topology-codec.js';

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
  ) {}

  /**
   * Who needs an update about the peers in data. weft peers send their own summary to every
   * neighbour (mesh sends it to ~2·log2(N) random ones, each of which relays it to as many:
   * every peer then receives it about 2·log2(N) times). A relay then skips neighbour X when:
   * - every peer P in the update is connected to X (X heard from P directly); or
   * - for each P that is not, some peer connected to both P and X has a lower name than ours:
   *   that one is the designated relay from P to X, so X gets P's update once, not once from
   *   every common neighbour (measured at 100 in-process routers, relays outnumbered our own
   *   updates 30 to 1 before this rule).
   * Where P and X have no common neighbour (a sparse mesh, peers two or more hops from P), the
   * update floods: every relay that learnt something from it passes it to every such neighbour,
   * and a peer that already has it relays nothing. A peer then receives each change at most once
   * per connection it has, so the cost of a change is bounded by the degree, not by N, and an
   * update reaches everyone over every path left (with a random subset of log2(N) relays, as
   * before, a departed peer's last update missed some peers until anti-entropy, 27 s at N=25).
   * Anti-entropy (periodic full gossip) repairs an update a designated relay missed, for example
   * because views differ or it is a Go peer.
   */
  relayTargets(data: GossipData, neighbours: readonly PeerName[]): PeerName[] | undefined {
    if (!(data instanceof TopologyData) || data.names === undefined) return undefined;
    const self = this.peers.self.name;
    if (data.names.has(self)) return [...neighbours];
    const subjects: { name: PeerName; conns: Set<PeerName> }[] = [];
    for (const n of data.names) {
      const p = this.peers.get(n);
      if (p) subjects.push({ name: n, conns: new Set(p.connections.map((c) => c.name)) });
    }
    const designated: PeerName[] = [];
    const needs: PeerName[] = [];
    for (const x of neighbours) {
      const xConns = this.peers.get(x)?.connections ?? [];
      let mine = false;
      let multiHop = false;
      for (const p of subjects) {
        if (p.name === x || p.conns.has(x)) continue;
        let lowest: PeerName | undefined;
        for (const c of xConns) if (p.conns.has(c.name) && (lowest === undefined || c.name < lowest)) lowest = c.name;
        if (lowest === undefined) multiHop = true;
        else if (lowest === self) mine = true;
      }
      if (mine) designated.push(x);
      else if (multiHop) needs.push(x);
    }
    return [...designated, ...needs];
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
   * it lacks: peers it sent older than we know them, and, when the message is a complete table
   * (isComplete; a relayed delta names a few peers), the peers it left out. A neighbour that missed an update then gets it back from the first complete
   * table it sends anyone (every gossip interval, or sooner: Topology's repair), not only when
   * a neighbour happens to pick it for its own periodic gossip (measured at 100 processes, one
   * missed summary took 130 s to arrive that way). The answer names only peers on which the
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
    const behind = new Set<PeerName>();
    for (const theirs of d) {
      const ours = theirs.name === this.peers.self.name ? this.peers.self : this.peers.get(theirs.name);
      if (ours !== undefined && !isPlaceholder(ours) && supersedes(ours, theirs)) behind.add(theirs.name);
    }
    const known = [...this.peers.all()].filter((p) => !isPlaceholder(p));
    if (isComplete(r.received.size, known.length)) for (const p of known) if (!r.received.has(p.name)) behind.add(p.name);
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
    const d = decodeTopology(bytes);
    if (d.ok) return d.value;
    this.events.onUpdate(undefined, d.reason);
    return undefined;
  }
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
