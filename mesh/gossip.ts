// The gossip contract, as mesh defines it, so later subsystems (endpoints, IPAM) add channels
// without touching the protocol.

/** A piece of channel state that can be merged with more of the same and sent. */
export interface GossipData {
  /** One or more self-contained messages carrying this data. */
  encode(): Buffer[];
  /** Folds other into this (used while a connection is busy); returns the merged data. */
  merge(other: GossipData): GossipData;
}

/** What a channel's owner implements. */
export interface Gossiper {
  /** A unicast message addressed to us. */
  onGossipUnicast(src: bigint, msg: Buffer): void;
  /** A broadcast from src; returns what to relay further along src's broadcast tree, if anything. */
  onGossipBroadcast(src: bigint, update: Buffer): GossipData | undefined;
  /** The complete state, sent periodically and to new neighbours; undefined if there is none. */
  gossip(): GossipData | undefined;
  /** A gossip message; returns the delta it taught us (relayed to some neighbours), if any. */
  onGossip(msg: Buffer): GossipData | undefined;
  /**
   * Optional, used instead of onGossip when present (push-pull anti-entropy): besides the delta,
   * what the sender lacks or has older than we do, sent back to the sender alone. The first
   * gossip on a connection goes to onGossip: it crossed our own complete state on the wire.
   */
  exchange?(msg: Buffer): GossipExchange;
  /**
   * Optional: which of these neighbours to send data to, instead of mesh's random subset of
   * ~2·log2(N). Return undefined to keep the default.
   */
  relayTargets?(data: GossipData, neighbours: readonly bigint[]): bigint[] | undefined;
}

/** What one received gossip message gives: the delta to relay, and the reply to its sender. */
export interface GossipExchange {
  delta: GossipData | undefined;
  reply: GossipData | undefined;
}

/** What a channel's owner uses to send. */
export interface GossipChannel {
  readonly name: string;
  /** Routes msg hop by hop to dst. Dropped (and counted) if there is no route. */
  gossipUnicast(dst: bigint, msg: Buffer): void;
  /** Sends data to every peer along our broadcast tree. */
  gossipBroadcast(data: GossipData): void;
  /** Sends data to a random subset of neighbours, who relay what is new to them. */
  gossipNeighbourSubset(data: GossipData): void;
}

/** GossipData over opaque byte messages, merged by concatenation (for relaying as-is). */
export class BytesGossipData implements GossipData {
  constructor(readonly messages: Buffer[]) {}
  encode(): Buffer[] {
    return this.messages;
  }
  merge(other: GossipData): GossipData {
    return new BytesGossipData([...this.messages, ...other.encode()]);
  }
}
