// Who may reclaim whose space, and when this peer must fence itself (docs/ipam.md, "Takeovers").
// The majority is weighed by owned space, not by counting owners: space moves only between peers
// that reach each other (a give) or by a takeover (which needs a majority), so two sides of a
// partition never both count the same addresses as theirs. Counting owners fails: peers that
// get their first space during a partition inflate each side's count, and both sides can see
// a "majority" (found by the simulation, allocator-simulation.test.ts).
//   - an owner X unreachable for reclaimAfter is taken over by exactly one peer: the lowest-named
//     owner among the owners that peer reaches (itself included), and only while the owners it
//     reaches (itself included) own a majority of the address space: more than half, or exactly
//     half including the lowest-named owner of the ring;
//   - a peer that does not reach a majority is fenced at once (no new allocations, no gives), so
//     the window in which a cut-off minority hands out addresses the majority cannot hear of is
//     as long as it takes the mesh to notice the cut (seconds), not half the reclaim period.
import type { PeerName } from '../mesh/peer-name.js';

export interface ReclaimView {
  now: number;
  self: PeerName;
  /** The ring's owners and how many addresses each owns. */
  space: ReadonlyMap<PeerName, number>;
  reachable(n: PeerName): boolean;
}

export interface Assessment {
  majority: boolean;
  /** Owners reachable from here, self included if it is an owner. */
  reachableOwners: number;
  /** Their share of the address space (0–1). */
  reachableShare: number;
  /** The peer that would reclaim for this side (undefined without a majority). */
  actor: PeerName | undefined;
  /** Owners this peer must take over now. */
  due: PeerName[];
}

export class ReclaimTracker {
  private readonly since = new Map<PeerName, number>();
  private last: Assessment = { majority: true, reachableOwners: 0, reachableShare: 1, actor: undefined, due: [] };
  fenced = false;

  /** Whether some owner is unreachable (a takeover may fall due as time passes). */
  get watching(): boolean {
    return this.since.size > 0;
  }

  /** Whether the last update() saw a majority. */
  get majority(): boolean {
    return this.last.majority;
  }

  constructor(
    private readonly reclaimAfterMs: number,
    /** When a majority was last reached (persisted across restarts; shown when fenced). */
    public lastMajorityAt: number,
  ) {}

  /** Records what is reachable now and decides fencing and takeovers. */
  update(v: ReclaimView): Assessment {
    const owners = [...v.space.keys()];
    const others = owners.filter((o) => o !== v.self);
    for (const o of others) {
      if (v.reachable(o)) this.since.delete(o);
      else if (!this.since.has(o)) this.since.set(o, v.now);
    }
    for (const o of [...this.since.keys()]) if (!others.includes(o)) this.since.delete(o);

    const reach = owners.filter((o) => o === v.self || v.reachable(o));
    let total = 0;
    let reached = 0;
    for (const [o, n] of v.space) {
      total += n;
      if (reach.includes(o)) reached += n;
    }
    // Exactly half is a majority only for the side holding the lowest-named owner: two sides of
    // a partition cannot both hold it, and every side knows all owners from the ring. Without
    // this, the owner of the half a three-way seed gives one peer could never be reclaimed.
    let lowest: PeerName | undefined;
    for (const o of owners) if (lowest === undefined || o < lowest) lowest = o;
    const majority = total === 0 || reached * 2 > total || (reached * 2 === total && lowest !== undefined && reach.includes(lowest));
    if (majority) this.lastMajorityAt = v.now;
    this.fenced = !majority;
    let actor: PeerName | undefined;
    for (const o of reach) if (actor === undefined || o < actor) actor = o;
    if (!majority) actor = undefined;
    const due = actor === v.self ? others.filter((o) => v.now - (this.since.get(o) ?? v.now) >= this.reclaimAfterMs) : [];
    this.last = { majority, reachableOwners: reach.length, reachableShare: total === 0 ? 1 : reached / total, actor, due };
    return this.last;
  }

  /** For status: ms until `owner` is reclaimed by the majority side, or null and why not. */
  reclaimIn(owner: PeerName, now: number, owners: number): { ms: number | null; note?: string } {
    const since = this.since.get(owner);
    if (since === undefined) return { ms: null };
    if (!this.last.majority) {
      return {
        ms: null,
        note: `not reclaimed: the ${this.last.reachableOwners} of ${owners} owners reachable from here own ${percent(this.last.reachableShare)} of the space (more than half, or half with the lowest-named owner, is needed; weft rmpeer takes it over by hand)`,
      };
    }
    return { ms: Math.max(0, since + this.reclaimAfterMs - now) };
  }
}

export function percent(share: number): string {
  return `${Math.floor(share * 1000) / 10}%`;
}
