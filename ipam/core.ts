// The allocator's state and the helpers every part of it shares (docs/ipam.md): the ring, the
// used-address records of every peer, our allocations, the quarantine, persistence, waiting,
// and which address to hand out next. One IpamCore per allocator; the parts (space-requests.ts,
// takeover.ts, ipam-gossip.ts, conflicts.ts) change it only between awaits.
//
// Persistence rule: a change that makes us own less (give, handoff), and our own used-address
// record, are saved before anyone hears of them, so a restart never believes it owns what it
// gave away nor announces less than it holds; an address is saved before it is returned.
import type { Timer } from '../lib/clock.js';
import { WeftError, errorMessage } from '../lib/errors.js';
import { Coalescer } from '../lib/serial.js';
import { formatPeerName, type PeerName } from '../mesh/peer-name.js';
import { BytesGossipData, type GossipChannel } from '../mesh/gossip.js';
import { DEFAULT_ALLOCATOR_TIMINGS, type AllocatorOptions, type AllocatorTimings } from './allocator-options.js';
import { AllocationTable } from './allocation-table.js';
import { encodeMessage } from './messages.js';
import { ReclaimTracker, percent } from './reclaim.js';
import type { Ring } from './ring.js';
import { encodeRing } from './ring-codec.js';
import { donation, freeBlocks, size } from './space.js';
import type { Persisted } from './store.js';
import { TAKEOVER_BUMP, type Entry, type Range, type RingState } from './types.js';
import { encodeUsed } from './used-codec.js';
import { sortedDistinct, UsedRecords, type UsedRecord } from './used.js';

/** Distinct reasons counted in `dropped`; further ones are counted as "other". */
const MAX_DROP_REASONS = 64;

export class IpamCore {
  readonly t: AllocatorTimings;
  readonly self: PeerName;
  ring: Ring | undefined;
  channel: GossipChannel | undefined;
  readonly records = new UsedRecords();
  readonly table = new AllocationTable();
  quarantine: Persisted['quarantine'] = [];
  readonly reclaim: ReclaimTracker;
  /** A restarted (or unfenced) peer waits for a whole ring from another peer before allocating. */
  needRing = false;
  refused: string | undefined;
  leaving = false;
  state: 'new' | 'running' | 'stopped' = 'new';
  startedAt = 0;
  readonly dropped: Record<string, number> = {};
  /** The ring as last saved: the only ring we tell others about (a give is durable before it is heard). */
  durableRing: RingState | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly saver = new Coalescer(() => this.save());
  private saveTimer: Timer | undefined;
  private announced = 0;

  constructor(readonly o: AllocatorOptions) {
    this.t = { ...DEFAULT_ALLOCATOR_TIMINGS, ...o.timings };
    this.self = o.self;
    this.reclaim = new ReclaimTracker(o.reclaimAfterMs, o.clock.now());
  }

  // ── waiting ───────────────────────────────────────────────────────────────

  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when pred() holds; rejects with why() after ms, or 'aborted' when signal aborts. */
  waitFor(pred: () => boolean, ms: number, why: () => string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.waiters.delete(check);
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
      };
      const check = (): void => {
        if (!pred()) return;
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(aborted());
      };
      const timer = this.o.clock.setTimeout(() => {
        done();
        reject(new WeftError('io', why()));
      }, ms);
      this.waiters.add(check);
      signal?.addEventListener('abort', onAbort);
      if (signal?.aborted) onAbort();
      else check();
    });
  }

  isReady(): boolean {
    return this.ring !== undefined && !this.needRing;
  }

  checkUsable(): void {
    if (this.state === 'stopped') throw new WeftError('closed', 'IPAM is stopping');
    if (this.leaving) throw new WeftError('io', 'this peer has handed its address space to another peer (weft reset) and owns none: weft launch it again to rejoin');
    if (this.reclaim.fenced) throw new WeftError('io', this.fencedMessage());
  }

  fencedMessage(): string {
    const space = this.ownedSpace();
    let total = 0;
    let reached = 0;
    let reach = 0;
    for (const [o, n] of space) {
      total += n;
      if (o === this.self || this.o.mesh.reachable(o)) {
        reached += n;
        reach++;
      }
    }
    return `cannot reach a majority of the IPAM peers (${reach} of ${space.size} owners reachable, owning ${percent(total ? reached / total : 1)} of the space): existing addresses are kept, new ones are refused until the network heals`;
  }

  // ── persistence and announcing ────────────────────────────────────────────

  /** Saves the whole state; resolves once a save that began after this call is durable. */
  persist(): Promise<void> {
    return this.saver.run();
  }

  /** persist() for changes nobody waits on: a failure is logged with what was being saved. */
  persistLogged(what: string): void {
    this.persist().catch((err: unknown) => this.o.log.error({ err: errorMessage(err) }, `ipam: cannot save ${what}`));
  }

  /**
   * Others' changes are saved at most once per report interval rather than once per message: at
   * 1,000 peers a wave of free-count reports would otherwise cost every peer ~1,000 fsyncs. Our
   * own changes (allocations, gives) are saved at once, before anyone hears of them.
   */
  scheduleSave(): void {
    if (this.saveTimer || this.state !== 'running') return;
    this.saveTimer = this.o.clock.setTimeout(() => {
      this.saveTimer = undefined;
      this.persistLogged('the ring');
    }, this.t.reportFreeMs);
  }

  stopTimers(): void {
    this.saveTimer?.cancel();
  }

  private async save(): Promise<void> {
    // Our record follows our allocations at every save, and is announced only once durable.
    this.records.setOwn(this.self, this.table.ips());
    const snap = this.snapshot();
    await this.o.store.save(snap);
    this.durableRing = snap.ring;
    const own = snap.records?.find((r) => r.owner === this.self);
    if (own && own.version > this.announced && this.state === 'running') {
      this.announced = own.version;
      this.sendUsed([own]);
    }
  }

  private snapshot(): Persisted {
    return {
      self: this.self,
      ring: this.ring?.state(),
      allocations: this.table.entries().map(([container, ip]) => ({ container, ip })),
      quarantine: this.quarantine.map((q) => ({ ...q })),
      lastMajorityAt: this.reclaim.lastMajorityAt,
      records: this.records.all(),
    };
  }

  sendRingDelta(delta: readonly Entry[]): void {
    if (delta.length === 0 || !this.ring || this.state === 'stopped') return;
    this.channel?.gossipBroadcast(new BytesGossipData([encodeMessage({ type: 'ring-delta', ring: encodeRing(this.ring.state(delta)) })]));
  }

  sendUsed(records: readonly UsedRecord[]): void {
    if (records.length === 0 || this.state === 'stopped') return;
    this.channel?.gossipBroadcast(new BytesGossipData([encodeMessage({ type: 'used', used: encodeUsed(records) })]));
  }

  /** The whole durable ring and every record, in one message. */
  fullMessage(): Buffer | undefined {
    if (!this.durableRing) return undefined;
    return encodeMessage({ type: 'full', ring: encodeRing(this.durableRing), used: encodeUsed(this.records.all()) });
  }

  // ── free space ────────────────────────────────────────────────────────────

  /** Not free for us: our allocations and every address in another peer's record (held for it). */
  taken(): number[] {
    const others = this.records.usedByOthers(this.self);
    return others.length === 0 ? this.table.ips() : sortedDistinct([...this.table.ips(), ...others]);
  }

  /**
   * Quarantined space that still rests now. An entry past its time no longer counts, even before
   * the tick drops it: otherwise for up to a tick a donor answered "no space" (not "resting")
   * about space it could give, and the asker called the range full (e2e-ipam under load).
   */
  resting(): Persisted['quarantine'] {
    const now = this.o.clock.now();
    return this.quarantine.filter((q) => q.until > now);
  }

  /** Never handed out: the range's network and broadcast addresses, space that rests. */
  excluded(): Range[] {
    const { start, end } = this.o.range;
    return [{ start, end: start + 1 }, { start: end - 1, end }, ...this.resting()];
  }

  /** Our space split into what was never taken over and what was (entries bumped by a takeover). */
  ownSpace(): { fresh: Range[]; takenOver: Range[] } {
    const fresh: Range[] = [];
    const takenOver: Range[] = [];
    const ring = this.ring;
    if (!ring) return { fresh, takenOver };
    const list = ring.entries();
    list.forEach((e, i) => {
      if (e.owner !== this.self || e.version === 0) return;
      (e.version >= TAKEOVER_BUMP ? takenOver : fresh).push({ start: e.token, end: list[i + 1]?.token ?? ring.range.end });
    });
    return { fresh, takenOver };
  }

  freeBlocksNow(): Range[] {
    if (!this.ring) return [];
    return freeBlocks(this.ring.rangesOf(this.self), this.taken(), this.excluded());
  }

  /**
   * The next address to hand out: the lowest free one in space never taken over; only when there
   * is none, the highest free one in taken-over space. A gone peer allocated lowest-first, so its
   * allocations we may not have heard of (docs/ipam.md, "the residual corner") sit at the bottom
   * of its old space, and we reach them last.
   */
  pickFree(): number | undefined {
    const { fresh, takenOver } = this.ownSpace();
    const taken = this.taken();
    const excluded = this.excluded();
    const f = freeBlocks(fresh, taken, excluded)[0];
    if (f) return f.start;
    const old = freeBlocks(takenOver, taken, excluded);
    return old.length > 0 ? old[old.length - 1]!.end - 1 : undefined;
  }

  /** What to give a peer that asks for space: fresh space first, for the same reason. */
  donation(): Range | undefined {
    const { fresh, takenOver } = this.ownSpace();
    const taken = this.taken();
    const excluded = this.excluded();
    return donation(freeBlocks(fresh, taken, excluded)) ?? donation(freeBlocks(takenOver, taken, excluded));
  }

  freeCount(): number {
    return size(this.freeBlocksNow());
  }

  /** Addresses owned per owner. */
  ownedSpace(): Map<PeerName, number> {
    const m = new Map<PeerName, number>();
    const ring = this.ring;
    if (!ring) return m;
    const list = ring.entries();
    list.forEach((e, i) => {
      if (e.version === 0) return;
      m.set(e.owner, (m.get(e.owner) ?? 0) + ((list[i + 1]?.token ?? ring.range.end) - e.token));
    });
    return m;
  }

  /** Advertised free addresses per owner (sum over its entries). */
  advisoryFree(): Map<PeerName, number> {
    const m = new Map<PeerName, number>();
    for (const e of this.ring?.entries() ?? []) m.set(e.owner, (m.get(e.owner) ?? 0) + e.free);
    return m;
  }

  // ── naming and counting ───────────────────────────────────────────────────

  describe(n: PeerName): string {
    const nick = this.o.mesh.nickname(n);
    return nick ? `${formatPeerName(n)}(${nick})` : formatPeerName(n);
  }

  /** Counts a dropped message by the kind of its reason (numbers from the message are masked). */
  drop(reason: string): void {
    let key = reason.replace(/\d+/g, 'N');
    if (!(key in this.dropped) && Object.keys(this.dropped).length >= MAX_DROP_REASONS) key = 'other';
    this.dropped[key] = (this.dropped[key] ?? 0) + 1;
  }
}

export function aborted(): WeftError {
  return new WeftError('aborted', 'the request was cancelled');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw aborted();
}

/** p, or a rejection with 'aborted' as soon as signal aborts (p itself goes on). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
