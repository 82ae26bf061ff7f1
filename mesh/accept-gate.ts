// Admission of inbound connections up to the end of their handshake. Nobody is authenticated
// yet, so this is where load is shed rather than queued:
//
//   accept ─► admit(host) ── host already has maxPerHost pending ──► refused (closed at once)
//               │  maxPending reached ──► evict the oldest connection of the host with the most
//               ▼
//            intro starts at once (an idle socket costs a slot, never a turn)
//               │  valid header read ─► turn(): the accept rate (mesh's limiter, which also
//               │  slows password guessing), granted round-robin by source address
//               └── done() on success, failure or the socket closing: gone at once
//   deadline from admission ──► shed('did not complete within …')
//
// A second host keeps its share however busy the first one is: it can never be evicted while
// another host has more connections pending, and it waits for a turn behind at most one
// connection of every other host. Established connections never pass through here.
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
  /** Close the connection now, for this reason (the slot is already free). */
  shed(reason: string): void;
}

export interface Ticket {
  /** The intro must be over within this many ms of now. */
  remainingMs(): number;
  /**
   * Resolves when this connection may go on with its intro (the accept rate), or once it is done
   * or shed (its reads fail then); never rejects.
   */
  turn(): Promise<void>;
  /** The connection finished its intro, failed or closed: free its slot. Safe to call twice. */
  done(): void;
}

export interface GateStats {
  admitted: number;
  refusedPerHost: number;
  evicted: number;
  timedOut: number;
}

interface Entry {
  host: string;
  since: number;
  hooks: GateHooks;
  deadline: Timer;
  /** Set while waiting for a turn. */
  granted?: () => void;
}

export class AcceptGate {
  private readonly entries = new Set<Entry>();
  private readonly perHost = new Map<string, number>();
  /** Hosts with connections waiting for a turn, in round-robin order. */
  private readonly turns = new Map<string, Entry[]>();
  private readonly bucket: TokenBucket;
  private pump: Timer | undefined;
  private readonly o: Required<AcceptGateOptions>;
  readonly stats: GateStats = { admitted: 0, refusedPerHost: 0, evicted: 0, timedOut: 0 };

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

  /** Connections admitted and not yet done. */
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
    if (this.entries.size >= this.o.maxPending) this.evict();
    const e: Entry = {
      host,
      since: this.o.clock.now(),
      hooks,
      deadline: this.o.clock.setTimeout(() => {
        if (!this.remove(e)) return;
        this.stats.timedOut++;
        hooks.shed(`handshake did not complete within ${this.o.timeoutMs / 1000}s`);
      }, this.o.timeoutMs),
    };
    this.entries.add(e);
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
    this.stats.admitted++;
    return {
      remainingMs: () => Math.max(1, e.since + this.o.timeoutMs - this.o.clock.now()),
      turn: () => this.turn(e),
      done: () => void this.remove(e),
    };
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

  /** Makes room: the oldest connection of the host with the most pending. */
  private evict(): void {
    let most = 0;
    for (const n of this.perHost.values()) most = Math.max(most, n);
    for (const e of this.entries) {
      if (this.perHost.get(e.host) !== most) continue;
      this.remove(e);
      this.stats.evicted++;
      e.hooks.shed(`evicted: ${this.o.maxPending} handshakes in progress, ${most} of them from ${e.host}`);
      return;
    }
  }

  private turn(e: Entry): Promise<void> {
    if (!this.entries.has(e)) return Promise.resolve(); // shed already: the intro is failing
    return new Promise((resolve) => {
      e.granted = resolve;
      const q = this.turns.get(e.host);
      if (q) q.push(e);
      else this.turns.set(e.host, [e]);
      this.grant();
    });
  }

  private remove(e: Entry): boolean {
    if (!this.entries.delete(e)) return false;
    e.deadline.cancel();
    if (e.granted) {
      const q = this.turns.get(e.host);
      const i = q?.indexOf(e) ?? -1;
      if (i >= 0) q!.splice(i, 1);
      if (q?.length === 0) this.turns.delete(e.host);
      // Let the intro go on: its socket is closed or being shed, so its next read fails.
      const go = e.granted;
      e.granted = undefined;
      go();
    }
    const n = (this.perHost.get(e.host) ?? 1) - 1;
    if (n > 0) this.perHost.set(e.host, n);
    else this.perHost.delete(e.host);
    return true;
  }

  /** Grants turns as the rate allows: one host after the other, each host's oldest first. */
  private grant(): void {
    if (this.pump) return;
    for (;;) {
      const first = this.turns.entries().next();
      if (first.done) return;
      const wait = this.bucket.tryTake();
      if (wait > 0) {
        this.pump = this.o.clock.setTimeout(() => {
          this.pump = undefined;
          this.grant();
        }, wait);
        return;
      }
      const [host, q] = first.value;
      const e = q.shift()!;
      this.turns.delete(host);
      if (q.length > 0) this.turns.set(host, q); // to the back of the rotation
      const go = e.granted!;
      e.granted = undefined;
      go();
    }
  }
}
