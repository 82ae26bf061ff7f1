// Liveness of one control connection: heartbeats out, a read deadline in.
//
//   towards mesh (Go peers, and weft peers that offer no fast heartbeats): a heartbeat every 30 s,
//   closed after 60 s without a message — mesh's own timing.
//   weft ↔ weft (both offered the WeftHeartbeat feature): a heartbeat every second, closed after
//   4 s of silence, so a link that silently drops packets is noticed in seconds.
//
// Both timers are lazy: sending and receiving only note the time, and a timer that fires either
// acts or re-arms for what is left. Traffic thus costs no timer churn, a heartbeat is skipped when
// another message went out within the interval, and an idle connection costs one timer per
// heartbeat interval plus one per deadline.
import { FAST_DEADLINE_HEARTBEATS } from '../lib/constants.js';
import type { Clock, Timer } from '../lib/clock.js';

export interface LivenessTimings {
  /** Towards peers without fast heartbeats (mesh: 30 s, 60 s). */
  heartbeatMs: number;
  readDeadlineMs: number;
  /** The interval we offer other weft peers and use when they offer one too; 0 offers nothing. */
  fastHeartbeatMs: number;
  /** The read deadline when both offered (at least FAST_DEADLINE_HEARTBEATS of their intervals). */
  fastReadDeadlineMs: number;
}

/** What one connection uses, settled once at the handshake. */
export interface LivenessPlan {
  heartbeatMs: number;
  readDeadlineMs: number;
  /** Both ends offered fast heartbeats. */
  fast: boolean;
  /** The kernel fails the connection after this long without an acknowledgement (keepalive probes while idle). */
  linkWatchMs?: number;
}

/**
 * Fast only if we offered and the peer offered (Go peers never do). Our deadline spans several of
 * the peer's intervals, never less than our fast deadline, never more than mesh's.
 */
export function negotiateLiveness(t: LivenessTimings, remoteHeartbeatMs: number | undefined): LivenessPlan {
  if (t.fastHeartbeatMs <= 0 || remoteHeartbeatMs === undefined) {
    return { heartbeatMs: t.heartbeatMs, readDeadlineMs: t.readDeadlineMs, fast: false };
  }
  return {
    heartbeatMs: t.fastHeartbeatMs,
    readDeadlineMs: Math.min(t.readDeadlineMs, Math.max(t.fastReadDeadlineMs, FAST_DEADLINE_HEARTBEATS * remoteHeartbeatMs)),
    fast: true,
  };
}

export interface LivenessHooks {
  /** Sends one heartbeat; false if the connection is closed (the monitor then stops). */
  sendHeartbeat(): boolean;
  /** Nothing arrived for silentMs ≥ the read deadline. Called once; the monitor has stopped. */
  expired(silentMs: number): void;
}

export class LivenessMonitor {
  private lastSent = 0;
  private lastHeard = 0;
  private heartbeat: Timer | undefined;
  private deadline: Timer | undefined;
  /** The deadline passed once; it is checked again after pending input had its turn. */
  private overdue = false;
  private running = false;

  constructor(
    private readonly clock: Clock,
    readonly plan: LivenessPlan,
    private readonly hooks: LivenessHooks,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastSent = this.lastHeard = this.clock.now();
    this.heartbeat = this.clock.setTimeout(this.onHeartbeat, this.plan.heartbeatMs);
    this.deadline = this.clock.setTimeout(this.onDeadline, this.plan.readDeadlineMs);
  }

  /** Milliseconds since bytes last arrived. */
  get silentMs(): number {
    return this.clock.now() - this.lastHeard;
  }

  /** Bytes arrived from the peer (any, not only whole messages: a large frame in flight is life). */
  heard(): void {
    this.lastHeard = this.clock.now();
  }

  /** A message went out: no heartbeat needed for another interval. */
  sent(): void {
    this.lastSent = this.clock.now();
  }

  stop(): void {
    this.running = false;
    this.heartbeat?.cancel();
    this.deadline?.cancel();
    this.heartbeat = this.deadline = undefined;
  }

  private readonly onHeartbeat = (): void => {
    this.heartbeat = undefined;
    if (!this.running) return;
    let wait = this.lastSent + this.plan.heartbeatMs - this.clock.now();
    if (wait <= 0) {
      if (!this.hooks.sendHeartbeat()) return;
      this.lastSent = this.clock.now();
      wait = this.plan.heartbeatMs;
    }
    this.heartbeat = this.clock.setTimeout(this.onHeartbeat, wait);
  };

  private readonly onDeadline = (): void => {
    this.deadline = undefined;
    if (!this.running) return;
    const now = this.clock.now();
    const left = this.lastHeard + this.plan.readDeadlineMs - now;
    if (left > 0) {
      this.overdue = false;
      this.deadline = this.clock.setTimeout(this.onDeadline, left);
      return;
    }
    if (!this.overdue) {
      // Node runs due timers before it reads sockets: after the event loop was blocked, input
      // may be waiting that would have kept us alive. Look again once it has been read.
      this.overdue = true;
      this.deadline = this.clock.setTimeout(this.onDeadline, 0);
      return;
    }
    this.stop();
    this.hooks.expired(now - this.lastHeard);
  };
}
