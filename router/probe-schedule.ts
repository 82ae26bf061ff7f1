// Which peers the prober probes in one round, under a per-host budget (docs/dataplane.md, "Probe
// budget"). Pure functions of the prober's state, so the schedule is tested without packets.
//
//   every round (intervalMs):
//     tokens  += budget × elapsed      (at most one round's worth: no bursts after a quiet spell)
//     1. idle peers whose slot has come, up to their fair share of the round (idleRate)
//     2. fast peers — carrying traffic, then suspect, then unsettled — oldest probe first
//     3. idle peers still due, with what is left
//
// An idle peer's slots are `k·period + phase(name)`: spread evenly over the period by a hash of
// the name, independent of when it turned idle, so a thousand peers turning idle together are not
// probed together. A peer is probed again within one period of its last probe.
import type { PeerName } from '../mesh/peer-name.js';

export interface Candidate {
  name: PeerName;
  /** Probed every round (carrying traffic, unsettled or suspect); else idle. */
  fast: boolean;
  /** Among fast peers, lower goes first: 0 carries traffic, 1 suspect, 2 unsettled. */
  rank: number;
  /** Datagrams one probe of this peer costs (one per announced address). */
  cost: number;
  lastProbeAt?: number;
  /** An idle peer is due at this time (its next slot after its last probe). */
  nextIdleAt?: number;
}

/**
 * The idle period for `idleAddresses` addresses sharing `idleRate` probes per second: never
 * shorter than a round (few peers are all probed every round, as without a budget), rounded up to
 * whole rounds.
 */
export function idlePeriodMs(idleAddresses: number, idleRate: number | undefined, intervalMs: number): number {
  if (idleRate === undefined || idleRate <= 0) return intervalMs;
  const ms = (idleAddresses / idleRate) * 1000;
  return Math.max(intervalMs, Math.ceil(ms / intervalMs) * intervalMs);
}

/** A stable fraction in [0, 1) from a peer name (a 64-bit mix, so neighbouring names spread). */
export function phaseOf(name: PeerName): number {
  let x = BigInt.asUintN(64, name ^ 0x9e3779b97f4a7c15n);
  x = BigInt.asUintN(64, (x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n);
  x = BigInt.asUintN(64, (x ^ (x >> 27n)) * 0x94d049bb133111ebn);
  x ^= x >> 31n;
  return Number(x >> 11n) / 2 ** 53;
}

/** The first slot of `name` strictly after t: within (t, t + period]. */
export function slotAfter(name: PeerName, t: number, period: number): number {
  const phase = Math.floor(phaseOf(name) * period);
  const k = Math.floor((t - phase) / period) + 1;
  return k * period + phase;
}

export interface PickOptions {
  now: number;
  /** Datagrams this round may send (Infinity without a budget). */
  tokens: number;
  /** The idle peers' fair share of this round, in datagrams. */
  idleShare: number;
}

/** The peers to probe this round, in the order they are probed. */
export function pickRound(candidates: readonly Candidate[], o: PickOptions): Candidate[] {
  const out: Candidate[] = [];
  let tokens = o.tokens;
  const take = (c: Candidate): boolean => {
    if (c.cost > tokens) return false;
    tokens -= c.cost;
    out.push(c);
    return true;
  };
  const due = candidates.filter((c) => !c.fast && (c.nextIdleAt ?? -Infinity) <= o.now).sort((a, b) => (a.nextIdleAt ?? -Infinity) - (b.nextIdleAt ?? -Infinity));
  let share = o.idleShare;
  let i = 0;
  for (; i < due.length && share > 0; i++) {
    if (!take(due[i]!)) break;
    share -= due[i]!.cost;
  }
  const fast = candidates.filter((c) => c.fast).sort((a, b) => a.rank - b.rank || (a.lastProbeAt ?? -Infinity) - (b.lastProbeAt ?? -Infinity));
  for (const c of fast) if (!take(c) && tokens < 1) break;
  for (; i < due.length; i++) if (!take(due[i]!) && tokens < 1) break;
  return out;
}

/** A token bucket of `rate` per second holding at most one round's worth. */
export class ProbeBucket {
  private tokens: number;
  private at: number;
  constructor(
    private readonly rate: number | undefined,
    private readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }

  /** Tokens available now (Infinity without a rate). */
  available(now: number): number {
    if (this.rate === undefined) return Infinity;
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    return this.tokens;
  }

  spend(n: number): void {
    if (this.rate !== undefined) this.tokens -= n;
  }
}
