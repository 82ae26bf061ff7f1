// Admission of inbound connections up to the end of their handshake. Nobody is authenticated
// yet, so this is where load is shed rather than queued:
//
//   accept ─► admit(host) ── per-host bound hit ──► refused (closed at once)
//               │  total bound hit ──► the oldest pending connection is evicted to make room
//               ▼
//            waiting ── a token (the accept rate: mesh's limiter, which also slows password
//               │       guessing) ──► running: the intro
//               └── done() on success, failure or the socket closing: gone at once
//   deadline from admission (queueing included) ──► shed('did not complete within …')
//
// A real handshake takes a few round trips, so an honest peer is through long before a flood
// can push it out; one source address can never hold more than maxPerHost of the slots, so a
// second host always gets in. Established connections never pass through here.
import type { Clock, Timer } from '../lib/clock.js';
import * as C from '../lib/constants.js';
import { INBOUND_HANDSHAKE_TIMEOUT_MS, MAX_PENDING_HANDSHAKES, MAX_PENDING_HANDSHAKES_PER_HOST } from './limits.js';
import { TokenBucket } from './token-bucket.js';

export interface AcceptGateOptions {
  clock: Clock;
  maxPending?: number;
  maxPerHost?: number;
  /** From admission to the end of the intro. */
  timeoutMs?: number;
  burst?: number;
  tokenMs?: number;
}

/** What the gate does to one admitted connection. */
export interface GateHooks {
  /** Begin the intro; it must be over within deadlineMs (what is left of the timeout). */
  start(deadlineMs: number): void;
  /** Close the connection now, for this reason; done() is implied. */
  shed(reason: string): void;
}

export interface Ticket {
  /** The connection finished its intro, failed or closed: free its slot. Safe to call twice. */
  done(): void;
}

export interface GateStats {
  /** In the handshake or waiting for it. */
  pending: number;
  admitted: number;
  refusedPerHost: number;
  evicted: number;
  timedOut: number;
}

interface Entry {
  host: string;
  since: number;
  hooks: GateHooks;
  running: boolean;
  deadline: Timer;
}

export class AcceptGate {
  private readonly entries = new Set<Entry>();
  private readonly waiting = new Set<Entry>();
  private readonly perHost = new Map<string, number>();
  private readonly bucket: TokenBucket;
  private pump: Timer | undefined;
  private readonly o: Required<AcceptGateOptions>;
  readonly stats: Omit<GateStats, 'pending'> = { admitted: 0, refusedPerHost: 0, evicted: 0, timedOut: 0 };

  constructor(opts: AcceptGateOptions) {
    this.o = {
      maxPending: MAX_PENDING_HANDSHAKES,
      maxPerHost: MAX_PENDING_HANDSHAKES_PER_HOST,
      timeoutMs: INBOUND_HANDSHAKE_TIMEOUT_MS,
      burst: C.ACCEPT_BURST,
      tokenMs: C.ACCEPT_TOKEN_MS,
      ...opts,
    };
    this.bucket = new TokenBucket(opts.clock, this.o.burst, this.o.tokenMs);
  }

  get pending(): number {
    return this.entries.size;
  }

  /** Admits a connection from host, or says why not (the caller closes it). */
  admit(host: string, hooks: GateHooks): Ticket | { refused: string } {
    const n = this.perHost.get(host) ?? 0;
    if (n >= this.o.maxPerHost) {
      this.stats.refusedPerHost++;
      return { refused: `${n} handshakes from ${host} already in progress` };
    }
    if (this.entries.size >= this.o.maxPending) {
      const oldest = this.entries.values().next().value!;
      this.remove(oldest);
      this.stats.evicted++;
      oldest.hooks.shed(`evicted: ${this.o.maxPending} handshakes in progress and this one the oldest`);
    }
    const e: Entry = {
      host,
      since: this.o.clock.now(),
      hooks,
      running: false,
      deadline: this.o.clock.setTimeout(() => {
        if (!this.remove(e)) return;
        this.stats.timedOut++;
        hooks.shed(`handshake did not complete within ${this.o.timeoutMs / 1000}s`);
      }, this.o.timeoutMs),
    };
    this.entries.add(e);
    this.waiting.add(e);
    this.perHost.set(host, n + 1);
    this.stats.admitted++;
    this.startWaiting();
    return { done: () => void this.remove(e) };
  }

  /** Sheds every pending connection (the router is stopping). */
  clear(reason: string): void {
    this.pump?.cancel();
    this.pump = undefined;
    for (const e of [...this.entries]) {
      this.remove(e);
      e.hooks.shed(reason);
    }
  }

  private remove(e: Entry): boolean {
    if (!this.entries.delete(e)) return false;
    this.waiting.delete(e);
    e.deadline.cancel();
    const n = (this.perHost.get(e.host) ?? 1) - 1;
    if (n > 0) this.perHost.set(e.host, n);
    else this.perHost.delete(e.host);
    return true;
  }

  /** Starts waiting connections, oldest first, as the rate allows. */
  private startWaiting(): void {
    if (this.pump) return;
    for (const e of this.waiting) {
      const wait = this.bucket.tryTake();
      if (wait > 0) {
        this.pump = this.o.clock.setTimeout(() => {
          this.pump = undefined;
          this.startWaiting();
        }, wait);
        return;
      }
      this.waiting.delete(e);
      e.running = true;
      e.hooks.start(Math.max(1, e.since + this.o.timeoutMs - this.o.clock.now()));
    }
  }
}
