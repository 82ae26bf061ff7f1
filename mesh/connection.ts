// One mesh control connection: runs the intro, then a frame loop that hands messages to the
// router, with heartbeats and a read deadline (liveness.ts): mesh's 30 s / 60 s, or 1 s / 4 s
// when both ends are weft peers that offered fast heartbeats in the feature map.
//
//   open() ── doIntro ──► MeshConnection (intro done, liveness plan settled, not yet registered)
//   start(events) ──► read loop ──► events.onMessage(tag, payload)
//                 └─► LivenessMonitor: heartbeats out, read deadline in
//   close(err) ──► events.onClosed(err)   (exactly once)
import { FAST_HEARTBEAT_INTERVAL_MS, FAST_READ_DEADLINE_MS, HEARTBEAT_INTERVAL_MS, READ_DEADLINE_MS } from '../lib/constants.js';
import type { Clock } from '../lib/clock.js';
import { WeftError } from '../lib/errors.js';
import type { RemoteFeatures } from './features.js';
import type { Framer } from './framing.js';
import { doIntro, type IntroParams } from './handshake.js';
import { LivenessMonitor, negotiateLiveness, type LivenessGroup, type LivenessPlan, type LivenessTimings } from './liveness.js';
import { Tag } from './protocol.js';
import { StreamReader } from './stream-reader.js';
import type { Conn } from './transport.js';

export interface ConnectionEvents {
  onMessage(conn: MeshConnection, tag: number, payload: Buffer): void;
  onClosed(conn: MeshConnection, err: WeftError): void;
}

/** Defaults from lib/constants.ts. fastHeartbeatMs must be what the feature map offered. */
export type ConnectionTimings = Partial<LivenessTimings>;

/** An unencrypted heartbeat frame never changes: length 1, tag 0. */
const PLAIN_HEARTBEAT = Buffer.from([0, 0, 0, 1, Tag.Heartbeat]);

let nextLocalId = 1;

export class MeshConnection {
  /** Process-local id, for logs and status. */
  readonly id = nextLocalId++;
  readonly remote: RemoteFeatures;
  /** Shared by both ends: our ConnID xor theirs. Breaks ties between duplicate connections. */
  readonly uid: bigint;
  readonly version: number;
  established = false;
  /** Bytes written and read on this connection after the intro, frames included. */
  bytesSent = 0;
  private state: 'ready' | 'running' | 'closed' = 'ready';
  private events: ConnectionEvents | undefined;
  private readonly liveness: LivenessMonitor;
  private closeError: WeftError | undefined;

  private constructor(
    private readonly conn: Conn,
    private readonly reader: StreamReader,
    private readonly framer: Framer,
    readonly outbound: boolean,
    remote: RemoteFeatures,
    ourConnId: bigint,
    version: number,
    /** The password-bound session key (ESP keys are derived from it); undefined without a password. */
    readonly sessionKey: Buffer | undefined,
    clock: Clock,
    plan: LivenessPlan,
    group: LivenessGroup | undefined,
  ) {
    this.remote = remote;
    this.uid = ourConnId ^ remote.connId;
    this.version = version;
    this.liveness = new LivenessMonitor(clock, plan, {
      sendHeartbeat: () => this.sendHeartbeat(),
      expired: (silentMs) => this.close(new WeftError('timeout', silenceReason(silentMs, plan))),
    }, group);
  }

  /** Runs the intro on a fresh transport connection. Rejects (and destroys the socket) on failure. */
  static async open(
    conn: Conn,
    p: Omit<IntroParams, 'stream' | 'reader'> & { connId: bigint; timings?: ConnectionTimings & { /** The kernel watches the link with this deadline (Conn.watchByKernel). */ linkWatchMs?: number }; /** One already reading the stream (the accept queue starts it). */ reader?: StreamReader; /** The router's one liveness timer (else the connection has its own). */ liveness?: LivenessGroup },
  ): Promise<MeshConnection> {
    const reader = p.reader ?? new StreamReader(conn.stream);
    try {
      const r = await doIntro({ ...p, stream: conn.stream, reader });
      const plan = negotiateLiveness(
        {
          heartbeatMs: p.timings?.heartbeatMs ?? HEARTBEAT_INTERVAL_MS,
          readDeadlineMs: p.timings?.readDeadlineMs ?? READ_DEADLINE_MS,
          fastHeartbeatMs: p.timings?.fastHeartbeatMs ?? FAST_HEARTBEAT_INTERVAL_MS,
          fastReadDeadlineMs: p.timings?.fastReadDeadlineMs ?? FAST_READ_DEADLINE_MS,
        },
        r.features.weftHeartbeatMs,
      );
      if (p.timings?.linkWatchMs !== undefined) plan.linkWatchMs = p.timings.linkWatchMs;
      return new MeshConnection(conn, reader, r.framer, p.outbound, r.features, p.connId, r.version, r.sessionKey, p.clock, plan, p.liveness);
    } catch (err) {
      conn.stream.destroy();
      throw err;
    }
  }

  get remoteAddr(): string {
    return this.conn.remoteAddr;
  }

  get localAddr(): string {
    return this.conn.localAddr;
  }

  get encrypted(): boolean {
    return this.framer.encrypted;
  }

  get bytesReceived(): number {
    return this.framer.bytesRead;
  }

  /** The heartbeat interval and read deadline this connection uses. */
  get livenessPlan(): LivenessPlan {
    return this.liveness.plan;
  }

  /** Milliseconds since the peer was last heard from. */
  get silentMs(): number {
    return this.liveness.silentMs;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** True while the socket has more queued than it wants; callers merge pending gossip meanwhile. */
  get busy(): boolean {
    return this.conn.stream.writableNeedDrain;
  }

  /** Runs fn with writes held back, so the messages it sends leave in as few segments as possible. */
  batch(fn: () => void): void {
    this.conn.stream.cork();
    try {
      fn();
    } finally {
      this.conn.stream.uncork();
    }
  }

  /** Calls fn once the socket can take more (at once if it can now). */
  whenWritable(fn: () => void): void {
    if (!this.busy) fn();
    else this.conn.stream.once('drain', fn);
  }

  /** Starts the frame loop and timers. Called once the router has accepted the connection. */
  start(events: ConnectionEvents): void {
    if (this.state !== 'ready') return;
    this.state = 'running';
    this.events = events;
    this.conn.stream.on('close', () => this.close(new WeftError('closed', 'connection closed')));
    this.conn.stream.on('data', this.onData);
    this.liveness.start();
    void this.readLoop();
  }

  /** Sends one message; returns false if the connection is closed. */
  send(tag: Tag, payload?: Uint8Array): boolean {
    if (this.state === 'closed') return false;
    let parts: Uint8Array[];
    try {
      parts = this.framer.frameParts(tag, payload);
    } catch (err) {
      this.close(err instanceof WeftError ? err : new WeftError('io', String(err)));
      return false;
    }
    const stream = this.conn.stream;
    if (parts.length > 1) stream.cork();
    for (const p of parts) {
      this.bytesSent += p.length;
      stream.write(p);
    }
    if (parts.length > 1) stream.uncork();
    this.liveness.sent();
    return true;
  }

  /** Closes the connection; the first error given is the one reported. Safe to call twice. */
  close(err: WeftError): void {
    if (this.state === 'closed') return;
    const wasRunning = this.state === 'running';
    this.state = 'closed';
    this.closeError = err;
    this.liveness.stop();
    this.reader.fail(err);
    this.conn.stream.destroy();
    if (wasRunning) this.events?.onClosed(this, err);
  }

  get error(): WeftError | undefined {
    return this.closeError;
  }

  private async readLoop(): Promise<void> {
    try {
      while (this.state === 'running') {
        const msg = await this.framer.read(this.reader);
        if (msg.length === 0) continue; // mesh ignores empty messages
        this.events!.onMessage(this, msg[0]!, msg.subarray(1));
      }
    } catch (err) {
      this.close(err instanceof WeftError ? err : new WeftError('io', String(err), { cause: err }));
    }
  }

  /** Bytes arrived (the read loop may still wait for the rest of a frame): the peer is alive. */
  private readonly onData = (): void => this.liveness.heard();

  /** Heartbeats carry nothing: without encryption the same frame goes out every time. */
  private sendHeartbeat(): boolean {
    if (this.encrypted) return this.send(Tag.Heartbeat);
    if (this.state === 'closed') return false;
    this.bytesSent += PLAIN_HEARTBEAT.length;
    this.conn.stream.write(PLAIN_HEARTBEAT);
    return true;
  }
}

function silenceReason(silentMs: number, plan: LivenessPlan): string {
  const s = (ms: number): string => `${Number((ms / 1000).toFixed(1))}s`;
  return `no message from the peer for ${s(silentMs)} (read deadline ${s(plan.readDeadlineMs)}${plan.fast ? `, heartbeats every ${s(plan.heartbeatMs)} agreed` : ''})`;
}
