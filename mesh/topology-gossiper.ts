// The "topology" channel: the router's own gossiper. Its data is a set of peer names; the
// summaries are read from the table when the message is encoded, so merged updates always
// carry the newest state.
import type { GossipData, Gossiper } from './gossip.js';
import type { Peers, UpdateResult } from './peers.js';
import type { PeerName } from './peer-name.js';
import { decodeTopology, encodeTopology } from './topology-codec.js';

export const TOPOLOGY_CHANNEL = 'topology';

export class TopologyData implements GossipData {
  constructor(
    private readonly peers: Peers,
    /** undefined = every peer. */
    readonly names: Set<PeerName> | undefined,
  ) {}

  encode(): Buffer[] {
    return [encodeTopology(this.peers.encodeFor(this.names))];
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
  constructor(
    private readonly peers: Peers,
    private readonly events: TopologyEvents,
    private readonly random: () => number,
  ) {}

  /**
   * Who needs an update about the peers in data. weft peers send their own summary to every
   * neighbour (mesh sends it to ~2·log2(N) random ones, each of which relays it to as many:
   * every peer then receives it about 2·log2(N) times). So a relay can skip neighbour X when
   * every peer in the update is connected to X: X heard from that peer directly. In a full
   * mesh nothing is relayed and each peer receives each update once. Relays are capped at
   * log2(N) random neighbours (mesh: 2·log2(N)), so a forming or sparse mesh does not flood:
   * at 100 in-process routers that halved the gossip (22.6 → 13.6 MB per peer). Anti-entropy
   * (periodic full gossip) repairs what a lost or raced update missed.
   */
  relayTargets(data: GossipData, neighbours: readonly PeerName[]): PeerName[] | undefined {
    if (!(data instanceof TopologyData) || data.names === undefined) return undefined;
    const self = this.peers.self.name;
    if (data.names.has(self)) return [...neighbours];
    const subjects = [...data.names].map((n) => this.peers.get(n));
    const needs = neighbours.filter((x) => subjects.some((p) => p !== undefined && p.name !== x && !p.connections.some((c) => c.name === x)));
    const fanout = Math.max(1, Math.ceil(Math.log2(this.peers.size)));
    for (let i = needs.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [needs[i], needs[j]] = [needs[j]!, needs[i]!];
    }
    return needs.slice(0, fanout);
  }

  onGossipUnicast(): void {}

  onGossipBroadcast(_src: bigint, update: Buffer): GossipData | undefined {
    const r = this.apply(update);
    return r && r.received.size > 0 ? new TopologyData(this.peers, r.received) : undefined;
  }

  gossip(): GossipData {
    return new TopologyData(this.peers, undefined);
  }

  onGossip(msg: Buffer): GossipData | undefined {
    const r = this.apply(msg);
    return r && r.improved.size > 0 ? new TopologyData(this.peers, r.improved) : undefined;
  }

  private apply(bytes: Buffer): UpdateResult | undefined {
    const d = decodeTopology(bytes);
    if (!d.ok) {
      this.events.onUpdate(undefined, d.reason);
      return undefined;
    }
    const r = this.peers.applyUpdate(d.peers);
    this.events.onUpdate(r);
    return r;
  }
}
