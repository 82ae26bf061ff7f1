// The allocator: the IPAM component the daemon talks to. It owns this peer's view of the ring,
// its allocations (container → address) and their persistence, and speaks the "weft-ipam"
// gossip channel (docs/ipam.md):
//
//   allocate ─ wait for a ring (seed | consensus | gossip) ─ lowest free address we own ─ save ─▶ ip
//                                                   └ none: ask a donor (space-request) ─ retry ┘
//   gossip()/broadcast ─ ring-full | ring-delta ─▶ merge ─ allocations outside our ranges → lost
//   every tick / topology change ─ ReclaimTracker ─ fence | take over an owner gone too long
//
// Ordering rule: a change that makes us own less (give, handoff) is saved before anyone hears
// of it, so a restart never believes it owns what it gave away; an address is saved before it
// is returned.
import type { Clock, Timer } from '../src/clock.js';
import type { Logger } from '../src/log.js';
import { WeftError, errorMessage } from '../src/errors.js';
import { formatPeerName, parsePeerName, type PeerName } from '../mesh/peer-name.js';
import { BytesGossipData, type GossipChannel, type GossipData, type Gossiper } from '../mesh/gossip.js';
import { Consensus, type ConsensusTimings } from './consensus.js';
import { NO_OWNER, Ring } from './ring.js';
import { decodeRing, encodeRing } from './ring-codec.js';
import { decodeMessage, encodeMessage, type DenyReason } from './messages.js';
import { ReclaimTracker, percent } from './reclaim.js';
import { donation, formatIp, formatRange, freeBlocks, parseIp, size } from './space.js';
import type { IpamStore, Persisted } from './store.js';
import type { IpamPeerStatus, IpamStatusJson } from './status.js';
import type { Entry, Range, RingState } from './types.js';

export const IPAM_CHANNEL = 'weft-ipam';

export interface AllocatorTimings {
  /** allocate/claim give up waiting for a ring after this long. */
  waitRingMs: number;
  /** A space request without an answer is retried at another peer after this long. */
  requestTimeoutMs: number;
  /** Reclaim and fencing are re-checked this often. */
  tickMs: number;
  /** Free counts are reported to the ring at most this often. */
  reportFreeMs: number;
  /** Taken-over space is not handed out for this long. */
  quarantineMs: number;
}

export const DEFAULT_ALLOCATOR_TIMINGS: AllocatorTimings = {
  waitRingMs: 30_000,
  requestTimeoutMs: 3_000,
  tickMs: 1_000,
  reportFreeMs: 1_000,
  quarantineMs: 30_000,
};

/** What the allocator needs to know about the mesh. */
export interface IpamMeshView {
  /** A route to n exists now. */
  reachable(n: PeerName): boolean;
  /** The peers in the topology (self included). */
  knownPeers(): PeerName[];
  nickname(n: PeerName): string | undefined;
}

export interface AllocatorOptions {
  self: PeerName;
  range: Range;
  init: { mode: 'seed'; seeds: PeerName[] } | { mode: 'consensus'; quorum: number };
  clock: Clock;
  random: () => number;
  log: Logger;
  store: IpamStore;
  mesh: IpamMeshView;
  reclaimAfterMs: number;
  timings?: Partial<AllocatorTimings>;
  consensusTimings?: Partial<ConsensusTimings>;
}

export interface IpamStatus extends IpamStatusJson {
  /** Allocations dropped because the ring says another peer owns their address now. */
  lost: { container: string; ip: string }[];
  /** Why a ring from another peer was refused (different range or genesis), if one was. */
  refused?: string;
}

type Ask = { outcome: 'granted' } | { outcome: 'denied'; reason: DenyReason } | { outcome: 'timeout' };

interface PendingAsk {
  to: PeerName;
  want?: Range;
  timer: Timer;
  done(a: Ask): void;
}

const MAX_LOST = 100;
/** Distinct reasons counted in `dropped`; further ones are counted as "other". */
const MAX_DROP_REASONS = 64;
/** Donors with no advertised free space asked before giving up. */
const BLIND_ASKS = 3;

export class Allocator implements Gossiper {
  private readonly t: AllocatorTimings;
  private ring: Ring | undefined;
  private channel: GossipChannel | undefined;
  private consensus: Consensus | undefined;
  private readonly allocs = new Map<string, number>();
  private readonly byIp = new Map<number, string>();
  private quarantine: Persisted['quarantine'] = [];
  private lost: { container: string; ip: number }[] = [];
  private readonly reclaim: ReclaimTracker;
  /** A restarted (or unfenced) peer waits for a whole ring from another peer before allocating. */
  private needRing = false;
  private refused: string | undefined;
  private leaving = false;
  private readonly dropped: Record<string, number> = {};
  private readonly waiters = new Set<() => void>();
  private readonly asks = new Map<number, PendingAsk>();
  private nextAskId = 1;
  private spaceSearch: Promise<void> | undefined;
  private pendingSave: Promise<void> | undefined;
  /** The ring as last saved: the only ring we tell others about (a give is durable before it is heard). */
  private durableRing: RingState | undefined;
  private saveChain: Promise<void> = Promise.resolve();
  private tickTimer: Timer | undefined;
  private reportTimer: Timer | undefined;
  private saveTimer: Timer | undefined;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private startedAt = 0;

  constructor(private readonly o: AllocatorOptions) {
    this.t = { ...DEFAULT_ALLOCATOR_TIMINGS, ...o.timings };
    this.reclaim = new ReclaimTracker(o.reclaimAfterMs, o.clock.now());
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────

  attach(channel: GossipChannel): void {
    this.channel = channel;
  }

  /** Loads the persisted ring and allocations (a persisted ring wins over init), then starts the timers. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    const p = await this.o.store.load();
    if (p?.ring) {
      if (p.ring.start !== this.o.range.start || p.ring.end !== this.o.range.end) {
        throw new WeftError(
          'usage',
          `the saved IPAM ring is for ${formatRange(p.ring)} but the allocation range is ${formatRange(this.o.range)}: pass --ipalloc-range ${formatRange(p.ring)}, or weft reset this peer to start over`,
        );
      }
      this.ring = Ring.fromState(p.ring);
      this.durableRing = p.ring;
      this.needRing = this.ring.owners().some((o) => o !== this.o.self);
    }
    if (p) {
      if (p.self !== this.o.self) this.o.log.warn({ saved: formatPeerName(p.self) }, 'ipam: the saved state was written by another peer name');
      for (const a of p.allocations) this.record(a.container, a.ip);
      this.quarantine = p.quarantine;
      if (p.lastMajorityAt !== undefined) this.reclaim.lastMajorityAt = p.lastMajorityAt;
    }
    if (!this.ring && this.o.init.mode === 'seed') {
      this.ring = Ring.seed(this.o.range, this.o.init.seeds);
      this.o.log.info({ seeds: this.o.init.seeds.map(formatPeerName) }, 'ipam: ring seeded');
      void this.persist().catch(() => undefined);
    }
    this.state = 'running';
    this.startedAt = this.o.clock.now();
    if (this.ring) this.dropLost();
    this.tick();
    if (this.ring) this.scheduleReport();
  }

  /** Stops timers and consensus, fails pending requests. Safe to call twice. */
  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.tickTimer?.cancel();
    this.reportTimer?.cancel();
    this.saveTimer?.cancel();
    this.consensus?.stop();
    for (const [id, a] of this.asks) {
      a.timer.cancel();
      this.asks.delete(id);
      a.done({ outcome: 'timeout' });
    }
    this.notify();
  }

  // ── the daemon's API ──────────────────────────────────────────────────────

  /** An address for container (the same one again if it has one), saved before it is returned. */
  async allocate(container: string): Promise<string> {
    const have = this.allocs.get(container);
    if (have !== undefined) {
      await this.persist();
      return formatIp(have);
    }
    for (;;) {
      await this.waitUnfenced();
      this.checkUsable();
      await this.waitReady();
      this.checkUsable();
      const again = this.allocs.get(container);
      if (again !== undefined) {
        await this.persist();
        return formatIp(again);
      }
      const ip = this.lowestFree();
      if (ip !== undefined) {
        this.record(container, ip);
        try {
          await this.persist();
        } catch (err) {
          this.unrecord(container);
          throw new WeftError('io', `cannot save the allocation of ${formatIp(ip)}: ${errorMessage(err)}`, { cause: err });
        }
        this.scheduleReport();
        // A merge while saving may have shown that the address is not ours (we were taken over).
        if (this.allocs.get(container) !== ip) continue;
        return formatIp(ip);
      }
      this.spaceSearch ??= this.findSpace().finally(() => (this.spaceSearch = undefined));
      await this.spaceSearch;
    }
  }

  /** Reserves ip for container. Outside the range: allowed, not tracked. Owned by another peer: asked for. */
  async claim(container: string, ip: string): Promise<void> {
    const addr = parseIp(ip);
    if (addr === undefined) throw new WeftError('usage', `${ip} is not an IPv4 address`);
    const { start, end } = this.o.range;
    if (addr < start || addr >= end) return;
    if (addr === start || addr === end - 1) {
      throw new WeftError('usage', `${ip} is the ${addr === start ? 'network' : 'broadcast'} address of ${formatRange(this.o.range)}: pick another`);
    }
    const have = this.allocs.get(container);
    if (have === addr) return this.persist();
    if (have !== undefined) throw new WeftError('usage', `${container} already has ${formatIp(have)}: detach it first`);
    for (let asked = false; ; asked = true) {
      await this.waitUnfenced();
      this.checkUsable();
      await this.waitReady();
      this.checkUsable();
      const now = this.allocs.get(container);
      if (now !== undefined && now !== addr) throw new WeftError('usage', `${container} already has ${formatIp(now)}: detach it first`);
      const holder = this.byIp.get(addr);
      if (holder !== undefined && holder !== container) throw new WeftError('usage', `${ip} is already in use by ${holder}`);
      if (holder === container) return this.persist();
      const owner = this.ring!.ownerOf(addr);
      if (owner === undefined) throw new WeftError('io', `the owner of ${ip} is not known here yet (the ring is still arriving): try again`);
      if (owner === this.o.self) {
        const q = this.quarantine.find((x) => addr >= x.start && addr < x.end);
        if (q) {
          throw new WeftError('io', `${ip} was taken over from a gone peer ${Math.ceil((q.until - this.o.clock.now()) / 1000)} s ago or less and is held back until then: try again shortly`);
        }
        this.record(container, addr);
        try {
          await this.persist();
        } catch (err) {
          this.unrecord(container);
          throw new WeftError('io', `cannot save the claim of ${ip}: ${errorMessage(err)}`, { cause: err });
        }
        this.scheduleReport();
        if (this.allocs.get(container) !== addr) {
          const why = this.ring?.ownerOf(addr) === this.o.self ? 'was released while being claimed' : 'was taken over by another peer while being claimed';
          throw new WeftError('io', `${ip} ${why}: try again`);
        }
        return;
      }
      const who = this.describe(owner);
      if (asked) throw new WeftError('io', `${ip} still belongs to ${who} after it agreed to give it: try again`);
      if (!this.o.mesh.reachable(owner)) {
        throw new WeftError('io', `${ip} belongs to ${who}, which is unreachable: reconnect it, or weft rmpeer it if it is gone for good`);
      }
      const answer = await this.ask(owner, { start: addr, end: addr + 1 });
      if (answer.outcome === 'timeout') throw new WeftError('io', `${ip} belongs to ${who}, which did not answer a request for it: try again`);
      if (answer.outcome === 'denied') {
        const why = answer.reason === 'in-use' ? 'it is in use there' : answer.reason === 'fenced' ? 'it cannot reach a majority of the IPAM peers' : answer.reason;
        throw new WeftError('io', `${ip} belongs to ${who}, which refused to give it: ${why}`);
      }
    }
  }

  /** Frees container's address (saved). Unknown containers are ignored. */
  async release(container: string): Promise<void> {
    if (!this.allocs.has(container)) return;
    this.unrecord(container);
    await this.persist();
    this.scheduleReport();
  }

  /** Every allocation this peer holds. */
  allocations(): { container: string; ip: string }[] {
    return [...this.allocs].map(([container, ip]) => ({ container, ip: formatIp(ip) }));
  }

  /** The container's address, if it has one. */
  lookup(container: string): string | undefined {
    const a = this.allocs.get(container);
    return a === undefined ? undefined : formatIp(a);
  }

  /** Takes over every range of a gone peer at once (weft rmpeer); returns the number of addresses. */
  rmpeer(nameOrNickname: string): number {
    const ring = this.ring;
    if (!ring) throw new WeftError('not-running', 'IPAM has no ring yet: nothing to take over');
    const owners = ring.owners();
    const parsed = parsePeerName(nameOrNickname);
    const matches = owners.filter((o) => o === parsed || this.o.mesh.nickname(o) === nameOrNickname);
    if (matches.length > 1) throw new WeftError('usage', `several peers are called ${nameOrNickname}: give the peer name`);
    const target = matches[0] ?? parsed;
    if (target === undefined) throw new WeftError('unknown-peer', `no peer named ${nameOrNickname} owns IPAM space`);
    if (target === this.o.self) throw new WeftError('usage', 'cannot rmpeer this peer: use weft reset to hand its space to another peer');
    if (this.o.mesh.reachable(target)) throw new WeftError('usage', `${this.describe(target)} is reachable: stop it (or weft reset it) before taking over its space`);
    const n = this.takeOver(target, 'rmpeer');
    this.o.log.warn({ peer: formatPeerName(target) }, `${n} IPs taken over from ${this.describe(target)}`);
    return n;
  }

  /**
   * For weft reset: gives all our space to the reachable peer with the most free space, saved
   * and broadcast; our allocations are dropped. Returns that peer's name, or undefined if we own
   * nothing or no one is reachable.
   */
  async handoff(): Promise<string | undefined> {
    const ring = this.ring;
    if (!ring || ring.rangesOf(this.o.self).length === 0) return undefined;
    const free = this.advisoryFree();
    const candidates = ring.owners().filter((o) => o !== this.o.self && this.o.mesh.reachable(o));
    if (candidates.length === 0) {
      for (const p of this.o.mesh.knownPeers()) if (p !== this.o.self && this.o.mesh.reachable(p)) candidates.push(p);
    }
    if (candidates.length === 0) return undefined;
    candidates.sort((a, b) => (free.get(b) ?? 0) - (free.get(a) ?? 0) || (a < b ? -1 : 1));
    const heir = candidates[0]!;
    this.leaving = true;
    const delta = ring.transfer(this.o.self, heir);
    for (const c of [...this.allocs.keys()]) this.unrecord(c);
    this.quarantine = [];
    await this.persist();
    this.sendDelta(delta);
    this.channel?.gossipUnicast(heir, encodeMessage({ type: 'ring-delta', ring: encodeRing(ring.state(delta)) }));
    this.o.log.info({ heir: formatPeerName(heir) }, `ipam: handed ${size(ring.rangesOf(heir))} addresses to ${this.describe(heir)}`);
    return formatPeerName(heir);
  }

  /** Re-checks reclaim and fencing now (call on topology changes). */
  topologyChanged(): void {
    if (this.state === 'running') this.assess();
  }

  status(): IpamStatus {
    const ring = this.ring;
    const now = this.o.clock.now();
    const peers: IpamPeerStatus[] = [];
    if (ring) {
      const owners = ring.owners();
      const adv = this.advisoryFree();
      for (const o of owners.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
        const owned = size(ring.rangesOf(o));
        const self = o === this.o.self;
        const free = self ? this.freeCount() : (adv.get(o) ?? 0);
        const reachable = self || this.o.mesh.reachable(o);
        const r = reachable ? { ms: null } : this.reclaim.reclaimIn(o, now, owners.length);
        peers.push({
          name: formatPeerName(o),
          nickname: this.o.mesh.nickname(o) ?? '',
          owned,
          used: Math.max(0, owned - free),
          free,
          reachable,
          reclaimInMs: r.ms,
          ...('note' in r && r.note ? { note: r.note } : {}),
        });
      }
    }
    const dropped = { ...this.dropped };
    for (const [k, v] of Object.entries(this.consensus?.dropped ?? {})) dropped[`consensus: ${k}`] = v;
    return {
      range: formatRange(this.o.range),
      ready: this.isReady(),
      fenced: this.reclaim.fenced,
      waiting: this.waitingFor(),
      peers,
      allocations: this.allocs.size,
      dropped,
      lost: this.lost.map((l) => ({ container: l.container, ip: formatIp(l.ip) })),
      ...(this.refused ? { refused: this.refused } : {}),
    };
  }

  /** The ring as it is now (for tests, benchmarks and the ring's own status). */
  ringState(): RingState | undefined {
    return this.ring?.state();
  }

  // ── gossip (channel "weft-ipam") ─────────────────────────────────────────

  onGossipUnicast(src: bigint, msg: Buffer): void {
    // Before start() has loaded ipam.json, a ring adopted here would be saved over it.
    if (this.state !== 'running') return this.drop('not running');
    const d = decodeMessage(msg);
    if (!d.ok) return this.drop(d.reason);
    const m = d.value;
    switch (m.type) {
      case 'ring-full':
      case 'ring-delta':
        this.receiveRing(m.ring, m.type === 'ring-full');
        return;
      case 'ring-request':
        if (this.durableRing) this.channel?.gossipUnicast(src, encodeMessage({ type: 'ring-full', ring: encodeRing(this.durableRing) }));
        return;
      case 'space-request':
        this.donate(src, m.id, m.want).catch((err) => this.o.log.error({ err: errorMessage(err) }, 'ipam: space request failed'));
        return;
      case 'space-grant':
        this.receiveRing(m.ring, false);
        return this.answer(src, m.id, { outcome: 'granted' });
      case 'space-denied':
        return this.answer(src, m.id, { outcome: 'denied', reason: m.reason });
      case 'consensus':
        if (this.ring) {
          if (this.durableRing) this.channel?.gossipUnicast(src, encodeMessage({ type: 'ring-full', ring: encodeRing(this.durableRing) }));
          return;
        }
        this.ensureConsensus().onMessage(src, m.payload);
        return;
    }
  }

  onGossipBroadcast(_src: bigint, update: Buffer): GossipData | undefined {
    const d = decodeMessage(update);
    if (!d.ok) return void this.drop(d.reason);
    if (d.value.type !== 'ring-full' && d.value.type !== 'ring-delta') return void this.drop(`broadcast ${d.value.type}`);
    if (this.state !== 'running') return void this.drop('not running');
    this.receiveRing(d.value.ring, d.value.type === 'ring-full');
    // Broadcast trees have no cycles: relay as is, so peers below us get it even if we knew it.
    return new BytesGossipData([update]);
  }

  gossip(): GossipData | undefined {
    if (!this.durableRing || this.state !== 'running') return undefined;
    return new BytesGossipData([encodeMessage({ type: 'ring-full', ring: encodeRing(this.durableRing) })]);
  }

  onGossip(msg: Buffer): GossipData | undefined {
    if (this.state !== 'running') return void this.drop('not running');
    const d = decodeMessage(msg);
    if (!d.ok) return void this.drop(d.reason);
    if (d.value.type !== 'ring-full' && d.value.type !== 'ring-delta') return void this.drop(`gossip ${d.value.type}`);
    const changed = this.receiveRing(d.value.ring, d.value.type === 'ring-full');
    if (!changed || changed.length === 0 || !this.ring) return undefined;
    return new BytesGossipData([encodeMessage({ type: 'ring-delta', ring: encodeRing(this.ring.state(changed)) })]);
  }

  // ── receiving rings ───────────────────────────────────────────────────────

  /** Merges (or adopts) a ring from a peer; returns the entries that changed here. */
  private receiveRing(bytes: Buffer, full: boolean): Entry[] | undefined {
    const d = decodeRing(bytes);
    if (!d.ok) return void this.drop(`ring: ${d.reason}`);
    const s = d.value;
    if (!this.ring) {
      if (s.start !== this.o.range.start || s.end !== this.o.range.end) {
        this.refused = `a peer's ring is for ${formatRange(s)}, ours is ${formatRange(this.o.range)}`;
        return void this.drop('ring of another range');
      }
      if (!full) return void this.drop('ring delta before any ring');
      let ring: Ring;
      try {
        ring = Ring.fromState(s);
      } catch (err) {
        return void this.drop(`ring: ${errorMessage(err)}`);
      }
      if (ring.entries().length === 0) return void this.drop('ring without its start token');
      this.ring = ring;
      this.o.log.info({ owners: this.ring.owners().length }, 'ipam: ring learnt from a peer');
      this.consensus?.stop();
      this.needRing = false;
      this.afterRingChange();
      return this.ring.entries().slice();
    }
    const r = this.ring.merge(s);
    if ('error' in r) {
      this.refused = r.error;
      return void this.drop('ring refused');
    }
    if (full && this.needRing) {
      this.needRing = false;
      this.o.log.info('ipam: ring synchronised with a peer');
      this.notify();
    }
    if (r.changed.length > 0) this.afterRingChange();
    return r.changed;
  }

  private afterRingChange(): void {
    this.dropLost();
    this.assess();
    this.scheduleReport();
    this.scheduleSave();
    this.notify();
  }

  /**
   * Others' changes are saved at most once per report interval rather than once per message: at
   * 1,000 peers a wave of free-count reports would otherwise cost every peer ~1,000 fsyncs. Our
   * own changes (allocations, gives) are saved at once, before anyone hears of them.
   */
  private scheduleSave(): void {
    if (this.saveTimer || this.state !== 'running') return;
    this.saveTimer = this.o.clock.setTimeout(() => {
      this.saveTimer = undefined;
      void this.persist().catch((err) => this.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save the ring'));
    }, this.t.reportFreeMs);
  }

  /** Allocations whose address another peer owns now (we were reclaimed or rmpeer'd) are dropped and reported. */
  private dropLost(): void {
    const ring = this.ring!;
    for (const [container, ip] of [...this.allocs]) {
      const owner = ring.ownerOf(ip);
      // Undefined: behind a boundary whose entry has not arrived yet; decided when it does.
      if (owner === undefined || owner === this.o.self) continue;
      this.unrecord(container);
      this.lost.push({ container, ip });
      this.o.log.error({ container, ip: formatIp(ip), owner: formatPeerName(owner) }, `ipam: ${formatIp(ip)} of ${container} now belongs to ${this.describe(owner)} (this peer's space was taken over while it was away): re-attach the container`);
    }
    if (this.lost.length > MAX_LOST) this.lost = this.lost.slice(-MAX_LOST);
  }

  // ── space requests ────────────────────────────────────────────────────────

  /** Asks donors until we own a free address; throws when no one has space. */
  private async findSpace(): Promise<void> {
    const tried = new Set<PeerName>();
    let blind = 0;
    let resting = false;
    const giveUpAt = this.o.clock.now() + this.t.quarantineMs + this.t.requestTimeoutMs;
    const pause = (ms: number): Promise<void> => new Promise<void>((resolve) => this.o.clock.setTimeout(resolve, ms));
    for (;;) {
      this.checkUsable();
      if (this.lowestFree() !== undefined) return;
      const donor = this.chooseDonor(tried, blind < BLIND_ASKS);
      if (donor === undefined) {
        // Space taken over from a gone peer rests first (quarantine), ours or a donor's: wait for
        // it rather than call the range full.
        const now = this.o.clock.now();
        const rest = this.quarantine.filter((q) => q.until > now).map((q) => q.until - now);
        if (rest.length > 0) {
          await pause(Math.min(...rest) + 1);
          tried.clear();
          continue;
        }
        if (resting && now < giveUpAt) {
          await pause(Math.min(1_000, giveUpAt - now));
          tried.clear();
          blind = 0;
          resting = false;
          continue;
        }
        const unreachable = this.ring!.owners().filter((o) => o !== this.o.self && !this.o.mesh.reachable(o));
        const extra = unreachable.length > 0 ? ` (${unreachable.length} unreachable peer(s) own space that is not reclaimed yet: see weft status ipam)` : '';
        throw new WeftError('io', `the range ${formatRange(this.o.range)} is full: no peer has a free address${extra}; release addresses or use a larger --ipalloc-range`);
      }
      tried.add(donor.peer);
      if (!donor.advertised) blind++;
      const answer = await this.ask(donor.peer);
      if (answer.outcome === 'denied' && answer.reason === 'resting') resting = true;
      if (answer.outcome !== 'granted' && this.o.log.isLevelEnabled('debug')) {
        this.o.log.debug({ donor: formatPeerName(donor.peer), answer }, 'ipam: space request not granted');
      }
    }
  }

  private chooseDonor(tried: Set<PeerName>, blindOk: boolean): { peer: PeerName; advertised: boolean } | undefined {
    const free = this.advisoryFree();
    const ring = this.ring!;
    const cands = ring.owners().filter((o) => o !== this.o.self && !tried.has(o) && this.o.mesh.reachable(o));
    const withFree = cands.filter((o) => (free.get(o) ?? 0) > 0).sort((a, b) => free.get(b)! - free.get(a)!);
    if (withFree.length > 0) {
      const top = withFree.slice(0, 3);
      return { peer: top[Math.floor(this.o.random() * top.length)]!, advertised: true };
    }
    if (!blindOk || cands.length === 0) return undefined;
    cands.sort((a, b) => size(ring.rangesOf(b)) - size(ring.rangesOf(a)));
    return { peer: cands[0]!, advertised: false };
  }

  private ask(to: PeerName, want?: Range): Promise<Ask> {
    const id = this.nextAskId++;
    return new Promise((resolve) => {
      const timer = this.o.clock.setTimeout(() => this.answer(to, id, { outcome: 'timeout' }), this.t.requestTimeoutMs);
      this.asks.set(id, { to, want, timer, done: resolve });
      this.notify();
      this.channel?.gossipUnicast(to, encodeMessage({ type: 'space-request', id, ...(want ? { want } : {}) }));
    });
  }

  private answer(from: PeerName, id: number, a: Ask): void {
    const p = this.asks.get(id);
    if (!p || p.to !== from) return void (a.outcome !== 'timeout' && this.drop('answer to no request'));
    this.asks.delete(id);
    p.timer.cancel();
    p.done(a);
    this.notify();
  }

  /** A peer asks us for space (any, or exactly `want`). */
  private async donate(to: PeerName, id: number, want: Range | undefined): Promise<void> {
    const deny = (reason: DenyReason): void => this.channel?.gossipUnicast(to, encodeMessage({ type: 'space-denied', id, reason }));
    if (to === this.o.self || to === NO_OWNER) return this.drop('space request from an invalid peer');
    const ring = this.ring;
    if (!ring || this.needRing || this.leaving || this.state !== 'running') return deny('no-ring');
    // Give only while we reach a majority: space given inside a minority could come back after
    // the majority has taken our ranges over, and be handed out on both sides (docs/ipam.md).
    if (this.reclaim.fenced || !this.reclaim.majority) return deny('fenced');
    let give: Range | undefined;
    if (want) {
      // rangesOf joins adjacent ranges, so all of want is ours only if one range holds it.
      if (!ring.rangesOf(this.o.self).some((r) => r.start <= want.start && want.end <= r.end)) return deny('not-owner');
      const free = this.freeBlocksNow();
      if (!free.some((f) => f.start <= want.start && want.end <= f.end)) return deny('in-use');
      give = want;
    } else {
      give = donation(this.freeBlocksNow());
      if (!give) {
        const now = this.o.clock.now();
        return deny(this.quarantine.some((q) => q.until > now) ? 'resting' : 'no-space');
      }
    }
    const delta = ring.give(this.o.self, give, to);
    this.o.log.info({ to: formatPeerName(to), range: formatRange(give) }, `ipam: gave ${formatRange(give)} to ${this.describe(to)}`);
    try {
      await this.persist();
    } catch (err) {
      // The give stays in our ring (we must not hand it out either way); it is not announced.
      this.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save a donation; not announcing it');
      return;
    }
    const bytes = encodeRing(ring.state(delta));
    this.channel?.gossipBroadcast(new BytesGossipData([encodeMessage({ type: 'ring-delta', ring: bytes })]));
    this.channel?.gossipUnicast(to, encodeMessage({ type: 'space-grant', id, ring: bytes }));
    this.scheduleReport();
  }

  // ── reclaim, fencing, periodic work ───────────────────────────────────────

  private tick(): void {
    if (this.state !== 'running') return;
    this.tickTimer = this.o.clock.setTimeout(() => this.tick(), this.t.tickMs);
    const now = this.o.clock.now();
    const before = this.quarantine.length;
    this.quarantine = this.quarantine.filter((q) => q.until > now);
    if (this.quarantine.length !== before) {
      this.scheduleReport();
      this.notify();
    }
    this.assess();
  }

  private assess(): void {
    const ring = this.ring;
    if (!ring || this.leaving) return;
    const wasFenced = this.reclaim.fenced;
    const a = this.reclaim.update({ now: this.o.clock.now(), self: this.o.self, space: this.ownedSpace(), reachable: (n) => this.o.mesh.reachable(n) });
    if (this.reclaim.fenced !== wasFenced) {
      if (this.reclaim.fenced) {
        this.o.log.warn({ reachable: a.reachableOwners, owners: ring.owners().length }, 'ipam: fenced: cannot reach a majority of the IPAM peers; no new allocations until it does');
      } else {
        // The majority may have reclaimed our space meanwhile: hear its ring before allocating.
        this.needRing = true;
        this.o.log.info('ipam: a majority of the IPAM peers is reachable again');
      }
      void this.persist().catch(() => undefined);
      this.notify();
    }
    if (this.needRing) this.requestRing();
    for (const x of a.due) {
      const n = this.takeOver(x, 'reclaim');
      this.o.log.warn({ peer: formatPeerName(x), afterMs: this.o.reclaimAfterMs }, `${n} IPs taken over from ${this.describe(x)} (unreachable for the reclaim period)`);
    }
  }

  /** Moves every entry of x to us, quarantines the space, saves, then announces. */
  private takeOver(x: PeerName, why: string): number {
    const ring = this.ring!;
    const ranges = ring.rangesOf(x);
    const until = this.o.clock.now() + this.t.quarantineMs;
    for (const r of ranges) this.quarantine.push({ start: r.start, end: r.end, until });
    const delta = ring.transfer(x, this.o.self);
    if (this.o.log.isLevelEnabled('debug')) this.o.log.debug({ why, ranges: ranges.map(formatRange) }, 'ipam: takeover');
    void this.persist().then(
      () => this.sendDelta(delta),
      (err) => this.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save a takeover; not announcing it'),
    );
    this.scheduleReport();
    return size(ranges);
  }

  private requestRing(): void {
    const ring = this.ring!;
    const others = ring.owners().filter((o) => o !== this.o.self);
    if (others.length === 0) {
      this.needRing = false;
      this.notify();
      return;
    }
    const reach = others.filter((o) => this.o.mesh.reachable(o));
    if (reach.length === 0) return;
    const to = reach[Math.floor(this.o.random() * reach.length)]!;
    this.channel?.gossipUnicast(to, encodeMessage({ type: 'ring-request' }));
  }

  private scheduleReport(): void {
    if (this.reportTimer || this.state !== 'running') return;
    this.reportTimer = this.o.clock.setTimeout(() => {
      this.reportTimer = undefined;
      this.reportFree();
    }, this.t.reportFreeMs);
  }

  private reportFree(): void {
    const ring = this.ring;
    if (!ring || this.leaving || this.state !== 'running') return;
    const entries = ring.entries();
    const taken = this.takenSorted();
    const excluded = this.excluded();
    const free = new Map<number, number>();
    entries.forEach((e, i) => {
      if (e.owner !== this.o.self) return;
      const r = { start: e.token, end: entries[i + 1]?.token ?? ring.range.end };
      const now = size(freeBlocks([r], taken, excluded));
      free.set(e.token, now);
    });
    const delta = ring.reportFree(this.o.self, free);
    // Saved first: only the saved ring is gossiped, so an unsaved report would never be repaired
    // by anti-entropy if its broadcast were lost (the simulation found rings that never converged).
    if (delta.length > 0) {
      this.persist().then(
        () => this.sendDelta(delta),
        (err: unknown) => this.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save the free counts'),
      );
    }
  }

  private sendDelta(delta: readonly Entry[]): void {
    if (delta.length === 0 || !this.ring || this.state === 'stopped') return;
    this.channel?.gossipBroadcast(new BytesGossipData([encodeMessage({ type: 'ring-delta', ring: encodeRing(this.ring.state(delta)) })]));
  }

  // ── consensus ─────────────────────────────────────────────────────────────

  private ensureConsensus(): Consensus {
    if (this.consensus) return this.consensus;
    const quorum = this.o.init.mode === 'consensus' ? this.o.init.quorum : 1;
    this.consensus = new Consensus({
      self: this.o.self,
      quorum,
      clock: this.o.clock,
      random: this.o.random,
      log: this.o.log,
      timings: this.o.consensusTimings,
      send: (to, msg) => this.channel?.gossipUnicast(to, encodeMessage({ type: 'consensus', payload: msg })),
      knownPeers: () => this.o.mesh.knownPeers(),
      onDecided: (owners) => {
        if (this.ring || this.state === 'stopped') return;
        // Every learner computes the same ring from the decision, so nothing is broadcast here.
        this.ring = Ring.seed(this.o.range, owners);
        this.o.log.info({ owners: owners.length }, 'ipam: ring agreed by consensus');
        this.afterRingChange();
      },
    });
    return this.consensus;
  }

  // ── local state ───────────────────────────────────────────────────────────

  private isReady(): boolean {
    return this.ring !== undefined && !this.needRing;
  }

  private async waitReady(): Promise<void> {
    if (this.isReady()) return;
    if (!this.ring && this.o.init.mode === 'consensus') this.ensureConsensus().start();
    if (this.needRing) this.requestRing();
    await this.waitFor(() => this.isReady() || this.state === 'stopped', this.t.waitRingMs, () => `no IPAM ring after ${this.t.waitRingMs / 1000} s: waiting for ${this.waitingFor() ?? 'the ring'} — start enough of the peers named by --ipalloc-init consensus=N (or give every peer the same --ipalloc-init seed=…); weft status ipam shows what is missing`);
    if (this.state === 'stopped') throw new WeftError('closed', 'IPAM is stopping');
  }

  /** Just after a start, a fenced peer may only be waiting for the mesh to connect: give it time. */
  private async waitUnfenced(): Promise<void> {
    const left = this.startedAt + this.t.waitRingMs - this.o.clock.now();
    if (!this.reclaim.fenced || left <= 0) return;
    await this.waitFor(() => !this.reclaim.fenced || this.state === 'stopped', left, () => this.fencedMessage()).catch(() => undefined);
  }

  private waitFor(pred: () => boolean, ms: number, why: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        this.waiters.delete(check);
        timer.cancel();
        resolve();
      };
      const timer = this.o.clock.setTimeout(() => {
        this.waiters.delete(check);
        reject(new WeftError('io', why()));
      }, ms);
      this.waiters.add(check);
      check();
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private checkUsable(): void {
    if (this.state === 'stopped') throw new WeftError('closed', 'IPAM is stopping');
    if (this.leaving) throw new WeftError('io', 'this peer has handed its address space to another peer (weft reset) and owns none: weft launch it again to rejoin');
    if (this.reclaim.fenced) throw new WeftError('io', this.fencedMessage());
  }

  private fencedMessage(): string {
    const space = this.ownedSpace();
    let total = 0;
    let reached = 0;
    let reach = 0;
    for (const [o, n] of space) {
      total += n;
      if (o === this.o.self || this.o.mesh.reachable(o)) {
        reached += n;
        reach++;
      }
    }
    return `cannot reach a majority of the IPAM peers (${reach} of ${space.size} owners reachable, owning ${percent(total ? reached / total : 1)} of the space): existing addresses are kept, new ones are refused until the network heals`;
  }

  /** Addresses owned per owner. */
  private ownedSpace(): Map<PeerName, number> {
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

  private waitingFor(): string | null {
    if (!this.ring) {
      if (this.o.init.mode === 'seed') return 'the ring from a seed peer';
      const c = this.consensus?.status();
      return c ? `consensus on the initial ring (${c.state}, round ${c.round}, ${c.promises} promises, ${c.accepts} accepts, quorum ${this.o.init.quorum})` : 'the first allocation to start consensus';
    }
    if (this.needRing) return 'the ring from another peer (after a restart or a partition)';
    for (const a of this.asks.values()) return a.want ? `${formatRange(a.want)} from ${this.describe(a.to)}` : `space from ${this.describe(a.to)}`;
    return null;
  }

  private record(container: string, ip: number): void {
    this.unrecord(container);
    this.allocs.set(container, ip);
    this.byIp.set(ip, container);
  }

  private unrecord(container: string): void {
    const ip = this.allocs.get(container);
    if (ip === undefined) return;
    this.allocs.delete(container);
    if (this.byIp.get(ip) === container) this.byIp.delete(ip);
  }

  private takenSorted(): number[] {
    return [...this.byIp.keys()].sort((a, b) => a - b);
  }

  /** Never handed out: the range's network and broadcast addresses, quarantined space. */
  private excluded(): Range[] {
    const { start, end } = this.o.range;
    return [{ start, end: start + 1 }, { start: end - 1, end }, ...this.quarantine];
  }

  private freeBlocksNow(): Range[] {
    if (!this.ring) return [];
    return freeBlocks(this.ring.rangesOf(this.o.self), this.takenSorted(), this.excluded());
  }

  private lowestFree(): number | undefined {
    return this.freeBlocksNow()[0]?.start;
  }

  private freeCount(): number {
    return size(this.freeBlocksNow());
  }

  /** Advertised free addresses per owner (sum over its entries). */
  private advisoryFree(): Map<PeerName, number> {
    const m = new Map<PeerName, number>();
    for (const e of this.ring?.entries() ?? []) m.set(e.owner, (m.get(e.owner) ?? 0) + e.free);
    return m;
  }

  /** Saves the whole state; resolves once a save that began after this call is durable. */
  private persist(): Promise<void> {
    if (this.pendingSave) return this.pendingSave;
    const p = this.saveChain.then(async () => {
      this.pendingSave = undefined;
      const snap = this.snapshot();
      await this.o.store.save(snap);
      this.durableRing = snap.ring;
    });
    this.pendingSave = p;
    this.saveChain = p.catch(() => undefined);
    return p;
  }

  private snapshot(): Persisted {
    return {
      self: this.o.self,
      ring: this.ring?.state(),
      allocations: [...this.allocs].map(([container, ip]) => ({ container, ip })),
      quarantine: this.quarantine.map((q) => ({ ...q })),
      lastMajorityAt: this.reclaim.lastMajorityAt,
    };
  }

  private describe(n: PeerName): string {
    const nick = this.o.mesh.nickname(n);
    return nick ? `${formatPeerName(n)}(${nick})` : formatPeerName(n);
  }

  /** Counts a dropped message by the kind of its reason (numbers from the message are masked). */
  private drop(reason: string): void {
    let key = reason.replace(/\d+/g, 'N');
    if (!(key in this.dropped) && Object.keys(this.dropped).length >= MAX_DROP_REASONS) key = 'other';
    this.dropped[key] = (this.dropped[key] ?? 0) + 1;
  }
}
