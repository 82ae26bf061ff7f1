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
  ) {}

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
