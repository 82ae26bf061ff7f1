// The "weft-ipam" gossip channel, receiving side (docs/ipam.md, "Gossip"):
//
//   full (gossip(), ring-request answers) ─ records first, then the ring ─ clears "need a ring"
//   ring-full | ring-delta | space-grant ─ merge (or adopt the first ring) ─ after a change:
//        takeovers re-assessed, free counts reported, saved a moment later, conflicts re-checked
//   used ─ merge records ─ our own record greater than ours (a tombstone, a lost store): bump ours
//   consensus ─ Paxos until a ring exists; with a ring, the answer is our full state
import { errorMessage } from '../lib/errors.js';
import type { Timer } from '../lib/clock.js';
import { BytesGossipData, type GossipData, type Gossiper } from '../mesh/gossip.js';
import { Consensus } from './consensus.js';
import type { ConflictWatch } from './conflicts.js';
import type { IpamCore } from './core.js';
import { decodeMessage, encodeMessage } from './messages.js';
import { Ring } from './ring.js';
import { decodeRing, encodeRing } from './ring-codec.js';
import type { SpaceRequests } from './space-requests.js';
import { formatRange } from './space.js';
import type { Takeovers } from './takeover.js';
import type { Entry } from './types.js';
import { decodeUsed, encodeUsed } from './used-codec.js';
import type { UsedRecord } from './used.js';

export class IpamGossip implements Gossiper {
  private consensus: Consensus | undefined;
  private checkTimer: Timer | undefined;

  constructor(
    private readonly c: IpamCore,
    private readonly spaces: SpaceRequests,
    private readonly takeovers: Takeovers,
    private readonly conflicts: ConflictWatch,
  ) {}

  stop(): void {
    this.consensus?.stop();
    this.checkTimer?.cancel();
  }

  consensusStatus(): ReturnType<Consensus['status']> | undefined {
    return this.consensus?.status();
  }

  consensusDropped(): Record<string, number> {
    return this.consensus?.dropped ?? {};
  }

  onGossipUnicast(src: bigint, msg: Buffer): void {
    const c = this.c;
    // Before start() has loaded ipam.json, a ring adopted here would be saved over it.
    if (c.state !== 'running') return c.drop('not running');
    const d = decodeMessage(msg);
    if (!d.ok) return c.drop(d.reason);
    const m = d.value;
    switch (m.type) {
      case 'ring-full':
      case 'ring-delta':
        this.receiveRing(m.ring, m.type === 'ring-full');
        return;
      case 'full':
        this.receiveFull(m.ring, m.used);
        return;
      case 'used':
        this.receiveUsed(m.used);
        return;
      case 'ring-request':
        return this.sendFull(src);
      case 'space-request':
        this.spaces.donate(src, m.id, m.want).catch((err: unknown) => c.o.log.error({ err: errorMessage(err) }, 'ipam: space request failed'));
        return;
      case 'space-grant':
        this.receiveRing(m.ring, false);
        return this.spaces.answer(src, m.id, { outcome: 'granted' });
      case 'space-denied':
        return this.spaces.answer(src, m.id, { outcome: 'denied', reason: m.reason });
      case 'consensus':
        if (c.ring) return this.sendFull(src);
        this.ensureConsensus().onMessage(src, m.payload);
        return;
    }
  }

  onGossipBroadcast(_src: bigint, update: Buffer): GossipData | undefined {
    const c = this.c;
    const d = decodeMessage(update);
    if (!d.ok) return void c.drop(d.reason);
    const m = d.value;
    if (m.type !== 'ring-full' && m.type !== 'ring-delta' && m.type !== 'used') return void c.drop(`broadcast ${m.type}`);
    if (c.state !== 'running') return void c.drop('not running');
    if (m.type === 'used') this.receiveUsed(m.used);
    else this.receiveRing(m.ring, m.type === 'ring-full');
    // Broadcast trees have no cycles: relay as is, so peers below us get it even if we knew it.
    return new BytesGossipData([update]);
  }

  gossip(): GossipData | undefined {
    if (this.c.state !== 'running') return undefined;
    const full = this.c.fullMessage();
    return full ? new BytesGossipData([full]) : undefined;
  }

  onGossip(msg: Buffer): GossipData | undefined {
    const c = this.c;
    if (c.state !== 'running') return void c.drop('not running');
    const d = decodeMessage(msg);
    if (!d.ok) return void c.drop(d.reason);
    const m = d.value;
    let ring: Entry[] | undefined;
    let used: UsedRecord[] | undefined;
    if (m.type === 'full') ({ ring, used } = this.receiveFull(m.ring, m.used));
    else if (m.type === 'ring-full' || m.type === 'ring-delta') ring = this.receiveRing(m.ring, m.type === 'ring-full');
    else if (m.type === 'used') used = this.receiveUsed(m.used);
    else return void c.drop(`gossip ${m.type}`);
    const out: Buffer[] = [];
    if (ring && ring.length > 0 && c.ring) out.push(encodeMessage({ type: 'ring-delta', ring: encodeRing(c.ring.state(ring)) }));
    if (used && used.length > 0) out.push(encodeMessage({ type: 'used', used: encodeUsed(used) }));
    return out.length > 0 ? new BytesGossipData(out) : undefined;
  }

  /** Starts consensus on the first ring (the first allocation calls it). */
  ensureConsensus(): Consensus {
    const c = this.c;
    if (this.consensus) return this.consensus;
    const quorum = c.o.init.mode === 'consensus' ? c.o.init.quorum : 1;
    this.consensus = new Consensus({
      self: c.self,
      quorum,
      clock: c.o.clock,
      random: c.o.random,
      log: c.o.log,
      timings: c.o.consensusTimings,
      send: (to, msg) => c.channel?.gossipUnicast(to, encodeMessage({ type: 'consensus', payload: msg })),
      knownPeers: () => c.o.mesh.knownPeers(),
      onDecided: (owners) => {
        if (c.ring || c.state === 'stopped') return;
        // Every learner computes the same ring from the decision, so nothing is broadcast here.
        c.ring = Ring.seed(c.o.range, owners);
        c.o.log.info({ owners: owners.length }, 'ipam: ring agreed by consensus');
        this.afterChange();
      },
    });
    return this.consensus;
  }

  private sendFull(to: bigint): void {
    const full = this.c.fullMessage();
    if (full) this.c.channel?.gossipUnicast(to, full);
  }

  /** Records before the ring: once the ring clears "need a ring", the records are as fresh. */
  private receiveFull(ring: Buffer, used: Buffer): { ring: Entry[] | undefined; used: UsedRecord[] | undefined } {
    const u = this.receiveUsed(used);
    return { used: u, ring: this.receiveRing(ring, true) };
  }

  /** Merges records; returns those that changed here. */
  private receiveUsed(bytes: Buffer): UsedRecord[] | undefined {
    const c = this.c;
    const d = decodeUsed(bytes);
    if (!d.ok) return void c.drop(`used: ${d.reason}`);
    const { start, end } = c.o.range;
    // Addresses outside the range are the operator's business and never recorded.
    const changed = c.records.merge(d.value.map((r: UsedRecord) => ({ ...r, used: r.used.filter((a: number) => a >= start && a < end) })));
    if (changed.length === 0) return changed;
    const own = changed.find((r) => r.owner === c.self);
    if (own) {
      // A record of ours greater than the one we hold: we were rmpeer'd while running, or our
      // store was lost. Our containers still hold what they hold: announce it above that.
      if (own.gone) c.o.log.error(`ipam: this peer was removed with weft rmpeer while it was running; announcing its ${c.table.size} address(es) again`);
      c.persistLogged('our used-address record');
    }
    c.scheduleSave();
    this.scheduleCheck();
    c.notify();
    return changed;
  }

  /** Merges (or adopts) a ring from a peer; returns the entries that changed here. */
  private receiveRing(bytes: Buffer, full: boolean): Entry[] | undefined {
    const c = this.c;
    const d = decodeRing(bytes);
    if (!d.ok) return void c.drop(`ring: ${d.reason}`);
    const s = d.value;
    if (!c.ring) {
      if (s.start !== c.o.range.start || s.end !== c.o.range.end) {
        c.refused = `a peer's ring is for ${formatRange(s)}, ours is ${formatRange(c.o.range)}`;
        return void c.drop('ring of another range');
      }
      if (!full) return void c.drop('ring delta before any ring');
      let ring: Ring;
      try {
        ring = Ring.fromState(s);
      } catch (err) {
        return void c.drop(`ring: ${errorMessage(err)}`);
      }
      if (ring.entries().length === 0) return void c.drop('ring without its start token');
      c.ring = ring;
      c.o.log.info({ owners: ring.owners().length }, 'ipam: ring learnt from a peer');
      this.consensus?.stop();
      c.needRing = false;
      this.afterChange();
      return ring.entries().slice();
    }
    const r = c.ring.merge(s);
    if ('error' in r) {
      c.refused = r.error;
      return void c.drop('ring refused');
    }
    if (full && c.needRing) {
      c.needRing = false;
      c.o.log.info('ipam: ring synchronised with a peer');
      c.notify();
    }
    if (r.changed.length > 0) this.afterChange();
    return r.changed;
  }

  afterChange(): void {
    this.takeovers.assess();
    this.takeovers.scheduleReport();
    this.c.scheduleSave();
    this.scheduleCheck();
    this.c.notify();
  }

  /** Conflicts are re-checked once a moment after a burst of changes. */
  scheduleCheck(): void {
    const c = this.c;
    if (this.checkTimer || c.state !== 'running') return;
    this.checkTimer = c.o.clock.setTimeout(() => {
      this.checkTimer = undefined;
      if (c.state === 'running') this.conflicts.check();
    }, c.t.reportFreeMs);
  }
}
