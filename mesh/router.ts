// The mesh router: owns the connections, the topology table, the routes and the gossip
// channels of one peer. Everything runs on Node's single thread; state changes happen only in
// the handlers below, never across an await that another handler could slip into.
//
//   listen/dial ─► MeshConnection.open (intro) ─► register() ─► conn.start()
//   conn message ─► onMessage ─► heartbeat | gossip (channels.ts) ─► gossipers
//   connection set changes ─► peers.setLocalConnections ─► topology update (coalesced 1 s)
//                                                       ─► routes (deferred 100 ms), GC (1 s)
//   events: 'topology' when the table changes; 'routes' once the recomputed routes differ
import { randomBytes } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import * as C from '../lib/constants.js';
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage, WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { Channels } from './channels.js';
import { ConnectionMaker } from './connection-maker.js';
import { MeshConnection, type ConnectionTimings } from './connection.js';
import { encodeFeatures, type RemoteFeatures } from './features.js';
import type { GossipChannel, Gossiper } from './gossip.js';
import { GossipSender } from './gossip-sender.js';
import { isPlaceholder, type ConnectionSummary, type PeerSummary } from './peer.js';
import { formatPeerName, type PeerName } from './peer-name.js';
import type { Peers } from './peers.js';
import { Tag } from './protocol.js';
import type { Routes } from './routes.js';
import { AcceptGate } from './accept-gate.js';
import { INBOUND_HANDSHAKE_TIMEOUT_MS } from './limits.js';
import { Admission } from './admission.js';
import { LivenessGroup } from './liveness.js';
import { StreamReader } from './stream-reader.js';
import { TOPOLOGY_CHANNEL } from './topology-gossiper.js';
import { Topology } from './topology.js';
import { splitHostPort, type Conn, type Listener, type Transport } from './transport.js';
import { RouterStatusView } from './router-status.js';
import type { ConnectionStatus, MeshControl, PeerStatus, RouterStatus } from './status.js';

export interface RouterTimings extends ConnectionTimings {
  gossipIntervalMs?: number;
  topologyCoalesceMs?: number;
  gcDeferMs?: number;
  routesDeferMs?: number;
  repairMs?: number;
  handshakeTimeoutMs?: number;
  /** Inbound: from accept to the end of the intro, queueing included. */
  inboundHandshakeTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export interface RouterOptions {
  name: PeerName;
  nickname: string;
  /** Random per start if omitted. */
  uid?: bigint;
  host: string;
  port: number;
  password?: Buffer;
  connLimit: number;
  discovery: boolean;
  /** How many connections discovery aims for; 0 or undefined = every peer it learns of. */
  degree?: number;
  transport: Transport;
  clock: Clock;
  random?: () => number;
  log: Logger;
  timings?: RouterTimings;
  /** Bounds on inbound connections in their handshake (defaults in limits.ts). */
  acceptLimits?: { maxPending?: number; maxPerHost?: number };
}

/** A connection attempt or handshake in progress, or one that failed recently (for status). */
interface Attempt {
  address: string;
  outbound: boolean;
  state: 'connecting' | 'handshaking';
  target: string | undefined;
  /** The transport connection, once there is one. */
  conn?: Conn;
}

interface Failure {
  address: string;
  outbound: boolean;
  peer: PeerName | undefined;
  reason: string;
  at: number;
}

const FAILURE_MEMORY_MS = 5 * 60_000;
const SHED_LOG_MS = 10_000;
const MAX_FAILURES = 100;

export interface RouterEvents {
  /** The topology changed (peers added, removed or updated); routes follow up to 100 ms later. */
  topology: [];
  /**
   * Routes were recomputed and a next hop changed (`unicast` or `unicastAll`: a destination
   * appeared, went or moves through another neighbour). React to this, not to 'topology', for
   * anything that depends on reachability.
   */
  routes: [Routes];
  /** Peers that became unreachable and were removed from the table. */
  'peers-removed': [PeerSummary[]];
  /** A connection finished its handshake and is registered (the ESP key exchange starts on it). */
  'connection-up': [ConnectionUp];
  /** A registered connection closed. */
  'connection-down': [{ peer: PeerName; uid: bigint }];
}

/** What the data plane's key exchange needs to know about a new direct connection. */
export interface ConnectionUp {
  peer: PeerName;
  /** Shared by both ends. */
  uid: bigint;
  /** We dialled it: the key exchange's initiator. */
  outbound: boolean;
  /** Password-bound session key; undefined without a password. */
  sessionKey: Buffer | undefined;
  localAddr: string;
  remoteAddr: string;
}

export class MeshRouter extends EventEmitter<RouterEvents> {
  readonly name: PeerName;
  readonly uid: bigint;
  private readonly topology: Topology;
  private readonly conns = new Map<PeerName, MeshConnection>();
  /** The target address each outbound connection was dialled for. */
  private readonly connTarget = new Map<MeshConnection, string>();
  private readonly senders = new Map<MeshConnection, GossipSender>();
  private readonly attempts = new Set<Attempt>();
  private failures: Failure[] = [];
  private readonly maker: ConnectionMaker;
  private readonly channels: Channels;
  private readonly accept: AcceptGate;
  /** One timer for the heartbeats and read deadlines of every connection. */
  private readonly liveness: LivenessGroup;
  private readonly admission: Admission;
  /** Sheds since the last summary line (one per SHED_LOG_MS, not one per connection). */
  private shedSinceLog = 0;
  private shedLogAt = 0;
  private readonly random: () => number;
  private readonly t: Required<RouterTimings>;
  private listener: Listener | undefined;
  private periodic: Timer | undefined;
  private readonly dropped: Record<string, number> = {};
  private readonly closedBytes = { sent: 0, received: 0 };
  private state: 'new' | 'running' | 'stopped' = 'new';
  /** Aborted by stop(): ends dials still in their TCP connect. */
  private readonly lifetime = new AbortController();
  private readonly statusView: RouterStatusView;

  constructor(private readonly o: RouterOptions) {
    super();
    this.name = o.name;
    this.uid = o.uid ?? randomUid();
    this.random = o.random ?? Math.random;
    this.t = {
      gossipIntervalMs: C.GOSSIP_INTERVAL_MS,
      topologyCoalesceMs: C.TOPOLOGY_COALESCE_MS,
      gcDeferMs: C.GC_DEFER_MS,
      routesDeferMs: C.ROUTES_DEFER_MS,
      repairMs: C.TOPOLOGY_REPAIR_MS,
      handshakeTimeoutMs: C.HEADER_TIMEOUT_MS,
      inboundHandshakeTimeoutMs: Math.min(INBOUND_HANDSHAKE_TIMEOUT_MS, o.timings?.handshakeTimeoutMs ?? C.HEADER_TIMEOUT_MS),
      heartbeatMs: C.HEARTBEAT_INTERVAL_MS,
      readDeadlineMs: C.READ_DEADLINE_MS,
      fastHeartbeatMs: C.FAST_HEARTBEAT_INTERVAL_MS,
      fastReadDeadlineMs: C.FAST_READ_DEADLINE_MS,
      backoffInitialMs: C.BACKOFF_INITIAL_MS,
      backoffMaxMs: C.BACKOFF_MAX_MS,
      ...o.timings,
    };
    this.liveness = new LivenessGroup(o.clock);
    this.admission = new Admission({
      name: this.name,
      uid: this.uid,
      nickname: o.nickname,
      connLimit: o.connLimit,
      conns: this.conns,
      routesTo: (peer) => this.topology.routes.unicast.has(peer),
      degreeOf: (peer) => (this.peers.get(peer)?.connections ?? []).filter((c) => c.name !== this.name).length,
      directTargets: () => this.maker.directTargets(),
      targetOf: (mc) => this.connTarget.get(mc),
    });
    this.accept = new AcceptGate({ clock: o.clock, timeoutMs: this.t.inboundHandshakeTimeoutMs, ...o.acceptLimits });
    this.topology = new Topology({
      self: { name: o.name, nickname: o.nickname, uid: this.uid },
      clock: o.clock,
      random: this.random,
      log: o.log,
      timings: this.t,
      keep: () => this.conns.keys(),
      announce: (data) => this.channels.get(TOPOLOGY_CHANNEL)!.gossipNeighbourSubset(data),
      repair: () => this.channels.periodicGossip(TOPOLOGY_CHANNEL),
      changed: () => {
        this.maker.refresh();
        this.emit('topology');
      },
      removed: (peers) => {
        this.emit('peers-removed', peers);
        this.emit('topology');
      },
      routesChanged: (routes) => this.emit('routes', routes),
      drop: (reason, detail) => this.count(reason, detail),
    });
    this.channels = new Channels({
      ourName: this.name,
      clock: o.clock,
      gossipIntervalMs: this.t.gossipIntervalMs,
      routes: () => this.topology.routes,
      random: this.random,
      connection: (name) => this.conns.get(name),
      neighbours: () => [...this.conns.keys()],
      sender: (conn) => this.senderFor(conn),
      drop: (reason, detail) => this.count(reason, detail),
      log: o.log,
    });
    this.channels.register(TOPOLOGY_CHANNEL, this.topology.gossiper);
    this.maker = new ConnectionMaker(
      {
        ourName: this.name,
        ourConnections: () => [...this.conns.values()].map((c) => ({ name: c.remote.name, remoteAddr: c.remoteAddr, outbound: c.outbound })),
        knownPeers: () => this.peers.all(),
        dial: (address, acceptNewPeer, peer) => void this.dial(address, acceptNewPeer, peer),
      },
      {
        port: o.port,
        discovery: o.discovery,
        degree: o.degree ?? 0,
        clock: o.clock,
        random: this.random,
        initialMs: this.t.backoffInitialMs,
        maxMs: this.t.backoffMaxMs,
      },
    );
    this.statusView = new RouterStatusView(this);
    // One listener per dial in flight; up to --conn-limit of them is normal.
    setMaxListeners(0, this.lifetime.signal);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Listens on host:port and starts dialling the initial peers. */
  async start(initialPeers: string[] = []): Promise<void> {
    if (this.state !== 'new') throw new Error('router already started');
    this.listener = await this.o.transport.listen(this.o.host, this.o.port, (conn) => this.onInbound(conn));
    this.state = 'running';
    this.o.log.info({ name: formatPeerName(this.name), nickname: this.o.nickname, uid: this.uid.toString(), port: this.listener.port, encryption: this.encrypted }, 'router started');
    this.schedulePeriodicGossip();
    this.maker.initiate(initialPeers);
  }

  /** Closes every connection and stops all timers. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.lifetime.abort();
    this.maker.stop();
    this.topology.stop();
    this.periodic?.cancel();
    // net.Server.close() resolves only once every accepted socket is gone, so the sockets go first.
    const closing = this.listener?.close();
    for (const c of [...this.conns.values()]) c.close(new WeftError('closed', 'router stopping'));
    this.accept.clear('router stopping');
    for (const a of this.attempts) a.conn?.stream.destroy();
    await closing;
    this.o.log.info('router stopped');
  }

  get listenPort(): number {
    return this.listener?.port ?? this.o.port;
  }

  get encrypted(): boolean {
    return (this.o.password?.length ?? 0) > 0;
  }

  get routes(): Routes {
    return this.topology.routes;
  }

  /** The topology table (read it; the topology module owns it). */
  get peers(): Peers {
    return this.topology.peers;
  }

  /** Control-plane bytes sent and received after the intros, over all connections so far. */
  get traffic(): { sent: number; received: number } {
    let sent = this.closedBytes.sent;
    let received = this.closedBytes.received;
    for (const c of this.conns.values()) {
      sent += c.bytesSent;
      received += c.bytesReceived;
    }
    return { sent, received };
  }

  // ---- gossip API for subsystems -----------------------------------------------------------

  /** Registers a named gossip channel (names are unique). */
  newGossip(name: string, gossiper: Gossiper): GossipChannel {
    return this.channels.register(name, gossiper);
  }

  // ---- MeshControl -------------------------------------------------------------------------

  connect(addresses: string[], replace = false): void {
    this.maker.initiate(addresses, replace);
  }

  forget(addresses: string[]): void {
    this.maker.forget(addresses);
  }

  status(): RouterStatus {
    return this.statusView.status();
  }

  peerStatus(): PeerStatus[] {
    return this.statusView.peers();
  }

  connectionStatus(): ConnectionStatus[] {
    return this.statusView.connections();
  }

  /** The surface the local API serves. */
  control(): MeshControl {
    return {
      status: () => this.status(),
      peers: () => this.peerStatus(),
      connections: () => this.connectionStatus(),
      connect: (a, replace) => this.connect(a, replace),
      forget: (a) => this.forget(a),
    };
  }

  /** Read-only views for the status module. */
  get view() {
    return {
      nickname: this.o.nickname,
      port: this.listenPort,
      discovery: this.o.discovery,
      connLimit: this.o.connLimit,
      conns: this.conns as ReadonlyMap<PeerName, MeshConnection>,
      attempts: this.attempts as ReadonlySet<Attempt>,
      accept: { pending: this.accept.pending, ...this.accept.stats },
      failures: this.recentFailures(),
      targets: this.maker.status(),
      dropped: this.dropped,
    };
  }

  // ---- connections -------------------------------------------------------------------------

  private async dial(address: string, acceptNewPeer: boolean, expected: PeerName | undefined): Promise<void> {
    if (this.state !== 'running') return;
    if (this.admission.full()) {
      this.maker.attemptFailed(address, new WeftError('conn-limit', `connection limit reached (${this.o.connLimit})`));
      return;
    }
    const attempt: Attempt = { address, outbound: true, state: 'connecting', target: address };
    this.attempts.add(attempt);
    try {
      const hp = splitTarget(address, this.o.port);
      const conn = await this.o.transport.dial(hp.host, hp.port, {
        timeoutMs: this.t.handshakeTimeoutMs,
        localHost: this.o.host || undefined,
        signal: this.lifetime.signal,
      });
      if (this.state !== 'running') {
        conn.stream.destroy();
        this.attempts.delete(attempt);
        return;
      }
      // The peer may have dialled us while our connect waited (a busy peer accepts late). An
      // intro now would end in the duplicate-connection tie break, which may drop the
      // connection already in use; closing before the intro costs the peer nothing.
      if (expected !== undefined && this.conns.has(expected)) {
        conn.stream.destroy();
        throw new WeftError('duplicate-connection', `already connected to ${formatPeerName(expected)}`);
      }
      attempt.state = 'handshaking';
      attempt.conn = conn;
      await this.handshake(conn, true, acceptNewPeer, attempt);
    } catch (err) {
      this.attempts.delete(attempt);
      // Losing a duplicate-connection tie break is routine, not a failure worth showing.
      const routine = err instanceof WeftError && err.code === 'duplicate-connection';
      if (!routine) this.recordFailure({ address, outbound: true, peer: undefined, reason: errorMessage(err), at: this.o.clock.now() });
      this.o.log[routine ? 'debug' : 'info']({ address, err: errorMessage(err) }, 'connection attempt failed');
      this.maker.attemptFailed(address, err);
    }
  }

  /**
   * An inbound connection holds a slot in the accept gate (bounded, per source address too)
   * while it runs its intro, which starts at once: the reader sees a close at once and the slot
   * is freed; past a valid header the intro waits for its turn at the accept rate.
   */
  private onInbound(conn: Conn): void {
    if (this.state !== 'running') return void conn.stream.destroy();
    const host = splitHostPort(conn.remoteAddr, 0)?.host ?? conn.remoteAddr;
    const attempt: Attempt = { address: conn.remoteAddr, outbound: false, state: 'handshaking', target: undefined, conn };
    let shedReason: string | undefined;
    // eslint-disable-next-line prefer-const -- the gate may shed before the reader exists
    let reader: StreamReader | undefined;
    const ticket = this.accept.admit(host, {
      shed: (reason) => {
        shedReason = reason;
        reader?.fail(new WeftError('timeout', reason));
        conn.stream.destroy();
      },
    });
    if ('refused' in ticket) {
      conn.stream.destroy();
      this.noteShed(ticket.refused);
      return;
    }
    // Admitted: from now on a close must be seen even while nothing is read.
    reader = new StreamReader(conn.stream);
    this.attempts.add(attempt);
    // A closed socket leaves the gate now, even while it waits for a turn (its reader failed first).
    conn.stream.once('close', () => ticket.done());
    this.handshake(conn, false, true, attempt, { reader, timeoutMs: ticket.remainingMs(), pace: () => ticket.turn() })
      .catch((err: unknown) => {
        this.attempts.delete(attempt);
        const reason = shedReason ?? errorMessage(err);
        this.recordFailure({ address: conn.remoteAddr, outbound: false, peer: undefined, reason, at: this.o.clock.now() });
        if (shedReason !== undefined) this.noteShed(reason);
        else this.o.log.info({ address: conn.remoteAddr, err: reason }, 'inbound connection failed');
      })
      // The slot is free the moment the intro ends, or the socket closes (the reader ends it).
      .finally(() => ticket.done());
  }

  /** Shedding is what a flood looks like: one summary line per SHED_LOG_MS, not one per socket. */
  private noteShed(reason: string): void {
    this.shedSinceLog++;
    const now = this.o.clock.now();
    if (now - this.shedLogAt < SHED_LOG_MS) return;
    this.o.log.warn({ shed: this.shedSinceLog, pending: this.accept.pending, last: reason }, 'shedding inbound connections that have not completed a handshake');
    this.shedSinceLog = 0;
    this.shedLogAt = now;
  }

  /** Inbound connections come with their reader (started at accept) and what is left of their deadline. */
  private async handshake(conn: Conn, outbound: boolean, acceptNewPeer: boolean, attempt: Attempt, inbound?: { reader: StreamReader; timeoutMs: number; pace: () => Promise<void> }): Promise<void> {
    const connId = randomUid();
    // Where the kernel watches the link (every TCP connection), heartbeats need only prove that
    // the other router still runs: offer them at WATCHED_HEARTBEAT_INTERVAL_MS, not every second.
    const watched = conn.watchByKernel?.(this.t.fastReadDeadlineMs) ?? false;
    const fastHeartbeatMs = this.t.fastHeartbeatMs > 0 && watched ? Math.max(this.t.fastHeartbeatMs, C.WATCHED_HEARTBEAT_INTERVAL_MS) : this.t.fastHeartbeatMs;
    const features = (refused?: WeftError): Buffer =>
      encodeFeatures(
        { name: this.name, nickname: this.o.nickname, uid: this.uid, shortId: this.peers.self.shortId },
        connId,
        // The offer must match what the connection negotiates with (timings below).
        {
          version: C.VERSION,
          caps: [],
          ...(fastHeartbeatMs > 0 ? { heartbeatMs: fastHeartbeatMs } : {}),
          ...(refused ? { refused: { code: refused.code, message: refused.message } } : {}),
        },
      );
    const mc = await MeshConnection.open(conn, {
      outbound,
      connId,
      features: features(),
      password: this.o.password,
      minVersion: C.WEFT_MIN_VERSION,
      maxVersion: C.PROTOCOL_MAX_VERSION,
      clock: this.o.clock,
      timeoutMs: inbound?.timeoutMs ?? this.t.handshakeTimeoutMs,
      liveness: this.liveness,
      // An acceptor decides before it answers, so a refused weft dialler learns why.
      ...(inbound ? { reader: inbound.reader, pace: inbound.pace, vet: { check: (remote: RemoteFeatures) => this.admission.refusal(remote), features } } : {}),
      timings: {
        heartbeatMs: this.t.heartbeatMs,
        readDeadlineMs: this.t.readDeadlineMs,
        fastHeartbeatMs,
        fastReadDeadlineMs: this.t.fastReadDeadlineMs,
        ...(watched ? { linkWatchMs: this.t.fastReadDeadlineMs } : {}),
      },
    });
    this.attempts.delete(attempt);
    if (this.state !== 'running') {
      mc.close(new WeftError('closed', 'router stopping'));
      return;
    }
    const err = this.register(mc, acceptNewPeer, attempt.target);
    if (err) {
      mc.close(err);
      throw err;
    }
  }

  /** Validates a connection whose intro completed and adds it; returns why not otherwise. */
  private register(mc: MeshConnection, acceptNewPeer: boolean, target: string | undefined): WeftError | undefined {
    const remote = mc.remote;
    const who = `${formatPeerName(remote.name)}(${remote.nickname})`;
    const refused = this.admission.refusal(remote, mc.remoteAddr);
    if (refused) return refused;
    const known = this.peers.get(remote.name);
    if (!acceptNewPeer && known === undefined) {
      return new WeftError('unknown-peer', `found unknown remote name ${who} at ${mc.remoteAddr}`);
    }
    const dup = this.conns.get(remote.name);
    if (dup) {
      const dupErr = new WeftError('duplicate-connection', `multiple connections to ${who} added to ${formatPeerName(this.name)}`);
      if (mc.uid < dup.uid) {
        dup.close(dupErr); // onClosed removes it
      } else if (mc.uid > dup.uid) {
        return dupErr;
      } else {
        dup.close(dupErr);
        return dupErr;
      }
    }
    let shed: MeshConnection | undefined;
    if (this.admission.full()) {
      shed = this.admission.roomFor(remote.name);
      if (!shed) return new WeftError('conn-limit', `connection limit reached (${this.o.connLimit})`);
      this.o.log.info({ peer: who, shed: `${formatPeerName(shed.remote.name)}(${shed.remote.nickname})` }, 'at the connection limit: dropping a well-connected neighbour to let in a peer nobody routes to');
      shed.close(new WeftError('conn-limit', `connection limit reached (${this.o.connLimit}) at ${formatPeerName(this.name)}(${this.o.nickname}): dropped to make room for ${who}, whom nobody routes to`));
    }
    const restarted = known !== undefined && !isPlaceholder(known) && known.uid !== remote.uid;
    // mesh sends everything to a peer it could not reach before. Routes lag changes by 100 ms,
    // so while a mesh forms "in our table" is the better test: GC drops unreachable peers.
    const wasReachable = known !== undefined && !isPlaceholder(known);
    // A peer with a lower name may hold our short ID: then we take a new one, and the update
    // below carries it.
    this.topology.learn({ name: remote.name, nickname: remote.nickname, uid: remote.uid, shortId: remote.shortId });
    mc.established = true;
    this.conns.set(remote.name, mc);
    // The target learns of the connection before anything can close it.
    if (target !== undefined) {
      this.connTarget.set(mc, target);
      this.maker.connected(target, remote.name);
    }
    mc.start({
      onMessage: (c, tag, payload) => this.onMessage(c, tag, payload),
      onClosed: (c, err) => this.onClosed(c, err),
    });
    this.o.log.info(
      { peer: who, address: mc.remoteAddr, outbound: mc.outbound, encrypted: mc.encrypted },
      restarted ? 'connection added (restarted peer)' : wasReachable ? 'connection added' : 'connection added (new peer)',
    );
    // Our update carries the new peer's summary only if others may not know it yet; a known
    // peer announces its own change (mesh always includes it: O(N²) bytes while a mesh forms).
    this.localConnectionsChanged(wasReachable ? [] : [remote.name]);
    this.emit('connection-up', { peer: remote.name, uid: mc.uid, outbound: mc.outbound, sessionKey: mc.sessionKey, localAddr: mc.localAddr, remoteAddr: mc.remoteAddr });
    // A peer we could not reach before, or one that restarted, gets our complete state.
    if (restarted || !wasReachable) this.channels.sendAllGossipDown(mc);
    return undefined;
  }

  private onClosed(mc: MeshConnection, err: WeftError): void {
    this.closedBytes.sent += mc.bytesSent;
    this.closedBytes.received += mc.bytesReceived;
    this.senders.delete(mc);
    const target = this.connTarget.get(mc);
    this.connTarget.delete(mc);
    if (this.conns.get(mc.remote.name) === mc) {
      this.conns.delete(mc.remote.name);
      if (this.state === 'running') {
        this.o.log.info({ peer: formatPeerName(mc.remote.name), address: mc.remoteAddr, reason: err.message }, 'connection deleted');
        if (err.code !== 'closed' && err.code !== 'duplicate-connection') {
          this.recordFailure({ address: mc.remoteAddr, outbound: mc.outbound, peer: mc.remote.name, reason: err.message, at: this.o.clock.now() });
        }
        this.localConnectionsChanged([], true);
      }
      this.emit('connection-down', { peer: mc.remote.name, uid: mc.uid });
    }
    if (target !== undefined) this.maker.connectionEnded(target, err);
  }

  private onMessage(mc: MeshConnection, tag: number, payload: Buffer): void {
    switch (tag) {
      case Tag.Heartbeat:
        return;
      case Tag.Gossip:
      case Tag.GossipUnicast:
      case Tag.GossipBroadcast: {
        const why = this.channels.handle(mc, tag, payload);
        if (why) {
          // Malformed gossip closes this one connection; every other peer is unaffected.
          this.count('malformed-gossip', why);
          mc.close(new WeftError('protocol', why));
        }
        return;
      }
      default:
        this.count('unknown-tag', `tag ${tag} from ${formatPeerName(mc.remote.name)}`);
    }
  }

  private senderFor(mc: MeshConnection): GossipSender {
    let s = this.senders.get(mc);
    if (!s) {
      s = new GossipSender(mc, this.name, (kind, channel, src, msg) => this.channels.emit(mc, kind, channel, src, msg));
      this.senders.set(mc, s);
    }
    return s;
  }

  // ---- topology ----------------------------------------------------------------------------

  private localConnectionsChanged(fresh: PeerName[], collectNow = false): void {
    const summaries: ConnectionSummary[] = [...this.conns.values()].map((c) => ({
      name: c.remote.name,
      remoteTcpAddr: c.remoteAddr,
      outbound: c.outbound,
      established: c.established,
    }));
    this.topology.localConnections(summaries, fresh, collectNow);
  }

  /** Every interval ±25 %, so routers started together do not all gossip at the same moment. */
  private schedulePeriodicGossip(): void {
    this.periodic = this.o.clock.setTimeout(
      () => {
        this.channels.periodicGossip();
        this.schedulePeriodicGossip();
      },
      this.t.gossipIntervalMs * (0.75 + this.random() / 2),
    );
  }

  // ---- bookkeeping -------------------------------------------------------------------------

  private count(reason: string, detail?: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    this.o.log.warn({ reason, detail }, 'dropped malformed input');
  }

  private recordFailure(f: Failure): void {
    this.failures = this.failures.filter((x) => x.address !== f.address).slice(-(MAX_FAILURES - 1));
    this.failures.push(f);
  }

  private recentFailures(): Failure[] {
    const now = this.o.clock.now();
    this.failures = this.failures.filter((f) => now - f.at < FAILURE_MEMORY_MS);
    return this.failures;
  }
}


function randomUid(): bigint {
  for (;;) {
    const v = randomBytes(8).readBigUInt64BE();
    if (v !== 0n) return v;
  }
}

function splitTarget(address: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (m) return { host: m[1]!, port: Number(m[2]) };
  return { host: address, port: defaultPort };
}
