// The IPAM contracts shared by the ring (ring.ts), consensus (consensus.ts) and the allocator
// (allocator.ts). See docs/ipam.md for the design and its safety argument.
import type { PeerName } from '../mesh/peer-name.js';

/** Addresses are IPv4 as unsigned 32-bit integers. A range is [start, end), end exclusive. */
export interface Range {
  start: number;
  end: number;
}

/** A token and what it owns: the addresses from token up to the next token (or the range end). */
export interface Entry {
  token: number;
  owner: PeerName;
  /** Bumped by every change; takeovers add TAKEOVER_BUMP. */
  version: number;
  /** Advisory: free addresses in this entry's range as its owner last reported. */
  free: number;
}

/** What is gossiped and persisted: the whole ring or a delta (some entries). */
export interface RingState {
  start: number;
  end: number;
  /** Identifies the decision that created the ring (hash of range and initial owners). */
  genesis: string;
  entries: Entry[];
}

export const TAKEOVER_BUMP = 1_000_000;

/**
 * The ring CRDT (ipam/ring.ts). Merge is a pointwise max over tokens by (version, owner, free):
 * commutative, associative, idempotent. Mutators never touch entries of other owners except
 * transfer(); they return the entries they changed (the delta to gossip).
 */
export interface RingApi {
  readonly range: Range;
  readonly genesis: string;
  /** Sorted by token; the first token is range.start. */
  entries(): readonly Entry[];
  /** The owner of addr, or undefined if addr is outside the range. */
  ownerOf(addr: number): PeerName | undefined;
  /** The ranges owned by owner, sorted, adjacent ones joined. */
  rangesOf(owner: PeerName): Range[];
  /** Distinct owners. */
  owners(): PeerName[];
  /**
   * Folds other in. Returns the tokens whose entry changed here, or an error (different range or
   * genesis: nothing is merged).
   */
  merge(other: RingState): { changed: Entry[] } | { error: string };
  /**
   * self gives `range` (which it must own entirely, else throws WeftError 'usage') to `to`:
   * tokens at range.start (owner to) and range.end (owner self, unless end is the range end or
   * already a token boundary of self's next range) are inserted or updated, versions above
   * anything seen at those tokens. Returns the changed entries.
   */
  give(self: PeerName, range: Range, to: PeerName): Entry[];
  /** Sets the free counts of self's entries (by token); bumps the version of those that changed. */
  reportFree(self: PeerName, free: ReadonlyMap<number, number>): Entry[];
  /** Every entry of `from` now belongs to `to`, version + TAKEOVER_BUMP. Returns the changed entries. */
  transfer(from: PeerName, to: PeerName): Entry[];
  /** The whole ring, or only the given entries, as state to gossip or persist. */
  state(entries?: readonly Entry[]): RingState;
}
