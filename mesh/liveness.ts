// Liveness of control connections: heartbeats out, a read deadline in.
//
//   towards mesh (Go peers, and weft peers that offer no fast heartbeats): a heartbeat every 30 s,
//   closed after 60 s without a message — mesh's own timing.
//   weft ↔ weft (both offered the WeftHeartbeat feature): the interval they agreed (30 s where the
//   kernel watches the link, else every second, closed after 4 s of silence).
//
// One LivenessGroup per router owns a single timer for all its connections. Sending and receiving
// only note the time. When the timer fires, every connection that has sent nothing for half an
// interval sends its heartbeat, so the heartbeats of all idle connections fall due together and a
// router wakes once per interval, not once per connection per interval (plus once per deadline).
// A firing at which nobody is due (messages went out since the timer was set) sends nothing.
// No connection goes longer than its interval without sending, and a deadline is checked when it
// falls due: the timer fires at the earliest of every connection's latest heartbeat and deadline.
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
  /** Sends one heartbeat; false if the connection is closed (the monitor then stops heartbeating). */
  sendHeartbeat(): boolean;
  /** Nothing arrived for silentMs ≥ the read deadline. Called once; the monitor has stopped. */
  expired(silentMs: number): void;
}

/** The one timer behind the liveness of a router's connections. */
export class LivenessGroup {
  private readonly members = new Set<LivenessMonitor>();
  private timer: Timer | undefined;
  /** When the timer fires (Infinity: not armed). */
  private armedFor = Infinity;
  /** Timer firings so far (for tests). */
  wakeups = 0;

  constructor(readonly clock: Clock) {}

  get size(): number {
    return this.members.size;
  }

  /** @internal LivenessMonitor.start */
  add(m: LivenessMonitor, dueAt: number): void {
    this.members.add(m);
    this.arm(dueAt);
  }

  /** @internal LivenessMonitor.stop */
  remove(m: LivenessMonitor): void {
    this.members.delete(m);
    if (this.members.size === 0) {
      this.timer?.cancel();
      this.timer = undefined;
      this.armedFor = Infinity;
    }
  }

  private arm(at: number): void {
    if (at >= this.armedFor) return;
    this.timer?.cancel();
    this.armedFor = at;
    this.timer = this.clock.setTimeout(this.fire, Math.max(0, at - this.clock.now()));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    this.wakeups++;
    const now = this.clock.now();
    // The timer was set for the earliest due time; messages since may have moved it later. Only
    // when someone really is due do the others heartbeat early, to fall into step with it.
    let due = false;
    for (const m of this.members) if (m.dueAt() <= now) due = true;
    let next = Infinity;
    // A member may stop (and leave the set) while served; Set iteration tolerates deletion.
    for (const m of this.members) next = Math.min(next, due ? m.serve(now) : m.dueAt());
    if (next < Infinity && this.members.size > 0) this.arm(next);
  };
}

export class LivenessMonitor {
  private lastSent = 0;
  private lastHeard = 0;
  /** The deadline passed once; it is checked again after pending input had its turn. */
  private overdue = false;
  private running = false;
  private heartbeating = false;
  private readonly group: LivenessGroup;

  /** Without a group the monitor gets a timer of its own. */
  constructor(
    private readonly clock: Clock,
    readonly plan: LivenessPlan,
    private readonly hooks: LivenessHooks,
    group?: LivenessGroup,
  ) {
    this.group = group ?? new LivenessGroup(clock);
  }

  start(): void {
    if (this.running) return;
    this.running = this.heartbeating = true;
    this.lastSent = this.lastHeard = this.clock.now();
    this.group.add(this, this.dueAt());
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
    if (!this.running) return;
    this.running = false;
    this.group.remove(this);
  }

  /** @internal The latest time this monitor must be served: its heartbeat or its deadline. */
  dueAt(): number {
    const deadline = this.overdue ? this.clock.now() : this.lastHeard + this.plan.readDeadlineMs;
    return this.heartbeating ? Math.min(deadline, this.lastSent + this.plan.heartbeatMs) : deadline;
  }

  /** @internal The group's timer fired: heartbeat if half an interval passed, check the deadline. Returns when next due. */
  serve(now: number): number {
    if (!this.running) return Infinity;
    if (this.heartbeating && now - this.lastSent >= this.plan.heartbeatMs / 2) {
      if (this.hooks.sendHeartbeat()) this.lastSent = now;
      else this.heartbeating = false;
    }
    if (now - this.lastHeard < this.plan.readDeadlineMs) {
      this.overdue = false;
    } else if (!this.overdue) {
      // Node runs due timers before it reads sockets: after the event loop was blocked, input
      // may be waiting that would have kept us alive. Look again once it has been read.
      this.overdue = true;
    } else {
      this.stop();
      this.hooks.expired(now - this.lastHeard);
      return Infinity;
    }
    return this.dueAt();
  }
}
