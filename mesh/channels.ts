// Gossip channels: the registry, the handling of received gossip (tags 4, 5, 6) and relaying.
//   tag 4 gossip     → gossiper.onGossip → delta relayed to random neighbours (not the sender);
//                      with gossiper.exchange, also a reply to the sender (push-pull)
//   tag 6 broadcast  → gossiper.onGossipBroadcast → result relayed along src's broadcast tree
//   tag 5 unicast    → for us: gossiper.onGossipUnicast; otherwise the bytes go on unchanged
// Channels nobody registered get a surrogate that relays without understanding.
import type { Clock } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { MeshConnection } from './connection.js';
import type { GossipChannel, GossipData, Gossiper } from './gossip.js';
import { decodeGossip, encodeGossip } from './gossip-codec.js';
import type { GossipSender } from './gossip-sender.js';
import type { PeerName } from './peer-name.js';
import { Tag } from './protocol.js';
import type { Routes } from './routes.js';
import { SurrogateGossiper } from './surrogate-gossiper.js';

export interface ChannelsDeps {
  ourName: PeerName;
  clock: Clock;
  gossipIntervalMs: number;
  routes(): Routes;
  random(): number;
  connection(name: PeerName): MeshConnection | undefined;
  /** Peers we have a connection to. */
  neighbours(): PeerName[];
  sender(conn: MeshConnection): GossipSender;
  drop(reason: string, detail?: string): void;
  log: Logger;
}

class Channel implements GossipChannel {
  constructor(
    readonly name: string,
    readonly gossiper: Gossiper,
    private readonly d: ChannelsDeps,
  ) {}

  gossipUnicast(dst: PeerName, msg: Buffer): void {
    this.forwardUnicast(dst, encodeGossip({ channel: this.name, src: this.d.ourName, dst, payload: msg }));
  }

  gossipBroadcast(data: GossipData): void {
    this.relayBroadcast(this.d.ourName, data);
  }

  gossipNeighbourSubset(data: GossipData): void {
    this.relayGossip(undefined, data);
  }

  relayGossip(except: PeerName | undefined, data: GossipData): void {
    const chosen = this.gossiper.relayTargets?.(data, this.d.neighbours().filter((n) => n !== except));
    for (const hop of chosen ?? this.d.routes().randomNeighbours(except, this.d.random)) {
      const conn = this.d.connection(hop);
      if (conn) this.d.sender(conn).sendGossip(this.name, data);
    }
  }

  relayBroadcast(src: PeerName, data: GossipData): void {
    // Our own broadcast goes to every neighbour: each is a child of the tree rooted at us, and
    // the live connections include one the routes do not have yet (they are recomputed 100 ms
    // after a change), which would otherwise miss an update made just after it came up.
    const hops = src === this.d.ourName ? this.d.neighbours() : this.d.routes().broadcastAll(src);
    for (const hop of hops) {
      const conn = this.d.connection(hop);
      if (conn) this.d.sender(conn).sendBroadcast(this.name, src, data);
    }
  }

  forwardUnicast(dst: PeerName, body: Buffer): void {
    const hop = this.d.routes().unicastAll.get(dst);
    const conn = hop === undefined ? undefined : this.d.connection(hop);
    if (!conn) return this.d.drop('no-route', `unicast on ${this.name} to ${dst.toString(16)}`);
    conn.send(Tag.GossipUnicast, body);
  }
}

export class Channels {
  private readonly byName = new Map<string, Channel>();
  /** Connections that have brought us gossip (tag 4) before: their next ones get push-pull replies. */
  private readonly heard = new WeakSet<MeshConnection>();
  /** The envelope emit made last, for the same payload going down the next connection. */
  private lastEnvelope: { channel: string; src: PeerName; payload: Buffer; bytes: Buffer } | undefined;

  constructor(private readonly d: ChannelsDeps) {}

  register(name: string, gossiper: Gossiper): GossipChannel {
    const existing = this.byName.get(name);
    if (existing && !(existing.gossiper instanceof SurrogateGossiper)) throw new Error(`gossip channel ${name} is already registered`);
    const ch = new Channel(name, gossiper, this.d);
    this.byName.set(name, ch);
    // What arrived before we registered (relayed by the surrogate, not understood) is applied now.
    if (existing?.gossiper instanceof SurrogateGossiper) {
      try {
        existing.gossiper.replay(gossiper);
      } catch (err) {
        this.d.log.warn({ channel: name, err: errorMessage(err) }, 'could not apply gossip received before the channel was registered');
      }
    }
    return ch;
  }

  get(name: string): GossipChannel | undefined {
    return this.byName.get(name);
  }

  /** Handles a gossip message; returns a reason if it was malformed (the caller drops the connection). */
  handle(from: MeshConnection, tag: Tag, body: Buffer): string | undefined {
    const r = decodeGossip(body, tag === Tag.GossipUnicast);
    if (!r.ok) return r.reason;
    const { channel: name, src, dst, payload } = r.value;
    const ch = this.byName.get(name) ?? this.surrogate(name);
    try {
      if (tag === Tag.Gossip) {
        const first = !this.heard.has(from);
        if (first) this.heard.add(from);
        if (ch.gossiper.exchange && !first) {
          const { delta, reply } = ch.gossiper.exchange(payload);
          if (reply) this.d.sender(from).sendGossip(name, reply);
          if (delta) ch.relayGossip(from.remote.name, delta);
        } else {
          const delta = ch.gossiper.onGossip(payload);
          if (delta) ch.relayGossip(from.remote.name, delta);
        }
      } else if (tag === Tag.GossipBroadcast) {
        const relay = ch.gossiper.onGossipBroadcast(src, payload);
        if (relay) ch.relayBroadcast(src, relay);
      } else if (dst === this.d.ourName) {
        ch.gossiper.onGossipUnicast(src, payload);
      } else {
        ch.forwardUnicast(dst!, body);
      }
    } catch (err) {
      return `channel ${name}: ${errorMessage(err)}`;
    }
    return undefined;
  }

  /** Writes one gossip message for a sender (called when it flushes). */
  emit(conn: MeshConnection, kind: 'gossip' | 'broadcast', channel: string, src: PeerName, msg: Buffer): void {
    // One update relayed to every neighbour is one payload (TopologyData caches its encoding):
    // its envelope is made once too.
    let e = this.lastEnvelope;
    if (e?.payload !== msg || e.channel !== channel || e.src !== src) {
      e = this.lastEnvelope = { channel, src, payload: msg, bytes: encodeGossip({ channel, src, payload: msg }) };
    }
    conn.send(kind === 'gossip' ? Tag.Gossip : Tag.GossipBroadcast, e.bytes);
  }

  /** Every channel's complete state down one connection (new or restarted peer). */
  sendAllGossipDown(conn: MeshConnection): void {
    for (const ch of this.byName.values()) {
      const data = ch.gossiper.gossip();
      if (data) this.d.sender(conn).sendGossip(ch.name, data);
    }
  }

  /**
   * Anti-entropy, each gossip interval: every channel's complete state to ONE neighbour, drawn
   * as mesh draws its random neighbours. mesh sends it to ~2·log2(N) of them: the complete
   * topology is O(N²) bytes, so at 100 peers that is ~4.5 MB per peer every 30 s, enough to
   * keep a host busy. One neighbour per round still spreads a missed update in O(log N) rounds,
   * and its push-pull answer (Gossiper.exchange) brings back what we missed. `only`: one channel.
   */
  periodicGossip(only?: string): void {
    const hop = this.d.routes().randomNeighbours(undefined, this.d.random)[0];
    const conn = hop === undefined ? undefined : this.d.connection(hop);
    if (!conn) return;
    for (const ch of this.byName.values()) {
      if (only !== undefined && ch.name !== only) continue;
      const data = ch.gossiper.gossip();
      if (data) this.d.sender(conn).sendGossip(ch.name, data);
    }
  }

  private surrogate(name: string): Channel {
    const ch = new Channel(name, new SurrogateGossiper(this.d.clock, this.d.gossipIntervalMs), this.d);
    this.byName.set(name, ch);
    return ch;
  }
}
