// The allocator: the IPAM component the daemon talks to (docs/ipam.md). It owns this peer's
// view of the ring, every peer's used-address record, its allocations (container → address) and
// their persistence, and speaks the "weft-ipam" gossip channel. The parts:
//
//   core.ts            state, persistence, waiting, which address is next
//   space-requests.ts  asking donors for space, giving ours
//   takeover.ts        fencing, reclaim, rmpeer, handoff, free-count reports
//   ipam-gossip.ts     receiving rings, records and requests
//   conflicts.ts       addresses in use twice; our containers in another peer's space
//
//   allocate ─ wait: ring · unfenced (bounded) ─ next free address we own, not held for anyone ─ save ─▶ ip
//                                              └ none: ask a donor (space-request) ─ retry ┘
import { WeftError, errorMessage } from '../lib/errors.js';
import { type GossipChannel, type GossipData, type Gossiper } from '../mesh/gossip.js';
import type { AllocatorOptions, WaitOptions } from './allocator-options.js';
import { ConflictWatch, type Conflict } from './conflicts.js';
import { abortable, IpamCore, throwIfAborted } from './core.js';
import { IpamGossip } from './ipam-gossip.js';
import { Ring } from './ring.js';
import { SpaceRequests } from './space-requests.js';
import { formatIp, formatRange, parseIp } from './space.js';
import { buildStatus, type IpamStatus } from './status-report.js';
import { Takeovers } from './takeover.js';
import type { RingState } from './types.js';
import { formatPeerName } from '../mesh/peer-name.js';

/** IPAM status `waiting` before anything asked for an address: the ring forms on the first allocation (consensus starts then). */
export const WAITING_FOR_FIRST_ALLOCATION = 'the first allocation to start consensus';

export { DEFAULT_ALLOCATOR_TIMINGS, type AllocatorOptions, type AllocatorTimings, type IpamMeshView, type WaitOptions } from './allocator-options.js';
export type { IpamStatus } from './status-report.js';
export type { Conflict } from './conflicts.js';

export const IPAM_CHANNEL = 'weft-ipam';

export class Allocator implements Gossiper {
  private readonly c: IpamCore;
  private readonly spaces: SpaceRequests;
  private readonly takeovers: Takeovers;
  private readonly conflictWatch: ConflictWatch;
  private readonly g: IpamGossip;

  constructor(o: AllocatorOptions) {
    this.c = new IpamCore(o);
    this.takeovers = new Takeovers(this.c);
    this.spaces = new SpaceRequests(this.c, () => this.takeovers.scheduleReport());
    this.conflictWatch = new ConflictWatch(this.c);
    this.g = new IpamGossip(this.c, this.spaces, this.takeovers, this.conflictWatch);
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────

  attach(channel: GossipChannel): void {
    this.c.channel = channel;
  }

  /** Loads the persisted ring, records and allocations (a persisted ring wins over init), then starts the timers. */
  async start(): Promise<void> {
    const c = this.c;
    if (c.state !== 'new') return;
    const p = await c.o.store.load();
    if (p?.ring) {
      if (p.ring.start !== c.o.range.start || p.ring.end !== c.o.range.end) {
        throw new WeftError(
          'usage',
          `the saved IPAM ring is for ${formatRange(p.ring)} but the allocation range is ${formatRange(c.o.range)}: pass --ipalloc-range ${formatRange(p.ring)}, or weft reset this peer to start over`,
        );
      }
      c.ring = Ring.fromState(p.ring);
      c.durableRing = p.ring;
      c.needRing = c.ring.owners().some((o) => o !== c.self);
    }
    if (p) {
      if (p.self !== c.self) c.o.log.warn({ saved: formatPeerName(p.self) }, 'ipam: the saved state was written by another peer name');
      for (const a of p.allocations) c.table.record(a.container, a.ip);
      c.records.merge(p.records ?? []);
      c.quarantine = p.quarantine;
      if (p.lastMajorityAt !== undefined) c.reclaim.lastMajorityAt = p.lastMajorityAt;
    }
    if (!c.ring && c.o.init.mode === 'seed') {
      c.ring = Ring.seed(c.o.range, c.o.init.seeds);
      c.o.log.info({ seeds: c.o.init.seeds.map(formatPeerName) }, 'ipam: ring seeded');
    }
    c.state = 'running';
    c.startedAt = c.o.clock.now();
    // Saves a seeded ring, and announces our record (a file from before records has none).
    c.persistLogged('the state loaded at start');
    this.takeovers.start();
    this.conflictWatch.check();
  }

  /** Stops timers and consensus, fails pending requests. Safe to call twice. */
  stop(): void {
    const c = this.c;
    if (c.state === 'stopped') return;
    c.state = 'stopped';
    this.takeovers.stop();
    c.stopTimers();
    this.g.stop();
    this.spaces.stop();
    c.notify();
  }

  // ── the daemon's API ──────────────────────────────────────────────────────

  /** An address for container (the same one again if it has one), saved before it is returned. */
  async allocate(container: string, opts: WaitOptions = {}): Promise<string> {
    const c = this.c;
    const { signal } = opts;
    throwIfAborted(signal);
    const have = c.table.get(container);
    if (have !== undefined) {
      await c.persist();
      return formatIp(have);
    }
    for (;;) {
      await this.waitUsable(signal);
      const again = c.table.get(container);
      if (again !== undefined) {
        await c.persist();
        return formatIp(again);
      }
      const ip = c.pickFree();
      if (ip !== undefined) {
        await this.recordSaved(container, ip, signal, 'allocation');
        // Released (by a concurrent release of the same container) while saving: start over.
        if (c.table.get(container) !== ip) continue;
        return formatIp(ip);
      }
      await this.spaces.find(signal);
    }
  }

  /** Reserves ip for container. Outside the range: allowed, not tracked. Owned by another peer: asked for. */
  async claim(container: string, ip: string, opts: WaitOptions = {}): Promise<void> {
    const c = this.c;
    const { signal } = opts;
    throwIfAborted(signal);
    const addr = parseIp(ip);
    if (addr === undefined) throw new WeftError('usage', `${ip} is not an IPv4 address`);
    const { start, end } = c.o.range;
    if (addr < start || addr >= end) return;
    if (addr === start || addr === end - 1) {
      throw new WeftError('usage', `${ip} is the ${addr === start ? 'network' : 'broadcast'} address of ${formatRange(c.o.range)}: pick another`);
    }
    const have = c.table.get(container);
    if (have === addr) return c.persist();
    if (have !== undefined) throw new WeftError('usage', `${container} already has ${formatIp(have)}: detach it first`);
    for (let asked = false; ; asked = true) {
      await this.waitUsable(signal);
      const now = c.table.get(container);
      if (now !== undefined && now !== addr) throw new WeftError('usage', `${container} already has ${formatIp(now)}: detach it first`);
      const holder = c.table.holdersOf(addr).find((h) => h !== container);
      if (holder !== undefined) throw new WeftError('usage', `${ip} is already in use by ${holder}`);
      if (now === addr) return c.persist();
      const elsewhere = c.records.holdersOf(addr, c.self);
      if (elsewhere.length > 0) throw new WeftError('usage', `${ip} is in use by a container on ${c.describe(elsewhere[0]!)}: pick another`);
      const owner = c.ring!.ownerOf(addr);
      if (owner === undefined) throw new WeftError('io', `the owner of ${ip} is not known here yet (the ring is still arriving): try again`);
      if (owner === c.self) {
        const q = c.resting().find((x) => addr >= x.start && addr < x.end);
        if (q) {
          throw new WeftError('io', `${ip} was taken over from a gone peer ${Math.ceil((q.until - c.o.clock.now()) / 1000)} s ago or less and is held back until then: try again shortly`);
        }
        await this.recordSaved(container, addr, signal, 'claim');
        if (c.table.get(container) !== addr) throw new WeftError('io', `${ip} was released while being claimed: try again`);
        return;
      }
      const who = c.describe(owner);
      if (asked) throw new WeftError('io', `${ip} still belongs to ${who} after it agreed to give it: try again`);
      if (!c.o.mesh.reachable(owner)) {
        throw new WeftError('io', `${ip} belongs to ${who}, which is unreachable: reconnect it, or weft rmpeer it if it is gone for good`);
      }
      const answer = await abortable(this.spaces.ask(owner, { start: addr, end: addr + 1 }), signal);
      if (answer.outcome === 'timeout') throw new WeftError('io', `${ip} belongs to ${who}, which did not answer a request for it: try again`);
      if (answer.outcome === 'denied') {
        const why = answer.reason === 'in-use' ? 'it is in use there' : answer.reason === 'fenced' ? 'it cannot reach a majority of the IPAM peers' : answer.reason;
        throw new WeftError('io', `${ip} belongs to ${who}, which refused to give it: ${why}`);
      }
    }
  }

  /**
   * The kernel was found holding ip for container at start-up (a crash between kernel and store,
   * or a store emptied by hand): it is recorded as ours and saved, whoever's space it lies in,
   * so no one hands it out while the container has it. In our space (or with no ring yet) it is
   * an ordinary allocation; in another peer's space that peer holds it for us (logged here). If
   * someone else uses it too, returns a description of the conflict for the caller to log (it is
   * also in conflicts() and status()).
   */
  async adopt(container: string, ip: string): Promise<string | undefined> {
    const c = this.c;
    const addr = parseIp(ip);
    if (addr === undefined) throw new WeftError('usage', `${ip} is not an IPv4 address`);
    if (c.state !== 'running') throw new WeftError('not-running', 'IPAM is not running: adopt after start()');
    if (addr < c.o.range.start || addr >= c.o.range.end) return undefined;
    if (c.table.get(container) !== addr) {
      c.table.record(container, addr);
      try {
        await c.persist();
      } catch (err) {
        throw new WeftError('io', `cannot save the adopted ${ip} of ${container}: ${errorMessage(err)}`, { cause: err });
      }
      this.takeovers.scheduleReport();
    }
    const others = [...c.table.holdersOf(addr).filter((h) => h !== container), ...c.records.holdersOf(addr, c.self).map((p) => `a container on ${c.describe(p)}`)];
    this.conflictWatch.check();
    if (others.length > 0) return `${ip} of ${container} is also in use by ${others.join(' and ')}: detach and re-attach one of them`;
    const owner = c.ring?.ownerOf(addr);
    if (owner !== undefined && owner !== c.self) {
      c.o.log.warn({ container, ip, owner: formatPeerName(owner) }, `ipam: ${ip} of ${container} (found in the kernel) lies in the space of ${c.describe(owner)}: recorded, and ${c.describe(owner)} holds it for this container`);
    }
    return undefined;
  }

  /** Frees container's address (saved). Unknown containers are ignored. */
  async release(container: string): Promise<void> {
    const c = this.c;
    if (c.table.unrecord(container) === undefined) return;
    await c.persist();
    this.takeovers.scheduleReport();
    this.g.scheduleCheck();
  }

  /** Every allocation this peer holds. */
  allocations(): { container: string; ip: string }[] {
    return this.c.table.entries().map(([container, ip]) => ({ container, ip: formatIp(ip) }));
  }

  /** The container's address, if it has one. */
  lookup(container: string): string | undefined {
    const a = this.c.table.get(container);
    return a === undefined ? undefined : formatIp(a);
  }

  /** Our addresses that someone else uses too (also in status().conflicts). */
  conflicts(): Conflict[] {
    return this.conflictWatch.list();
  }

  /** Takes over every range of a gone peer at once and frees what was held for it (weft rmpeer); returns the number of addresses taken over. */
  rmpeer(nameOrNickname: string): number {
    return this.takeovers.rmpeer(nameOrNickname);
  }

  /** For weft reset: hands all our space to a reachable peer; see Takeovers.handoff. */
  handoff(): Promise<string | undefined> {
    return this.takeovers.handoff();
  }

  /** Re-checks reclaim and fencing now (call on topology changes). */
  topologyChanged(): void {
    if (this.c.state === 'running') this.takeovers.assess();
  }

  status(): IpamStatus {
    return buildStatus(this.c, {
      waiting: this.waitingFor(),
      conflicts: this.conflictWatch.list(),
      foreign: this.conflictWatch.foreign(),
      consensusDropped: this.g.consensusDropped(),
    });
  }

  /** Counts for the metrics (src/metrics/): space requests waiting for an answer, reclaims since start. */
  counters(): { pendingRequests: number; reclaims: number } {
    return { pendingRequests: this.spaces.pending, reclaims: this.takeovers.reclaims };
  }

  /** The ring as it is now (for tests, benchmarks and the ring's own status). */
  ringState(): RingState | undefined {
    return this.c.ring?.state();
  }

  // ── gossip (channel "weft-ipam"): ipam-gossip.ts ──────────────────────────

  onGossipUnicast(src: bigint, msg: Buffer): void {
    this.g.onGossipUnicast(src, msg);
  }

  onGossipBroadcast(src: bigint, update: Buffer): GossipData | undefined {
    return this.g.onGossipBroadcast(src, update);
  }

  gossip(): GossipData | undefined {
    return this.g.gossip();
  }

  onGossip(msg: Buffer): GossipData | undefined {
    return this.g.onGossip(msg);
  }

  // ── waiting ───────────────────────────────────────────────────────────────

  /** Records container → ip and saves it; undone (and 'aborted') if the caller gave up meanwhile. */
  private async recordSaved(container: string, ip: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    const c = this.c;
    throwIfAborted(signal);
    c.table.record(container, ip);
    try {
      await c.persist();
    } catch (err) {
      if (c.table.get(container) === ip) c.table.unrecord(container);
      throw new WeftError('io', `cannot save the ${what} of ${formatIp(ip)}: ${errorMessage(err)}`, { cause: err });
    }
    this.takeovers.scheduleReport();
    if (signal?.aborted) {
      if (c.table.get(container) === ip) {
        c.table.unrecord(container);
        c.persistLogged(`the cancelled ${what} of ${formatIp(ip)}`);
      }
      throw new WeftError('aborted', 'the request was cancelled');
    }
  }

  /** Waits (bounded) for a ring and for a majority; throws what stands in the way. */
  private async waitUsable(signal: AbortSignal | undefined): Promise<void> {
    const c = this.c;
    if (c.reclaim.fenced) {
      // A cut-off peer is fenced at once; most cuts are short, so wait for the heal a while.
      // Just after a start it may only be waiting for the mesh to connect: give it that long.
      const ms = Math.max(c.t.fencedWaitMs, c.startedAt + c.t.waitRingMs - c.o.clock.now());
      await c.waitFor(() => !c.reclaim.fenced || c.state === 'stopped', ms, () => c.fencedMessage(), signal);
    }
    c.checkUsable();
    if (!c.isReady()) {
      if (!c.ring && c.o.init.mode === 'consensus') this.g.ensureConsensus().start();
      if (c.needRing) this.takeovers.requestRing();
      const ms = c.t.waitRingMs;
      await c.waitFor(() => c.isReady() || c.state === 'stopped', ms, () => `no IPAM ring after ${ms / 1000} s: waiting for ${this.waitingFor() ?? 'the ring'} — start enough of the peers named by --ipalloc-init consensus=N (or give every peer the same --ipalloc-init seed=…); weft status ipam shows what is missing`, signal);
    }
    c.checkUsable();
  }

  private waitingFor(): string | null {
    const c = this.c;
    if (!c.ring) {
      if (c.o.init.mode === 'seed') return 'the ring from a seed peer';
      const s = this.g.consensusStatus();
      return s ? `consensus on the initial ring (${s.state}, round ${s.round}, ${s.promises} promises, ${s.accepts} accepts, quorum ${c.o.init.quorum})` : WAITING_FOR_FIRST_ALLOCATION;
    }
    if (c.needRing) return 'the ring from another peer (after a restart or a partition)';
    return this.spaces.waitingFor();
  }
}
