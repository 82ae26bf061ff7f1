// Which addresses each peer's containers use (docs/ipam.md, "Held addresses"): one record per
// peer, written only by that peer (and tombstoned by `weft rmpeer`), so the whole set is a map
// owner → record merged by a pointwise maximum — commutative, associative and idempotent like the
// ring. Every peer holds every record; an owner never hands out an address that is in another
// peer's record, whoever's range it lies in. That is what keeps a reclaimed peer's live
// containers' addresses out of circulation until it comes back and releases them, or is
// removed for good.
import type { PeerName } from '../mesh/peer-name.js';
import { TAKEOVER_BUMP } from './types.js';

export interface UsedRecord {
  owner: PeerName;
  /** Bumped by the owner on every change; a tombstone adds TAKEOVER_BUMP. */
  version: number;
  /** Removed for good (`weft rmpeer`): what it held is free. */
  gone: boolean;
  /** Sorted, distinct addresses in use by the owner's containers. */
  used: readonly number[];
}

/** Orders two records of one owner: the greater wins a merge. */
export function compareRecords(a: UsedRecord, b: UsedRecord): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  if (a.gone !== b.gone) return a.gone ? 1 : -1;
  if (a.used.length !== b.used.length) return a.used.length < b.used.length ? -1 : 1;
  for (let i = 0; i < a.used.length; i++) if (a.used[i] !== b.used[i]) return a.used[i]! < b.used[i]! ? -1 : 1;
  return 0;
}

export function sameUsed(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function sortedDistinct(xs: Iterable<number>): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

export class UsedRecords {
  private readonly m = new Map<PeerName, UsedRecord>();
  private othersCache: { self: PeerName; list: number[] } | undefined;

  get(owner: PeerName): UsedRecord | undefined {
    return this.m.get(owner);
  }

  all(): UsedRecord[] {
    return [...this.m.values()];
  }

  get size(): number {
    return this.m.size;
  }

  /** Folds records in; returns those that won here. */
  merge(records: readonly UsedRecord[]): UsedRecord[] {
    const changed: UsedRecord[] = [];
    for (const r of records) {
      const have = this.m.get(r.owner);
      if (have && compareRecords(r, have) <= 0) continue;
      const won = Object.freeze({ owner: r.owner, version: r.version, gone: r.gone, used: Object.freeze(sortedDistinct(r.used)) });
      this.m.set(r.owner, won);
      changed.push(won);
    }
    if (changed.length > 0) this.othersCache = undefined;
    return changed;
  }

  /**
   * The owner's own record: `used` as it is now, the version bumped above anything seen for it
   * when the content changed or a greater record (a tombstone, or one from before a lost store)
   * arrived. Returns the record if it changed.
   */
  setOwn(owner: PeerName, used: readonly number[]): UsedRecord | undefined {
    const have = this.m.get(owner);
    const sorted = sortedDistinct(used);
    if (have && !have.gone && sameUsed(have.used, sorted)) return undefined;
    return this.merge([{ owner, version: (have?.version ?? 0) + 1, gone: false, used: sorted }])[0];
  }

  /** `weft rmpeer`: the owner is gone for good; whatever it held is free. */
  tombstone(owner: PeerName): UsedRecord {
    const have = this.m.get(owner);
    return this.merge([{ owner, version: (have?.version ?? 0) + TAKEOVER_BUMP, gone: true, used: [] }])[0] ?? this.m.get(owner)!;
  }

  /** Every address in use by a peer other than self, sorted (cached until the next change). */
  usedByOthers(self: PeerName): readonly number[] {
    if (this.othersCache?.self === self) return this.othersCache.list;
    const all: number[] = [];
    for (const r of this.m.values()) if (r.owner !== self && !r.gone) all.push(...r.used);
    const list = sortedDistinct(all);
    this.othersCache = { self, list };
    return list;
  }

  /** The peers (other than self) whose record holds addr. */
  holdersOf(addr: number, self: PeerName): PeerName[] {
    const out: PeerName[] = [];
    for (const r of this.m.values()) if (r.owner !== self && !r.gone && binaryHas(r.used, addr)) out.push(r.owner);
    return out;
  }
}

export function binaryHas(sorted: readonly number[], x: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Sorted addresses as runs [start, length]: allocation is lowest-free, so runs are few. */
export function toRuns(sorted: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const a of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === a) last[1]++;
    else runs.push([a, 1]);
  }
  return runs;
}

export function fromRuns(runs: readonly (readonly [number, number])[]): number[] {
  const out: number[] = [];
  for (const [s, n] of runs) for (let i = 0; i < n; i++) out.push(s + i);
  return out;
}
