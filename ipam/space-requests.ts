// Getting space from other peers and giving ours (docs/ipam.md, "Getting space"):
//
//   find ─ choose a donor (most advertised free space, random among the top few) ─ space-request ─▶
//        ◀ space-grant (ring entries) | space-denied (reason) | timeout ─ retry at another donor
//   space-request from a peer ─ we reach a majority? ─ give the upper half of our largest free
//        block (fresh space first), save, then broadcast the change and grant
import type { Timer } from '../lib/clock.js';
import { WeftError, errorMessage } from '../lib/errors.js';
import { formatPeerName, type PeerName } from '../mesh/peer-name.js';
import { BytesGossipData } from '../mesh/gossip.js';
import { abortable, type IpamCore } from './core.js';
import { encodeMessage, type DenyReason } from './messages.js';
import { NO_OWNER } from './ring.js';
import { encodeRing } from './ring-codec.js';
import { formatRange, size } from './space.js';
import type { Range } from './types.js';

export type Ask = { outcome: 'granted' } | { outcome: 'denied'; reason: DenyReason } | { outcome: 'timeout' };

interface PendingAsk {
  to: PeerName;
  want?: Range;
  timer: Timer;
  done(a: Ask): void;
}

/** Donors with no advertised free space asked before giving up. */
const BLIND_ASKS = 3;
/** Denials that say "not now" rather than "never": the search waits and asks again. */
const TRANSIENT_DENIALS: ReadonlySet<string> = new Set(['resting', 'fenced', 'no-ring']);

export class SpaceRequests {
  private readonly asks = new Map<number, PendingAsk>();
  private nextAskId = 1;
  private search: Promise<void> | undefined;

  constructor(
    private readonly c: IpamCore,
    private readonly changed: () => void,
  ) {}

  /**
   * Resolves once we own a free address (one search shared by every waiting allocation); throws
   * when no one has space. An abort ends this caller's wait, not the search.
   */
  find(signal?: AbortSignal): Promise<void> {
    this.search ??= this.searchLoop().finally(() => (this.search = undefined));
    return abortable(this.search, signal);
  }

  /** Requests for space sent to other peers and not answered yet. */
  get pending(): number {
    return this.asks.size;
  }

  /** What an allocation is waiting for, if it waits for a peer. */
  waitingFor(): string | null {
    for (const a of this.asks.values()) return a.want ? `${formatRange(a.want)} from ${this.c.describe(a.to)}` : `space from ${this.c.describe(a.to)}`;
    return null;
  }

  /** Fails every pending request (stop). */
  stop(): void {
    for (const [id, a] of this.asks) {
      a.timer.cancel();
      this.asks.delete(id);
      a.done({ outcome: 'timeout' });
    }
  }

  private async searchLoop(): Promise<void> {
    const c = this.c;
    const tried = new Set<PeerName>();
    let blind = 0;
    let resting = false;
    const giveUpAt = c.o.clock.now() + c.t.quarantineMs + c.t.requestTimeoutMs;
    const pause = (ms: number): Promise<void> => new Promise<void>((resolve) => c.o.clock.setTimeout(resolve, ms));
    for (;;) {
      c.checkUsable();
      if (c.pickFree() !== undefined) return;
      const donor = this.chooseDonor(tried, blind < BLIND_ASKS);
      if (donor === undefined) {
        // Space taken over from a gone peer rests first (quarantine), ours or a donor's: wait for
        // it rather than call the range full.
        const now = c.o.clock.now();
        const rest = c.resting().map((q) => q.until - now);
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
        throw new WeftError('io', this.fullMessage());
      }
      tried.add(donor.peer);
      if (!donor.advertised) blind++;
      const answer = await this.ask(donor.peer);
      // A donor that cannot give *now* may a moment later: its space rests after a takeover, or it
      // is between fencing states (fenced, or unfenced and re-reading the ring) — a flapping
      // connection on a loaded host does that. Ask again until giveUpAt rather than call the range full.
      if ((answer.outcome === 'denied' && TRANSIENT_DENIALS.has(answer.reason)) || answer.outcome === 'timeout') resting = true;
      if (answer.outcome !== 'granted' && c.o.log.isLevelEnabled('debug')) {
        c.o.log.debug({ donor: formatPeerName(donor.peer), answer }, 'ipam: space request not granted');
      }
    }
  }

  private fullMessage(): string {
    const c = this.c;
    const unreachable = c.ring!.owners().filter((o) => o !== c.self && !c.o.mesh.reachable(o));
    const held = c.records.usedByOthers(c.self).length;
    const extra = [
      unreachable.length > 0 ? `${unreachable.length} unreachable peer(s) own space that is not reclaimed yet` : '',
      held > 0 ? `${held} address(es) are held for containers of other peers, some perhaps gone (weft rmpeer frees a gone peer's)` : '',
    ].filter((x) => x);
    return `the range ${formatRange(c.o.range)} is full: no peer has a free address${extra.length > 0 ? ` (${extra.join('; ')}: see weft status ipam)` : ''}; release addresses or use a larger --ipalloc-range`;
  }

  private chooseDonor(tried: Set<PeerName>, blindOk: boolean): { peer: PeerName; advertised: boolean } | undefined {
    const c = this.c;
    const free = c.advisoryFree();
    const ring = c.ring!;
    const cands = ring.owners().filter((o) => o !== c.self && !tried.has(o) && c.o.mesh.reachable(o));
    const withFree = cands.filter((o) => (free.get(o) ?? 0) > 0).sort((a, b) => free.get(b)! - free.get(a)!);
    if (withFree.length > 0) {
      const top = withFree.slice(0, 3);
      return { peer: top[Math.floor(c.o.random() * top.length)]!, advertised: true };
    }
    if (!blindOk || cands.length === 0) return undefined;
    cands.sort((a, b) => size(ring.rangesOf(b)) - size(ring.rangesOf(a)));
    return { peer: cands[0]!, advertised: false };
  }

  /** Asks `to` for space (any, or exactly `want`). */
  ask(to: PeerName, want?: Range): Promise<Ask> {
    const id = this.nextAskId++;
    return new Promise((resolve) => {
      const timer = this.c.o.clock.setTimeout(() => this.answer(to, id, { outcome: 'timeout' }), this.c.t.requestTimeoutMs);
      this.asks.set(id, { to, want, timer, done: resolve });
      this.c.notify();
      this.c.channel?.gossipUnicast(to, encodeMessage({ type: 'space-request', id, ...(want ? { want } : {}) }));
    });
  }

  answer(from: PeerName, id: number, a: Ask): void {
    const p = this.asks.get(id);
    if (!p || p.to !== from) return void (a.outcome !== 'timeout' && this.c.drop('answer to no request'));
    this.asks.delete(id);
    p.timer.cancel();
    p.done(a);
    this.c.notify();
  }

  /** A peer asks us for space (any, or exactly `want`). */
  async donate(to: PeerName, id: number, want: Range | undefined): Promise<void> {
    const c = this.c;
    const deny = (reason: DenyReason): void => c.channel?.gossipUnicast(to, encodeMessage({ type: 'space-denied', id, reason }));
    if (to === c.self || to === NO_OWNER) return c.drop('space request from an invalid peer');
    const ring = c.ring;
    if (!ring || c.needRing || c.leaving || c.state !== 'running') return deny('no-ring');
    // Give only while we reach a majority: space given inside a minority could come back after
    // the majority has taken our ranges over, and be handed out on both sides (docs/ipam.md).
    if (c.reclaim.fenced || !c.reclaim.majority) return deny('fenced');
    let give: Range | undefined;
    if (want) {
      // rangesOf joins adjacent ranges, so all of want is ours only if one range holds it.
      if (!ring.rangesOf(c.self).some((r) => r.start <= want.start && want.end <= r.end)) return deny('not-owner');
      if (!c.freeBlocksNow().some((f) => f.start <= want.start && want.end <= f.end)) return deny('in-use');
      give = want;
    } else {
      give = c.donation();
      if (!give) {
        return deny(c.resting().length > 0 ? 'resting' : 'no-space');
      }
    }
    const delta = ring.give(c.self, give, to);
    c.o.log.info({ to: formatPeerName(to), range: formatRange(give) }, `ipam: gave ${formatRange(give)} to ${c.describe(to)}`);
    try {
      await c.persist();
    } catch (err) {
      // The give stays in our ring (we must not hand it out either way); it is not announced.
      c.o.log.error({ err: errorMessage(err) }, 'ipam: cannot save a donation; not announcing it');
      return;
    }
    const bytes = encodeRing(ring.state(delta));
    c.channel?.gossipBroadcast(new BytesGossipData([encodeMessage({ type: 'ring-delta', ring: bytes })]));
    c.channel?.gossipUnicast(to, encodeMessage({ type: 'space-grant', id, ring: bytes }));
    this.changed();
  }
}
