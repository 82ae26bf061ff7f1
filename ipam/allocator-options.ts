// What the allocator is built from (src/daemon/ipam.ts builds it; tests build it with a
// ManualClock, seeded randomness and the in-memory gossip fabric).
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import type { ConsensusTimings } from './consensus.js';
import type { IpamStore } from './store.js';
import type { Range } from './types.js';

export interface AllocatorTimings {
  /** allocate/claim give up waiting for a ring after this long. */
  waitRingMs: number;
  /** A space request without an answer is retried at another peer after this long. */
  requestTimeoutMs: number;
  /**
   * Reclaim and fencing are re-checked this often while anything waits on time: an owner is
   * unreachable, a ring is awaited, space rests, we are fenced (topology changes re-check at once).
   */
  tickMs: number;
  /** ... and this often when nothing does (a safety net: a quiet mesh costs no wake-up a second). */
  idleTickMs: number;
  /** Free counts are reported to the ring (and conflicts re-checked) at most this often. */
  reportFreeMs: number;
  /** Taken-over space is not handed out for this long. */
  quarantineMs: number;
  /** allocate/claim on a fenced peer wait this long for the partition to heal before failing. */
  fencedWaitMs: number;
}

export const DEFAULT_ALLOCATOR_TIMINGS: AllocatorTimings = {
  waitRingMs: 30_000,
  requestTimeoutMs: 3_000,
  tickMs: 1_000,
  idleTickMs: 30_000,
  reportFreeMs: 1_000,
  quarantineMs: 30_000,
  fencedWaitMs: 10_000,
};

/** What the allocator needs to know about the mesh. */
export interface IpamMeshView {
  /** A route to n exists now (accurate within seconds of a link dying). */
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

/** Options of allocate() and claim(). */
export interface WaitOptions {
  /** Aborting cancels the wait (for a ring, the heal, space) and leaves nothing recorded. */
  signal?: AbortSignal;
}
