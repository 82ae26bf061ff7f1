// Decides whom to dial and when. Targets come from the command line / `weft connect` (direct)
// and, with discovery on, from the topology: for every known peer P and each of P's
// connections to a peer Q we are not connected to, dial the address P dialled (if P's
// connection is outbound) or Q's IP at our mesh port (if inbound).
//
// With a degree (the default, docs/mesh-protocol.md "Sparse mesh"), discovery keeps us connected to
// about that many peers, not to every peer it hears of: below the degree it dials random
// discovered peers, at it or above it starts no discovery dial. Direct targets are always dialled.
// The mesh is then a random graph of bounded degree — connected, with a diameter of a few hops —
// and a change costs each peer work that depends on the degree, not on the number of peers.
//
// Backoff per target: first try at once; after a failure the next try is at a random point in
// [i/2, 3i/2), i starting at 2 s and growing ×1.5 up to 6 min; a connection that lasted a
// minute resets it. Connect-to-self and name collisions are never retried; a peer that refused
// us because its connection limit is reached (it says so in its feature map) is asked again
// after at least 30 s.
import * as C from '../lib/constants.js';
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage, isPermanent } from '../lib/errors.js';
import type { PeerSummary } from './peer.js';
import type { PeerName } from './peer-name.js';
import type { TargetStatus } from './status.js';
import { joinHostPort, splitHostPort } from './transport.js';
import { PeerRefusedError } from './handshake.js';
import { CONN_LIMIT_BACKOFF_MS } from './limits.js';

export interface MakerHost {
  readonly ourName: PeerName;
  /** Our current (registered) connections. */
  ourConnections(): Iterable<{ name: PeerName; remoteAddr: string; outbound: boolean }>;
  /** Every peer in the topology, for discovery. */
  knownPeers(): Iterable<PeerSummary>;
  /**
   * Starts a dial; the host later calls attemptFailed, connected and connectionEnded. `peer` is
   * who we expect there, if known: the host gives up if it gets connected to them meanwhile.
   */
  dial(address: string, acceptNewPeer: boolean, peer: PeerName | undefined): void;
}

export interface MakerOptions {
  port: number;
  discovery: boolean;
  /**
   * How many connections discovery aims for; 0 = every peer it hears of (up to the connection
   * limit, as Weave). Direct targets and inbound connections count towards it.
   */
  degree?: number;
  clock: Clock;
  random: () => number;
  initialMs?: number;
  factor?: number;
  maxMs?: number;
  resetAfterMs?: number;
  /** The least wait after a peer refused us because its connection limit was reached. */
  connLimitMs?: number;
  /** How long refresh() waits to coalesce a burst of changes. */
  refreshMs?: number;
  /**
   * A discovered peer with a lower name than ours gets this long to dial us first, so that two
   * peers who learn of each other at once do not both dial and then drop one connection.
   */
  yieldMs?: number;
}

type TargetState = 'waiting' | 'attempting' | 'connected' | 'suspended';

interface Target {
  state: TargetState;
  /** When to try next; undefined = never. */
  tryAfter: number | undefined;
  interval: number;
  lastError: string | undefined;
  connectedAt: number | undefined;
  /** The peer this address led to last time: while we have a connection to it, we are done. */
  peer: PeerName | undefined;
}

export class ConnectionMaker {
  private readonly targets = new Map<string, Target>();
  /**
   * Backoff of discovered targets dropped while over the degree, so a peer that failed is not
   * dialled at once when it is drawn again.
   */
  private readonly resting = new Map<string, { tryAfter: number | undefined; interval: number }>();
  /** Direct targets as normalised "host:port", with whether a port was given. */
  private direct = new Map<string, { portGiven: boolean; host: string }>();
  private timer: Timer | undefined;
  private refreshQueued = false;
  private stopped = false;
  private readonly o: Required<MakerOptions>;

  constructor(
    private readonly host: MakerHost,
    opts: MakerOptions,
  ) {
    this.o = {
      initialMs: C.BACKOFF_INITIAL_MS,
      factor: C.BACKOFF_FACTOR,
      maxMs: C.BACKOFF_MAX_MS,
      resetAfterMs: C.BACKOFF_RESET_AFTER_MS,
      refreshMs: C.MAKER_REFRESH_MS,
      yieldMs: C.DISCOVERY_YIELD_MS,
      connLimitMs: CONN_LIMIT_BACKOFF_MS,
      degree: 0,
      ...opts,
    };
  }

  /** Adds direct targets (replace: forget the others first). Naming a target again retries it now. */
  initiate(addresses: string[], replace = false): void {
    if (replace) this.direct.clear();
    for (const a of addresses) {
      const hp = splitHostPort(a, this.o.port);
      if (!hp) continue;
      const key = joinHostPort(hp.host, hp.port);
      this.direct.set(key, { portGiven: /:\d+$/.test(a.trim()), host: hp.host });
      const t = this.targets.get(key);
      if (t && (t.state === 'waiting' || t.state === 'suspended')) this.tryNow(t);
    }
    this.refresh();
  }

  /** Removes direct targets; existing connections stay up. */
  forget(addresses: string[]): void {
    for (const a of addresses) {
      const hp = splitHostPort(a, this.o.port);
      if (hp) this.direct.delete(joinHostPort(hp.host, hp.port));
    }
    this.refresh();
  }

  directTargets(): string[] {
    return [...this.direct.keys()];
  }

  /**
   * Re-evaluates targets soon: call on any topology or connection change. A burst of changes
   * costs one pass over the topology (O(connections)), run refreshMs later.
   */
  refresh(): void {
    if (this.refreshQueued || this.stopped) return;
    this.refreshQueued = true;
    this.o.clock.setTimeout(() => {
      this.refreshQueued = false;
      if (!this.stopped) this.run();
    }, this.o.refreshMs);
  }

  attemptFailed(address: string, err: unknown): void {
    const t = this.targets.get(address);
    if (!t) return;
    t.state = 'waiting';
    t.lastError = errorMessage(err);
    if (isPermanent(err)) this.tryNever(t);
    else {
      // A full peer stays full for a while: asking again in 2 s only adds to its load.
      if (err instanceof PeerRefusedError && err.code === 'conn-limit') t.interval = Math.max(t.interval, this.o.connLimitMs);
      this.tryLater(t);
    }
    this.refresh();
  }

  connected(address: string, peer: PeerName): void {
    const t = this.targets.get(address);
    if (!t) return;
    t.state = 'connected';
    t.lastError = undefined;
    t.connectedAt = this.o.clock.now();
    t.peer = peer;
  }

  connectionEnded(address: string, err: unknown): void {
    const t = this.targets.get(address);
    if (!t) return this.refresh();
    t.state = 'waiting';
    t.lastError = errorMessage(err);
    const lived = t.connectedAt === undefined ? 0 : this.o.clock.now() - t.connectedAt;
    t.connectedAt = undefined;
    if (isPermanent(err)) this.tryNever(t);
    else if (lived >= this.o.resetAfterMs) this.tryNow(t);
    else this.tryLater(t);
    this.refresh();
  }

  /** Every target being worked on, plus the direct ones already satisfied by a connection. */
  status(): TargetStatus[] {
    const now = this.o.clock.now();
    const out: TargetStatus[] = [...this.targets].map(([address, t]) => ({
      address,
      state: t.state === 'waiting' && t.tryAfter === undefined ? 'failed' : t.state,
      lastError: t.lastError ?? null,
      retryInMs: t.state === 'waiting' && t.tryAfter !== undefined ? Math.max(0, t.tryAfter - now) : null,
    }));
    const conns = [...this.host.ourConnections()];
    for (const [address, d] of this.direct) {
      if (this.targets.has(address)) continue;
      const covered = conns.some((c) => c.remoteAddr === address || (!d.portGiven && !c.outbound && splitHostPort(c.remoteAddr, 0)?.host === d.host));
      out.push({ address, state: covered ? 'connected' : 'waiting', lastError: null, retryInMs: null });
    }
    return out;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private run(): void {
    const valid = new Set<string>();
    const connectedNames = new Set<PeerName>();
    const connectedAddrs = new Set<string>();
    const inboundIps = new Set<string>();
    for (const c of this.host.ourConnections()) {
      connectedNames.add(c.name);
      connectedAddrs.add(c.remoteAddr);
      if (!c.outbound) inboundIps.add(splitHostPort(c.remoteAddr, 0)?.host ?? '');
    }
    const now = this.o.clock.now();
    let known = 0;
    for (const _ of this.host.knownPeers()) known++;
    const yieldMs = C.scaledDelay(this.o.yieldMs, known);
    const add = (address: string, peer?: PeerName): void => {
      if (connectedAddrs.has(address)) return;
      valid.add(address);
      if (!this.targets.has(address)) {
        const yieldFirst = peer !== undefined && peer < this.host.ourName;
        const rest = this.resting.get(address);
        this.resting.delete(address);
        this.targets.set(address, {
          state: 'waiting',
          tryAfter: rest !== undefined ? rest.tryAfter : yieldFirst ? now + yieldMs * (0.5 + this.o.random()) : now,
          interval: rest?.interval ?? this.o.initialMs,
          lastError: undefined,
          connectedAt: undefined,
          peer,
        });
      }
    };
    for (const [address, d] of this.direct) {
      // Without an explicit port, an inbound connection from that IP already counts.
      if (!d.portGiven && inboundIps.has(d.host)) continue;
      const t = this.targets.get(address);
      // Connected to the peer behind this address (perhaps it dialled us): nothing to do.
      // mesh dials again, and the duplicate-connection tie break then drops one of the two.
      if (t?.peer !== undefined && connectedNames.has(t.peer)) {
        if (t.state !== 'attempting') t.state = 'connected';
        continue;
      }
      if (t?.state === 'connected' && !connectedAddrs.has(address)) {
        t.state = 'waiting';
        this.tryNow(t);
      }
      add(address);
    }
    if (this.o.discovery) this.discover(connectedNames, valid, add);
    this.connectToTargets(valid, now);
  }

  /**
   * Discovered addresses: for every known peer P and each of P's connections to a peer Q we are
   * not connected to, the address P dialled (P's connection is outbound) or Q's IP at our mesh
   * port (inbound). With a degree, only enough of them to reach it, the ones already being tried
   * first, the rest drawn at random.
   */
  private discover(connectedNames: Set<PeerName>, valid: Set<string>, add: (address: string, peer?: PeerName) => void): void {
    // Connections we have, and dials under way for direct targets, count; so do the discovered
    // targets we keep (those being tried first: a dial in flight is never abandoned).
    let budget = this.o.degree - connectedNames.size;
    for (const address of valid) if (this.targets.get(address)?.state === 'attempting') budget--;
    // At the degree, the scan below could only keep discovered dials in flight, and those are
    // left alone whether kept or not (connectToTargets touches waiting targets only): skip it.
    // (Every topology change runs this; at 100 peers the scan is ~1,000 connections.)
    if (this.o.degree > 0 && budget <= 0) return;
    const found = new Map<string, PeerName>();
    for (const p of this.host.knownPeers()) {
      if (p.name === this.host.ourName) continue;
      for (const c of p.connections) {
        if (c.name === this.host.ourName || connectedNames.has(c.name)) continue;
        if (c.outbound) found.set(c.remoteTcpAddr, c.name);
        else {
          const hp = splitHostPort(c.remoteTcpAddr, 0);
          if (hp) found.set(joinHostPort(hp.host, this.o.port), c.name);
        }
      }
    }
    if (this.o.degree <= 0) {
      for (const [address, peer] of found) add(address, peer);
      return;
    }
    const peersTaken = new Set<PeerName>(connectedNames);
    const ranked = [...found].filter(([address]) => !valid.has(address));
    // Dials under way, then targets due now, then new ones, then those still backing off.
    const now = this.o.clock.now();
    const order = (a: string): number => {
      const t = this.targets.get(a);
      if (t?.state === 'attempting') return 0;
      const after = t ? t.tryAfter : this.resting.get(a)?.tryAfter;
      if (t === undefined && after === undefined) return 2;
      return after !== undefined && after <= now ? 1 : 3;
    };
    shuffle(ranked, this.o.random);
    ranked.sort(([a], [b]) => order(a) - order(b));
    for (const [address, peer] of ranked) {
      if (peersTaken.has(peer)) continue;
      if (budget <= 0 && this.targets.get(address)?.state !== 'attempting') continue;
      peersTaken.add(peer);
      add(address, peer);
      budget--;
    }
  }

  private connectToTargets(valid: Set<string>, now: number): void {
    for (const [address, r] of this.resting) if (r.tryAfter !== undefined && r.tryAfter <= now) this.resting.delete(address);
    let next = Infinity;
    for (const [address, t] of this.targets) {
      if (t.state !== 'waiting' && t.state !== 'suspended') continue;
      if (!valid.has(address)) {
        if (this.direct.has(address)) t.state = 'suspended';
        else {
          this.targets.delete(address);
          if (t.tryAfter === undefined || t.tryAfter > now) this.resting.set(address, { tryAfter: t.tryAfter, interval: t.interval });
        }
        continue;
      }
      t.state = 'waiting';
      if (t.tryAfter === undefined) continue;
      if (t.tryAfter <= now) {
        t.state = 'attempting';
        this.host.dial(address, this.direct.has(address), t.peer);
      } else next = Math.min(next, t.tryAfter);
    }
    this.timer?.cancel();
    this.timer = next < Infinity ? this.o.clock.setTimeout(() => this.run(), next - now) : undefined;
  }

  private tryNow(t: Target): void {
    t.tryAfter = this.o.clock.now();
    t.interval = this.o.initialMs;
  }

  private tryNever(t: Target): void {
    t.tryAfter = undefined;
    t.interval = this.o.maxMs;
  }

  private tryLater(t: Target): void {
    t.tryAfter = this.o.clock.now() + t.interval / 2 + this.o.random() * t.interval;
    t.interval = Math.min(t.interval * this.o.factor, this.o.maxMs);
  }
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}
