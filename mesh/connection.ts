// One mesh control connection: runs the intro, then a frame loop that hands messages to the
// router, sends heartbeats every 30 s and closes the connection after 60 s of silence.
//
//   open() ── doIntro ──► MeshConnection (intro done, not yet registered)
//   start(events) ──► read loop ──► events.onMessage(tag, payload)
//                 └─► heartbeat timer, read deadline
//   close(err) ──► events.onClosed(err)   (exactly once)
import { HEARTBEAT_INTERVAL_MS, READ_DEADLINE_MS } from '../src/constants.js';
import type { Clock, Timer } from '../src/clock.js';
import { WeftError } from '../src/errors.js';
import type { RemoteFeatures } from './features.js';
import type { Framer } from './framing.js';
import { doIntro, type IntroParams } from './handshake.js';
import { message, Tag } from './protocol.js';
import { StreamReader } from './stream-reader.js';
import type { Conn } from './transport.js';

export interface ConnectionEvents {
  onMessage(conn: MeshConnection, tag: number, payload: Buffer): void;
  onClosed(conn: MeshConnection, err: WeftError): void;
}

export interface ConnectionTimings {
  heartbeatMs?: number;
  readDeadlineMs?: number;
}

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
  private heartbeat: Timer | undefined;
  private deadline: Timer | undefined;
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
    private readonly clock: Clock,
    private readonly timings: Required<ConnectionTimings>,
  ) {
    this.remote = remote;
    this.uid = ourConnId ^ remote.connId;
    this.version = version;
  }

  /** Runs the intro on a fresh transport connection. Rejects (and destroys the socket) on failure. */
  static async open(
    conn: Conn,
    p: Omit<IntroParams, 'stream' | 'reader'> & { connId: bigint; timings?: ConnectionTimings },
  ): Promise<MeshConnection> {
    const reader = new StreamReader(conn.stream);
    try {
      const r = await doIntro({ ...p, stream: conn.stream, reader });
      return new MeshConnection(conn, reader, r.framer, p.outbound, r.features, p.connId, r.version, r.sessionKey, p.clock, {
        heartbeatMs: p.timings?.heartbeatMs ?? HEARTBEAT_INTERVAL_MS,
        readDeadlineMs: p.timings?.readDeadlineMs ?? READ_DEADLINE_MS,
      });
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
    this.scheduleHeartbeat();
    this.extendDeadline();
    void this.readLoop();
  }

  /** Sends one message; returns false if the connection is closed. */
  send(tag: Tag, payload?: Uint8Array): boolean {
    if (this.state === 'closed') return false;
    let frame: Buffer;
    try {
      frame = this.framer.frame(message(tag, payload));
    } catch (err) {
      this.close(err instanceof WeftError ? err : new WeftError('io', String(err)));
      return false;
    }
    this.bytesSent += frame.length;
    this.conn.stream.write(frame);
    return true;
  }

  /** Closes the connection; the first error given is the one reported. Safe to call twice. */
  close(err: WeftError): void {
    if (this.state === 'closed') return;
    const wasRunning = this.state === 'running';
    this.state = 'closed';
    this.closeError = err;
    this.heartbeat?.cancel();
    this.deadline?.cancel();
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
        this.extendDeadline();
        if (msg.length === 0) continue; // mesh ignores empty messages
        this.events!.onMessage(this, msg[0]!, msg.subarray(1));
      }
    } catch (err) {
      this.close(err instanceof WeftError ? err : new WeftError('io', String(err), { cause: err }));
    }
  }

  private scheduleHeartbeat(): void {
    this.heartbeat = this.clock.setTimeout(() => {
      if (this.send(Tag.Heartbeat)) this.scheduleHeartbeat();
    }, this.timings.heartbeatMs);
  }

  private extendDeadline(): void {
    this.deadline?.cancel();
    this.deadline = this.clock.setTimeout(
      () => this.close(new WeftError('timeout', `no message from the peer for ${this.timings.readDeadlineMs / 1000}s`)),
      this.timings.readDeadlineMs,
    );
  }
}
