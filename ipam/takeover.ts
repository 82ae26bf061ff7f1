// Reclaim, fencing, rmpeer, handoff and the periodic work (docs/ipam.md, "Takeovers"):
//
//   every tick / topology change ─ ReclaimTracker ─ fenced ⇄ unfenced (then wait for a fresh ring)
//                                                └ due ─ take over an owner gone too long
//   take over X: X's ranges become ours (version + TAKEOVER_BUMP), rest in quarantine; the
//   addresses in X's used record stay held for X (core.taken()) until X releases them or is
//   removed for good (rmpeer: tombstone X's record).
import type { Timer } from '../lib/clock.js';
import { WeftError, errorMessage } from '../lib/errors.js';
import { formatPeerName, parsePeerName, type PeerName } from '../mesh/peer-name.js';
import type { IpamCore } from './core.js';
import { encodeMessage } from './messages.js';
import { encodeRing } from './ring-codec.js';
import { contains, freeBlocks, size } from './space.js';

export class Takeovers {
  /** Unreachable peers' space taken over after the reclaim period (not rmpeer), since start. */
  reclaims = 0;
  private tickTimer: Timer | undefined;
  /** The period tickTimer was set for: tickMs, or idleTickMs while nothing waits on time. */
  private tickEvery = 0;
  private reportTimer: Timer | undefined;

  constructor(private readonly c: IpamCore) {}

  start(): void {
    this.tick();
    if (this.c.ring) this.scheduleReport();
  }

  stop(): void {
    this.tickTimer?.cancel();
    this.reportTimer?.cancel();
  }

  private tick(): void {
    const c = this.c;
    if (c.state !== 'running') return;
    this.scheduleTick(this.waitsOnTime() ? c.t.tickMs : c.t.idleTickMs);
    const before = c.quarantine.length;
    c.quarantine = c.resting();
    if (c.quarantine.length !== before) {
      this.scheduleReport();
      c.notify();
    }
    this.assess();
  }

  /**
   * Something that changes with time alone, without a topology change to tell us: a takeover
   * falling due, a ring to ask for again, space resting, fencing. Without a ring there is nothing
   * (the ring arrives as a message; allocations wait with timers of their own).
   */
  private waitsOnTime(): boolean {
    const c = this.c;
    return c.needRing || c.quarantine.length > 0 || c.reclaim.fenced || c.reclaim.watching;
  }

  private scheduleTick(ms: number): void {
    this.tickTimer?.cancel();
    this.tickEvery = ms;
    this.tickTimer = this.c.o.clock.setTimeout(() => this.tick(), ms);
  }

  /** Re-decides fencing and takeovers from what is reachable now. */
  assess(): void {
    const c = this.c;
    const ring = c.ring;
    if (!ring || c.leaving || c.state !== 'running') return;
    const wasFenced = c.reclaim.fenced;
    const a = c.reclaim.update({ now: c.o.clock.now(), self: c.self, space: c.ownedSpace(), reachable: (n) => c.o.mesh.reachable(n) });
    if (c.reclaim.fenced !== wasFenced) {
      if (c.reclaim.fenced) {
        c.o.log.warn({ reachable: a.reachableOwners, owners: ring.owners().length }, 'ipam: fenced: cannot reach a majority of the IPAM peers; no new allocations until it does');
      } else {
        // The majority may have reclaimed our space meanwhile: hear its ring before allocating.
        c.needRing = true;
        c.o.log.info('ipam: a majority of the IPAM peers is reachable again');
      }
      c.persistLogged('the fencing state');
      c.notify();
    }
    // A topology change between idle ticks that starts a wait (an owner became unreachable, we
    // are fenced): tick at the fast rate from now on.
    if (this.tickTimer && this.tickEvery > c.t.tickMs && this.waitsOnTime()) this.scheduleTick(c.t.tickMs);
    if (c.needRing) this.requestRing();
    // Only with a ring and records fresh from a peer (after a restart or a partition): records
    // older than our side's are what would let us hand out a gone peer's address.
    if (c.needRing) return;
    for (const x of a.due) {
      const { owned, held } = this.takeOver(x, 'reclaim');
      this.reclaims++;
      c.o.log.warn(
        { peer: formatPeerName(x), afterMs: c.o.reclaimAfterMs, held },
        `${owned} IPs taken over from ${c.describe(x)} (unreachable for the reclaim period); ${held} of them stay held for its containers until it comes back or weft rmpeer ${formatPeerName(x)}`,
      );
    }
  }

  /** Moves every entry of x to us, quarantines the space, saves, then announces. */
  takeOver(x: PeerName, why: string): { owned: number; held: number } {
    const c = this.c;
    const ring = c.ring!;
    const ranges = ring.rangesOf(x);
    const until = c.o.clock.now() + c.t.quarantineMs;
    for (const r of ranges) c.quarantine.push({ start: r.start, end: r.end, until });
    const delta = ring.transfer(x, c.self);
    const held = (c.records.get(x)?.used ?? []).filter((a) => contains(ranges, a)).length;
    if (c.o.log.isLevelEnabled('debug')) c.o.log.debug({ why, ranges: ranges.map((r) => `${r.start}-${r.end}`) }, 'ipam: takeover');
    c.persist().then(
      () => c.sendRingDelta(delta),
      (err: unknown) => c.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save a takeover; not announcing it'),
    );
    this.scheduleReport();
    return { owned: size(ranges), held };
  }

  /**
   * weft rmpeer: takes over every range of a gone peer at once and frees what was held for its
   * containers (its record becomes a tombstone). Returns the number of addresses taken over.
   */
  rmpeer(nameOrNickname: string): number {
    const c = this.c;
    const ring = c.ring;
    if (!ring) throw new WeftError('not-running', 'IPAM has no ring yet: nothing to take over');
    const known = new Set([...ring.owners(), ...c.records.all().filter((r) => !r.gone).map((r) => r.owner)]);
    const parsed = parsePeerName(nameOrNickname);
    const matches = [...known].filter((o) => o === parsed || c.o.mesh.nickname(o) === nameOrNickname);
    if (matches.length > 1) throw new WeftError('usage', `several peers are called ${nameOrNickname}: give the peer name`);
    // A peer given by name is taken as is (rmpeer twice is harmless); a nickname must be known.
    const target = matches[0] ?? parsed;
    if (target === undefined) throw new WeftError('unknown-peer', `no peer named ${nameOrNickname} owns IPAM space or holds addresses`);
    if (target === c.self) throw new WeftError('usage', 'cannot rmpeer this peer: use weft reset to hand its space to another peer');
    if (c.o.mesh.reachable(target)) throw new WeftError('usage', `${c.describe(target)} is reachable: stop it (or weft reset it) before taking over its space`);
    const owned = ring.rangesOf(target).length > 0 ? this.takeOver(target, 'rmpeer').owned : 0;
    const rec = c.records.get(target);
    const freed = rec?.used.length ?? 0;
    if (rec && !rec.gone) {
      const tomb = c.records.tombstone(target);
      c.persist().then(
        () => c.sendUsed([tomb]),
        (err: unknown) => c.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save rmpeer; not announcing it'),
      );
    }
    c.o.log.warn({ peer: formatPeerName(target), freed }, `${owned} IPs taken over from ${c.describe(target)}; ${freed} address(es) held for its containers are free again`);
    c.notify();
    this.scheduleReport();
    return owned;
  }

  /**
   * For weft reset: gives all our space to the reachable peer with the most free space, saved
   * and broadcast; our allocations are dropped. Returns that peer's name, or undefined if we own
   * nothing or no one is reachable.
   */
  async handoff(): Promise<string | undefined> {
    const c = this.c;
    const ring = c.ring;
    if (!ring || ring.rangesOf(c.self).length === 0) return undefined;
    const free = c.advisoryFree();
    const candidates = ring.owners().filter((o) => o !== c.self && c.o.mesh.reachable(o));
    if (candidates.length === 0) {
      for (const p of c.o.mesh.knownPeers()) if (p !== c.self && c.o.mesh.reachable(p)) candidates.push(p);
    }
    if (candidates.length === 0) return undefined;
    candidates.sort((a, b) => (free.get(b) ?? 0) - (free.get(a) ?? 0) || (a < b ? -1 : 1));
    const heir = candidates[0]!;
    c.leaving = true;
    const delta = ring.transfer(c.self, heir);
    c.table.clear();
    c.quarantine = [];
    await c.persist();
    c.sendRingDelta(delta);
    c.channel?.gossipUnicast(heir, encodeMessage({ type: 'ring-delta', ring: encodeRing(ring.state(delta)) }));
    c.o.log.info({ heir: formatPeerName(heir) }, `ipam: handed ${size(ring.rangesOf(heir))} addresses to ${c.describe(heir)}`);
    return formatPeerName(heir);
  }

  requestRing(): void {
    const c = this.c;
    const others = c.ring!.owners().filter((o) => o !== c.self);
    if (others.length === 0) {
      c.needRing = false;
      c.notify();
      return;
    }
    const reach = others.filter((o) => c.o.mesh.reachable(o));
    if (reach.length === 0) return;
    const to = reach[Math.floor(c.o.random() * reach.length)]!;
    c.channel?.gossipUnicast(to, encodeMessage({ type: 'ring-request' }));
  }

  scheduleReport(): void {
    const c = this.c;
    if (this.reportTimer || c.state !== 'running') return;
    this.reportTimer = c.o.clock.setTimeout(() => {
      this.reportTimer = undefined;
      this.reportFree();
    }, c.t.reportFreeMs);
  }

  private reportFree(): void {
    const c = this.c;
    const ring = c.ring;
    if (!ring || c.leaving || c.state !== 'running') return;
    const entries = ring.entries();
    const taken = c.taken();
    const excluded = c.excluded();
    const free = new Map<number, number>();
    entries.forEach((e, i) => {
      if (e.owner !== c.self) return;
      const r = { start: e.token, end: entries[i + 1]?.token ?? ring.range.end };
      free.set(e.token, size(freeBlocks([r], taken, excluded)));
    });
    const delta = ring.reportFree(c.self, free);
    // Saved first: only the saved ring is gossiped, so an unsaved report would never be repaired
    // by anti-entropy if its broadcast were lost (the simulation found rings that never converged).
    if (delta.length > 0) {
      c.persist().then(
        () => c.sendRingDelta(delta),
        (err: unknown) => c.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save the free counts'),
      );
    }
  }
}
