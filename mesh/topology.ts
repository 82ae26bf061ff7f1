// The one owner of the topology table and the routes computed from it, and of the timers
// that pace them: our own summary is announced at most once per coalescing window, routes are
// recomputed 100 ms after a burst of changes, unreachable peers are collected 1 s after one,
// and a summary we are missing is asked for (repair) 2 s after we notice it.
import * as C from '../lib/constants.js';
import type { Clock, Timer } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { ConnectionSummary, PeerSummary } from './peer.js';
import { formatPeerName, type PeerName } from './peer-name.js';
import { Peers, type HandshakePeer } from './peers.js';
import { computeRoutes, sameNextHops, type Routes } from './routes.js';
import { TopologyData, TopologyGossiper } from './topology-gossiper.js';

export interface TopologyDeps {
  self: { name: PeerName; nickname: string; uid: bigint };
  clock: Clock;
  random: () => number;
  log: Logger;
  timings: { topologyCoalesceMs: number; gcDeferMs: number; routesDeferMs: number; repairMs: number; gossipIntervalMs: number };
  /** Peers never collected, though unreachable by the table (those we have connections to). */
  keep(): Iterable<PeerName>;
  /** Sends an update naming these peers to the neighbours (the topology channel). */
  announce(data: TopologyData): void;
  /** Sends our complete table to one neighbour, whose push-pull answer fills what we lack. */
  repair(): void;
  /** The table changed: routes are on their way; targets may have changed. */
  changed(): void;
  /** Peers that became unreachable were removed. */
  removed(peers: PeerSummary[]): void;
  /** Routes were recomputed and a unicast next hop differs from before. */
  routesChanged(routes: Routes): void;
  /** Malformed topology input, counted by the caller. */
  drop(reason: string, detail?: string): void;
}

export class Topology {
  readonly peers: Peers;
  /** The topology channel's gossiper; the router registers it. */
  readonly gossiper: TopologyGossiper;
  private routesValue: Routes;
  private pending = new Set<PeerName>();
  private readonly timers: { routes?: Timer; gc?: Timer; announce?: Timer; repair?: Timer } = {};
  private repairWait: number;
  private lastAnnounced = -Infinity;
  private stopped = false;

  constructor(private readonly d: TopologyDeps) {
    this.peers = new Peers(d.self, d.random);
    this.repairWait = d.timings.repairMs;
    this.routesValue = computeRoutes(d.self.name, this.peers);
    this.gossiper = new TopologyGossiper(
      this.peers,
      {
        onUpdate: (r, reason) => {
          if (!r) return d.drop('malformed-topology', reason);
          if (r.rejected > 0) d.drop('invalid-peer-summary', `${r.rejected} invalid entries`);
          if (r.improved.size > 0 || r.selfChanged) this.tableChanged();
          // An old incarnation of us is out there, or we had to take a new short ID: make sure
          // our current summary wins everywhere.
          if (r.oldIncarnation || r.selfChanged) this.announce([]);
        },
      },
      () => this.routesValue,
    );
  }

  get routes(): Routes {
    return this.routesValue;
  }

  /** Records a peer met in a handshake (a lower-named one may take our short ID: announced below). */
  learn(peer: HandshakePeer): void {
    this.peers.learn(peer);
  }

  /**
   * Our connections changed: bump our version and announce it, with the summaries of `fresh`
   * peers others may not know yet. `collectNow` runs GC at once (after a connection closed).
   */
  localConnections(conns: ConnectionSummary[], fresh: PeerName[], collectNow = false): void {
    this.peers.setLocalConnections(conns);
    this.announce(fresh);
    this.tableChanged();
    if (collectNow) this.scheduleGc(0);
  }

  stop(): void {
    this.stopped = true;
    for (const t of Object.values(this.timers)) t?.cancel();
  }

  /** Routes, targets and GC after any change of the table. */
  private tableChanged(): void {
    this.scheduleRoutes();
    this.scheduleGc(this.d.timings.gcDeferMs);
    this.scheduleRepair();
    this.d.changed();
  }

  /**
   * A placeholder is a peer someone lists as a connection but whose summary never reached us:
   * normal for the moment between two updates, a missed update if it lasts. Each check that
   * still finds one asks a neighbour (repair) and waits twice as long before the next, up to
   * the gossip interval; a check that finds none ends it, until the table changes again.
   */
  private scheduleRepair(): void {
    if (this.timers.repair || this.stopped) return;
    this.timers.repair = this.d.clock.setTimeout(() => {
      this.timers.repair = undefined;
      if (this.peers.placeholders() === 0) {
        this.repairWait = this.d.timings.repairMs;
        return;
      }
      this.d.repair();
      this.repairWait = Math.min(this.repairWait * 2, this.d.timings.gossipIntervalMs);
      this.scheduleRepair();
    }, this.repairWait);
  }

  /**
   * Our summary (and the named ones) go out at most once per coalescing window: at once (the
   * next turn) when the last announcement is a window old, so a lone change (a connection
   * lost, a peer back) costs no wait; otherwise at the end of the window, with everything that
   * changed meanwhile.
   */
  private announce(names: PeerName[]): void {
    this.pending.add(this.d.self.name);
    for (const n of names) this.pending.add(n);
    if (this.timers.announce || this.stopped) return;
    const window = C.scaledDelay(this.d.timings.topologyCoalesceMs, this.peers.size);
    this.timers.announce = this.d.clock.setTimeout(
      () => {
        this.timers.announce = undefined;
        this.lastAnnounced = this.d.clock.now();
        const names = this.pending;
        this.pending = new Set();
        this.d.announce(new TopologyData(this.peers, names));
      },
      Math.max(0, this.lastAnnounced + window - this.d.clock.now()),
    );
  }

  private scheduleRoutes(): void {
    if (this.timers.routes || this.stopped) return;
    this.timers.routes = this.d.clock.setTimeout(() => {
      this.timers.routes = undefined;
      const before = this.routesValue;
      this.routesValue = computeRoutes(this.d.self.name, this.peers, before);
      if (!sameNextHops(before, this.routesValue)) this.d.routesChanged(this.routesValue);
    }, this.d.timings.routesDeferMs);
  }

  private scheduleGc(ms: number): void {
    if ((this.timers.gc && ms > 0) || this.stopped) return;
    this.timers.gc?.cancel();
    this.timers.gc = this.d.clock.setTimeout(() => {
      this.timers.gc = undefined;
      const before = this.peers.self.version;
      const removed = this.peers.garbageCollect(this.d.keep());
      // GC may free a short ID we were waiting for; our summary then changed.
      if (this.peers.self.version !== before) this.announce([]);
      if (removed.length === 0) return;
      this.d.log.info({ peers: removed.map((p) => formatPeerName(p.name)) }, 'removed unreachable peers');
      this.scheduleRoutes();
      this.d.removed(removed);
    }, ms);
  }
}
