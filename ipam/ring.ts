// The address ring CRDT (docs/ipam.md): a map token → entry kept as an array sorted by token.
// Merge is a pointwise max by (version, owner, free), so lookups and merges are binary searches.
//
// Boundaries. An entry owns up to the next token the holder knows of, so an entry that arrives
// without the token that ends it would let its owner believe it owns too much (A gives [s,e) to
// B, B learns the token s but not e: B thinks it owns past e, where A still does). state(entries)
// therefore adds, after each entry whose successor token is not in the delta, a BOUNDARY entry
// at that successor: owner NO_OWNER, version 0, free 0. Every real entry (version ≥ 1) beats it,
// so it only marks where a range ends; the addresses behind it are owned by no one until the real
// entry arrives (anti-entropy brings it: the sender had it).
import { createHash } from 'node:crypto';
import { WeftError } from '../lib/errors.js';
import type { PeerName } from '../mesh/peer-name.js';
import { formatPeerName, isValidPeerName } from '../mesh/peer-name.js';
import { TAKEOVER_BUMP } from './types.js';
import type { Entry, Range, RingApi, RingState } from './types.js';

/** The owner of a boundary entry: "a range ends here; whose is the next one is not known yet". */
export const NO_OWNER: PeerName = 0n;
/** Tokens, range ends, versions and free counts travel as u32 (ring-codec.ts). */
export const MAX_U32 = 0xffff_ffff;
/**
 * The highest version merge accepts: the rest of the u32 space is headroom for local bumps
 * (+1 per report, +TAKEOVER_BUMP per takeover), so an entry we change stays encodable.
 */
export const MAX_VERSION = 0x7fff_ffff;

/** Hex sha256 of the range and the sorted, deduplicated initial owners. */
export function genesisOf(range: Range, owners: readonly PeerName[]): string {
  const names = sortedOwners(owners).map(formatPeerName).join(',');
  return createHash('sha256').update(`${range.start}-${range.end}:${names}`).digest('hex');
}

export function isBoundary(e: Entry): boolean {
  return e.version === 0;
}

/** Orders entries of one token: the greater one wins a merge. */
export function compareEntries(a: Entry, b: Entry): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  if (a.owner !== b.owner) return a.owner < b.owner ? -1 : 1;
  if (a.free !== b.free) return a.free < b.free ? -1 : 1;
  return 0;
}

function sortedOwners(owners: readonly PeerName[]): PeerName[] {
  return [...new Set(owners)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_U32;
}

function validRange(r: Range): boolean {
  return isU32(r.start) && isU32(r.end) && r.start < r.end;
}

function entry(token: number, owner: PeerName, version: number, free: number): Entry {
  return Object.freeze({ token, owner, version, free });
}

export class Ring implements RingApi {
  readonly range: Range;
  readonly genesis: string;
  private list: Entry[] = [];
  private snapshot: readonly Entry[] | undefined;

  /** Throws WeftError 'usage' on an invalid range; invalid entries are dropped as merge() does. */
  constructor(range: Range, genesis: string, entries?: Entry[]) {
    if (!validRange(range)) throw new WeftError('usage', `invalid ring range [${range.start}, ${range.end})`);
    this.range = Object.freeze({ start: range.start, end: range.end });
    this.genesis = genesis;
    if (entries) this.merge({ start: range.start, end: range.end, genesis, entries });
  }

  /** A ring from gossip or disk; empty if the state has no entry at the start token. */
  static fromState(s: RingState): Ring {
    return new Ring({ start: s.start, end: s.end }, s.genesis, s.entries);
  }

  /**
   * The ring every seed computes alike: the range halved recursively, the first half of the
   * (sorted, deduplicated) owners taking the first half of the space, until each owner has one
   * CIDR-aligned block (owners beyond the number of addresses get none). Version 1, free = size.
   */
  static seed(range: Range, owners: PeerName[]): Ring {
    const sorted = sortedOwners(owners);
    if (sorted.length === 0) throw new WeftError('usage', 'a ring needs at least one owner');
    for (const o of sorted) {
      if (o === NO_OWNER || !isValidPeerName(o)) throw new WeftError('usage', `invalid ring owner ${o}`);
    }
    const entries: Entry[] = [];
    const split = (start: number, size: number, who: PeerName[]): void => {
      if (who.length === 1 || size === 1) {
        entries.push(entry(start, who[0]!, 1, size));
        return;
      }
      const left = size - Math.floor(size / 2);
      const nLeft = Math.ceil(who.length / 2);
      split(start, left, who.slice(0, nLeft));
      split(start + left, size - left, who.slice(nLeft));
    };
    split(range.start, range.end - range.start, sorted);
    return new Ring(range, genesisOf(range, sorted), entries);
  }

  get size(): number {
    return this.list.length;
  }

  /** True when the ring has its start token and no boundary entries (every address has an owner). */
  isComplete(): boolean {
    return this.list.length > 0 && this.list.every((e) => !isBoundary(e));
  }

  entries(): readonly Entry[] {
    this.snapshot ??= Object.freeze(this.list.slice());
    return this.snapshot;
  }

  /** Undefined outside the range and behind a boundary entry (owner not known yet). */
  ownerOf(addr: number): PeerName | undefined {
    if (!(addr >= this.range.start && addr < this.range.end)) return undefined;
    const i = this.covering(addr);
    if (i < 0) return undefined;
    const e = this.list[i]!;
    return isBoundary(e) ? undefined : e.owner;
  }

  rangesOf(owner: PeerName): Range[] {
    const out: Range[] = [];
    if (owner === NO_OWNER) return out;
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (e.owner !== owner || isBoundary(e)) continue;
      const end = this.endOf(i);
      const last = out[out.length - 1];
      if (last && last.end === e.token) last.end = end;
      else out.push({ start: e.token, end });
    }
    return out;
  }

  owners(): PeerName[] {
    return sortedOwners(this.list.filter((e) => !isBoundary(e)).map((e) => e.owner));
  }

  merge(other: RingState): { changed: Entry[] } | { error: string } {
    if (other.start !== this.range.start || other.end !== this.range.end) {
      return { error: `range [${other.start}, ${other.end}) differs from ours [${this.range.start}, ${this.range.end})` };
    }
    if (other.genesis !== this.genesis) return { error: `genesis ${other.genesis.slice(0, 12)}… differs from ours ${this.genesis.slice(0, 12)}…` };
    const incoming = new Map<number, Entry>();
    for (const e of other.entries) {
      if (!this.validEntry(e)) continue;
      const prev = incoming.get(e.token);
      if (!prev || compareEntries(e, prev) > 0) incoming.set(e.token, e);
    }
    if (this.list.length === 0) {
      const first = incoming.get(this.range.start);
      if (!first || isBoundary(first)) return { changed: [] };
    }
    const changed: Entry[] = [];
    const inserts: Entry[] = [];
    for (const e of incoming.values()) {
      const i = this.find(e.token);
      if (i >= 0) {
        if (compareEntries(e, this.list[i]!) > 0) {
          const won = entry(e.token, e.owner, e.version, e.free);
          this.list[i] = won;
          changed.push(won);
        }
      } else {
        const fresh = entry(e.token, e.owner, e.version, e.free);
        inserts.push(fresh);
        changed.push(fresh);
      }
    }
    this.insertAll(inserts);
    if (changed.length > 0) this.snapshot = undefined;
    changed.sort((a, b) => a.token - b.token);
    return { changed };
  }

  give(self: PeerName, range: Range, to: PeerName): Entry[] {
    if (to === self || to === NO_OWNER || !isValidPeerName(to)) throw new WeftError('usage', `cannot give to ${formatPeerName(to)}`);
    if (!validRange(range) || range.start < this.range.start || range.end > this.range.end) {
      throw new WeftError('usage', `[${range.start}, ${range.end}) is not a range inside the ring`);
    }
    const first = this.covering(range.start);
    if (first < 0) throw new WeftError('usage', 'the ring is empty');
    for (let i = first; i < this.list.length && this.list[i]!.token < range.end; i++) {
      const e = this.list[i]!;
      if (e.owner !== self || isBoundary(e)) {
        throw new WeftError('usage', `${formatPeerName(self)} does not own all of [${range.start}, ${range.end}) (token ${e.token})`);
      }
    }
    const changed = new Map<number, Entry>();
    // The end token first: it takes over the tail of the entry covering it, as that entry is now.
    if (range.end < this.range.end && this.find(range.end) < 0) {
      const i = this.covering(range.end);
      const tailFree = Math.min(this.list[i]!.free, this.endOf(i) - range.end);
      changed.set(range.end, this.upsert(entry(range.end, self, 1, tailFree)));
    }
    if (this.find(range.start) < 0) changed.set(range.start, this.upsert(entry(range.start, to, 1, 0)));
    for (let i = this.find(range.start); i < this.list.length && this.list[i]!.token < range.end; i++) {
      const e = this.list[i]!;
      const version = changed.has(e.token) ? 1 : e.version + 1;
      const given = entry(e.token, to, version, this.endOf(i) - e.token);
      this.list[i] = given;
      changed.set(e.token, given);
    }
    this.snapshot = undefined;
    return [...changed.values()].sort((a, b) => a.token - b.token);
  }

  reportFree(self: PeerName, free: ReadonlyMap<number, number>): Entry[] {
    const changed: Entry[] = [];
    for (const [token, count] of free) {
      if (!isU32(count)) throw new WeftError('usage', `invalid free count ${count} at token ${token}`);
      const i = this.find(token);
      if (i < 0) continue;
      const e = this.list[i]!;
      if (e.owner !== self || isBoundary(e) || e.free === count) continue;
      const reported = entry(token, self, e.version + 1, count);
      this.list[i] = reported;
      changed.push(reported);
    }
    if (changed.length > 0) this.snapshot = undefined;
    return changed.sort((a, b) => a.token - b.token);
  }

  transfer(from: PeerName, to: PeerName): Entry[] {
    if (to === NO_OWNER || !isValidPeerName(to)) throw new WeftError('usage', `cannot transfer to ${formatPeerName(to)}`);
    if (from === to || from === NO_OWNER) return [];
    const changed: Entry[] = [];
    for (let i = 0; i < this.list.length; i++) {
      const e = this.list[i]!;
      if (e.owner !== from || isBoundary(e)) continue;
      const moved = entry(e.token, to, e.version + TAKEOVER_BUMP, e.free);
      this.list[i] = moved;
      changed.push(moved);
    }
    if (changed.length > 0) this.snapshot = undefined;
    return changed;
  }

  /**
   * The whole ring, or the given entries (as this ring now holds them) plus a boundary entry at
   * each one's successor token that is not itself in the delta (see the top of this file).
   * Gossip deltas only in this form: a bare entry list is not safe to send.
   */
  state(entries?: readonly Entry[]): RingState {
    const { start, end } = this.range;
    if (!entries) return { start, end, genesis: this.genesis, entries: this.list.map((e) => ({ ...e })) };
    const picked = new Map<number, Entry>();
    for (const d of entries) {
      const i = this.find(d.token);
      if (i >= 0) picked.set(d.token, this.list[i]!);
    }
    const out = new Map<number, Entry>();
    for (const [token, e] of picked) {
      out.set(token, { ...e });
      const i = this.find(token);
      const next = this.list[i + 1];
      if (next && !picked.has(next.token) && !out.has(next.token)) out.set(next.token, { token: next.token, owner: NO_OWNER, version: 0, free: 0 });
    }
    return { start, end, genesis: this.genesis, entries: [...out.values()].sort((a, b) => a.token - b.token) };
  }

  private validEntry(e: Entry): boolean {
    if (!isU32(e.token) || e.token < this.range.start || e.token >= this.range.end) return false;
    if (!isU32(e.version) || e.version > MAX_VERSION || !isU32(e.free) || typeof e.owner !== 'bigint') return false;
    if (e.version === 0) return e.owner === NO_OWNER && e.free === 0;
    return e.owner !== NO_OWNER && isValidPeerName(e.owner);
  }

  private endOf(i: number): number {
    return this.list[i + 1]?.token ?? this.range.end;
  }

  /** Index of the entry at token, or -1. */
  private find(token: number): number {
    const i = this.covering(token);
    return i >= 0 && this.list[i]!.token === token ? i : -1;
  }

  /** Index of the last entry with token ≤ addr, or -1. */
  private covering(addr: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.list[mid]!.token <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Puts e at its token (callers have decided it wins); returns it. */
  private upsert(e: Entry): Entry {
    const i = this.covering(e.token);
    if (i >= 0 && this.list[i]!.token === e.token) this.list[i] = e;
    else this.list.splice(i + 1, 0, e);
    return e;
  }

  /** Adds entries at tokens not present yet: one splice each when few, one linear merge when many. */
  private insertAll(fresh: Entry[]): void {
    if (fresh.length === 0) return;
    if (fresh.length <= 16) {
      for (const e of fresh) this.upsert(e);
      return;
    }
    fresh.sort((a, b) => a.token - b.token);
    const merged: Entry[] = new Array<Entry>(this.list.length + fresh.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < this.list.length || j < fresh.length) {
      if (j >= fresh.length || (i < this.list.length && this.list[i]!.token < fresh[j]!.token)) merged[k++] = this.list[i++]!;
      else merged[k++] = fresh[j++]!;
    }
    this.list = merged;
  }
}
