// Which remote peers carry traffic, from the kernel's own bookkeeping: every static FDB entry of
// the VXLAN device records when it last forwarded a frame (Kernel.fdbUse). A peer is active while
// an entry for one of its endpoints forwarded within activeMs — whatever the entry's destination,
// so a peer reached through a relay counts too. Head-end (all-zero) entries carry broadcasts to
// every peer and say nothing about one. An entry counts only if it was used after it was last
// programmed: the kernel counts creating an entry as a use, and a restart or a mass install must
// not make every peer look active.
//
//   every pollMs: kernel.fdbUse([dev], activeMs) → owners of recently used entries → onChange(set) if it changed
//
// Reading the entries costs the kernel a walk of all of them (~0.45 s of CPU per 100,000) however
// few are used, so the next poll waits at least COST_FACTOR times as long as the last one took:
// polling stays below ~5% of a core at any size (every second up to ~10,000 endpoints, about every
// 10–20 s at 100,000).
export const COST_FACTOR = 20;
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { isZeroMac } from './desired.js';
import type { Kernel } from './kernel.js';

export interface PeerActivityOptions {
  kernel: Kernel;
  clock: Clock;
  log: Logger;
  /** The VXLAN device whose entries are read. */
  dev: string;
  pollMs: number;
  /** A peer is active while one of its entries forwarded within this long. */
  activeMs: number;
  /** The peer that owns an endpoint MAC, if any. */
  ownerOf: (mac: string) => PeerName | undefined;
  /** Called with the new set when it changed. */
  onChange: (active: ReadonlySet<PeerName>) => void;
}

export class PeerActivity {
  private current: ReadonlySet<PeerName> = new Set();
  private timer: Timer | undefined;
  private stopped = false;
  /** How long the last poll took (ms of wall time, kernel dump included). */
  lastPollMs = 0;

  constructor(private readonly o: PeerActivityOptions) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  active(): ReadonlySet<PeerName> {
    return this.current;
  }

  /** Reads the kernel once and reports a changed set. */
  async poll(): Promise<void> {
    const t0 = performance.now();
    let list;
    try {
      list = await this.o.kernel.fdbUse([this.o.dev], this.window());
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'could not read which forwarding entries are in use; keeping the last answer');
      return;
    }
    const next = new Set<PeerName>();
    for (const e of list) {
      if (isZeroMac(e.mac) || e.usedAgoMs > this.window() || e.usedAgoMs >= e.updatedAgoMs) continue;
      const owner = this.o.ownerOf(e.mac);
      if (owner !== undefined) next.add(owner);
    }
    this.lastPollMs = performance.now() - t0;
    if (this.stopped || sameSet(next, this.current)) return;
    this.current = next;
    this.o.onChange(next);
  }

  /** Time between polls: pollMs, or longer when a poll is expensive. */
  private interval(): number {
    return Math.max(this.o.pollMs, COST_FACTOR * this.lastPollMs);
  }

  /** A use this recent counts: activeMs, and never less than the time between polls (a use between two polls is seen). */
  private window(): number {
    return Math.max(this.o.activeMs, this.interval());
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, this.interval());
  }
}

function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
