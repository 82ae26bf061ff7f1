// Which peers claim each 12-bit short ID. Claims may collide; the claimant with the lowest
// name owns the ID (mesh's rule), the others keep claiming it until they pick a new one.
import { SHORT_ID_BITS } from '../lib/constants.js';
import type { PeerName } from './peer-name.js';

export const SHORT_ID_SPACE = 1 << SHORT_ID_BITS;
const RANDOM_TRIES = 10;

export function isValidShortId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < SHORT_ID_SPACE;
}

export class ShortIdIndex {
  /** Only IDs with at least one claimant have an entry, so `size` counts the IDs in use. */
  private readonly claims = new Map<number, Set<PeerName>>();

  add(id: number, name: PeerName): void {
    let set = this.claims.get(id);
    if (set === undefined) {
      set = new Set();
      this.claims.set(id, set);
    }
    set.add(name);
  }

  remove(id: number, name: PeerName): void {
    const set = this.claims.get(id);
    if (set === undefined) return;
    set.delete(name);
    if (set.size === 0) this.claims.delete(id);
  }

  /** The claimant with the lowest name, or undefined if nobody claims the ID. */
  owner(id: number): PeerName | undefined {
    const set = this.claims.get(id);
    if (set === undefined) return undefined;
    let min: PeerName | undefined;
    for (const n of set) if (min === undefined || n < min) min = n;
    return min;
  }

  /**
   * A random ID nobody claims: a few uniform guesses first (cheap while the space is sparse),
   * then a uniformly random pick among the free ones. Undefined if every ID is claimed.
   */
  chooseFree(random: () => number): number | undefined {
    for (let i = 0; i < RANDOM_TRIES; i++) {
      const id = pick(random, SHORT_ID_SPACE);
      if (!this.claims.has(id)) return id;
    }
    const available = SHORT_ID_SPACE - this.claims.size;
    if (available <= 0) return undefined;
    let n = pick(random, available);
    for (let id = 0; id < SHORT_ID_SPACE; id++) {
      if (this.claims.has(id)) continue;
      if (n === 0) return id;
      n--;
    }
    return undefined;
  }
}

function pick(random: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}
