// Bootstrap consensus: single-decree Paxos over mesh unicast deciding the initial ring owners
// (docs/ipam.md, "Bootstrap"). Every peer is an acceptor and a learner; proposers are staggered
// by rank so that usually only the lowest-named peer proposes:
//
//   start ─ rank 0 and ≥ quorum known ─▶ prepare(b) to known peers ─▶ quorum of promises
//     │                                   ▲  (resend to the silent)      │ value = highest accepted
//     └ rank r: wait r × 1 s + jitter ────┘                              ▼   reported, else known peers
//                                       retry with a higher round ◀─ accept(b, v) to known peers
//                                       after a timeout or a nack        │ quorum of accepted
//                                                                        ▼
//                                                  decided(v) to every known peer → onDecided(v)
//
// A started peer that has learned nothing asks (query) the proposer of the highest ballot it saw
// and a random known peer now and then, so a lost "decided" does not leave it waiting for its
// rank timer. A peer that knows the decision answers prepare, accept and query with it.
// Acceptor state lives in memory only: a peer restarted mid-bootstrap forgets its promises.
import type { Clock, Timer } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { formatPeerName, type PeerName } from '../mesh/peer-name.js';
import {
  compareBallots,
  decodeConsensus,
  encodeConsensus,
  MAX_ROUND,
  sameBallot,
  type Ballot,
  type ConsensusMessage,
  type Proposal,
} from './consensus-codec.js';

export interface ConsensusTimings {
  /** A peer of rank r (its position among known peers by name) proposes after r × this... */
  rankDelayMs: number;
  /** ...plus up to this much random jitter (rank 0 proposes at once, without jitter). */
  rankJitterMs: number;
  /** Prepare/accept are resent to peers that have not answered after this long. */
  resendMs: number;
  /** An attempt that did not decide is retried with a higher round after this... */
  retryMs: number;
  /** ...plus up to this much random jitter. */
  retryJitterMs: number;
  /** A started peer, or one that has seen a proposal, that learned nothing asks for the decision this often. */
  queryMs: number;
  /** While fewer than quorum peers are known, the topology is looked at again this often. */
  pollMs: number;
}

export const DEFAULT_CONSENSUS_TIMINGS: ConsensusTimings = {
  rankDelayMs: 1_000,
  rankJitterMs: 500,
  resendMs: 500,
  retryMs: 2_000,
  retryJitterMs: 1_000,
  queryMs: 2_000,
  pollMs: 1_000,
};

export interface ConsensusOptions {
  self: PeerName;
  /** Acceptors needed to decide (N/2+1). */
  quorum: number;
  clock: Clock;
  random: () => number;
  log: Logger;
  /** Routes msg to peer `to` (mesh gossip unicast); may be lost. One Buffer may go to many peers: do not modify it. */
  send(to: PeerName, msg: Buffer): void;
  /** The peers the topology knows now (including self); the array is only read. */
  knownPeers(): PeerName[];
  /** Called once, when this peer learns the decided value: the sorted list of initial ring owners. */
  onDecided(owners: PeerName[]): void;
  timings?: Partial<ConsensusTimings>;
}

export interface ConsensusStatus {
  state: 'idle' | 'proposing' | 'decided';
  round: number;
  promises: number;
  accepts: number;
  decided?: PeerName[];
}

/** One proposal attempt with one ballot. */
interface Attempt {
  ballot: Ballot;
  /** Sorted, includes self: the peers asked, and the value proposed if no promise reports one. */
  targets: PeerName[];
  promises: Set<PeerName>;
  nacks: Set<PeerName>;
  /** The highest-ballot accepted proposal reported by a promise. */
  reported?: Proposal;
  /** Set once a quorum promised (phase 2). */
  value?: PeerName[];
  accepts: Set<PeerName>;
  /** A nack arrived: no more resends; accepts still count. */
  abandoned: boolean;
}

type TimerSlot = 'wait' | 'resend' | 'retry' | 'query';

function byName(a: PeerName, b: PeerName): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedUnique(names: Iterable<PeerName>): PeerName[] {
  return [...new Set(names)].sort(byName);
}

export class Consensus {
  readonly dropped: Record<string, number> = {};
  private readonly t: ConsensusTimings;
  private started = false;
  private stopped = false;
  // acceptor
  private promised?: Ballot;
  private accepted?: Proposal;
  // proposer
  private attempt?: Attempt;
  private proposedOnce = false;
  private maxRound = 0;
  private eligibleSince?: number;
  private readonly rankJitter: number;
  // learner
  private decided?: PeerName[];
  private timers: Partial<Record<TimerSlot, Timer>> = {};
  private readonly selfQueue: ConsensusMessage[] = [];
  private draining = false;

  constructor(private readonly o: ConsensusOptions) {
    this.t = { ...DEFAULT_CONSENSUS_TIMINGS, ...o.timings };
    this.rankJitter = o.random() * this.t.rankJitterMs;
  }

  /** Starts proposing when this peer's turn comes (see the top of this file). Idempotent; no-op after stop(). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.run(() => {
      this.consider();
      // Not the first proposer: ask at once, which also wakes the lowest-named peer if it has not
      // needed a ring itself (else the first allocation on a high-ranked peer waits rank seconds).
      if (this.lowestKnown() !== this.o.self) this.query();
      else this.awaitDecision();
    });
  }

  /** A message from a peer (bytes as sent by `send`); malformed ones are counted in `dropped` and ignored. */
  onMessage(from: PeerName, msg: Buffer): void {
    const d = decodeConsensus(msg);
    if (!d.ok) {
      this.dropped[d.reason] = (this.dropped[d.reason] ?? 0) + 1;
      if (this.o.log.isLevelEnabled('debug')) {
        this.o.log.debug({ from: formatPeerName(from), reason: d.reason }, 'consensus: dropped malformed message');
      }
      return;
    }
    this.run(() => this.handle(from, d.value));
  }

  /**
   * Stops timers and proposing for good (e.g. because a ring arrived by gossip); onDecided is
   * not called afterwards. Messages are still answered as an acceptor. Safe to call twice.
   */
  stop(): void {
    this.stopped = true;
    this.cancelTimers();
  }

  status(): ConsensusStatus {
    const a = this.attempt;
    const state = this.decided ? 'decided' : this.proposedOnce && !this.stopped ? 'proposing' : 'idle';
    return {
      state,
      round: a?.ballot.round ?? 0,
      promises: a?.promises.size ?? 0,
      accepts: a?.accepts.size ?? 0,
      ...(this.decided ? { decided: [...this.decided] } : {}),
    };
  }

  // ── scheduling ────────────────────────────────────────────────────────────

  /** Proposes now if it is this peer's turn, else sleeps until it may be. */
  private consider(): void {
    if (this.stopped || this.decided || this.proposedOnce) return;
    const known = this.o.knownPeers();
    const peers = known.includes(this.o.self) ? known.length : known.length + 1;
    if (peers < this.o.quorum) {
      this.eligibleSince = undefined;
      this.schedule('wait', this.t.pollMs, () => this.consider());
      return;
    }
    const now = this.o.clock.now();
    this.eligibleSince ??= now;
    let rank = 0;
    for (const p of known) if (p < this.o.self) rank++;
    const due = this.eligibleSince + (rank === 0 ? 0 : rank * this.t.rankDelayMs + this.rankJitter);
    if (now >= due) this.propose();
    else this.schedule('wait', Math.min(due - now, this.t.pollMs), () => this.consider());
  }

  private schedule(which: TimerSlot, ms: number, fn: () => void): void {
    this.timers[which]?.cancel();
    this.timers[which] = this.o.clock.setTimeout(() => {
      this.timers[which] = undefined;
      this.run(fn);
    }, ms);
  }

  private cancelTimers(): void {
    for (const t of Object.values(this.timers)) t?.cancel();
    this.timers = {};
  }

  private retryDelay(): number {
    return this.t.retryMs + this.o.random() * this.t.retryJitterMs;
  }

  // ── proposer ──────────────────────────────────────────────────────────────

  /** Phase 1 with a ballot above every one seen. */
  private propose(): void {
    if (this.stopped || this.decided) return;
    if (this.maxRound >= MAX_ROUND) {
      this.o.log.error({ round: this.maxRound }, 'consensus: round space exhausted, not proposing');
      return;
    }
    this.proposedOnce = true;
    this.timers.wait?.cancel();
    const ballot: Ballot = { round: this.maxRound + 1, proposer: this.o.self };
    this.maxRound = ballot.round;
    const targets = sortedUnique([...this.o.knownPeers(), this.o.self]);
    this.attempt = { ballot, targets, promises: new Set(), nacks: new Set(), accepts: new Set(), abandoned: false };
    this.o.log.debug({ round: ballot.round, peers: targets.length }, 'consensus: proposing');
    this.sendMany(targets, { kind: 'prepare', ballot });
    this.schedule('resend', this.t.resendMs, () => this.resend());
    this.schedule('retry', this.retryDelay(), () => this.propose());
  }

  private resend(): void {
    const a = this.attempt;
    if (!a || a.abandoned || this.decided || this.stopped) return;
    const answered = a.value ? a.accepts : a.promises;
    const silent = a.targets.filter((p) => !answered.has(p) && !a.nacks.has(p));
    const msg: ConsensusMessage = a.value ? { kind: 'accept', ballot: a.ballot, value: a.value } : { kind: 'prepare', ballot: a.ballot };
    this.sendMany(silent, msg);
    this.schedule('resend', this.t.resendMs, () => this.resend());
  }

  private onPromise(from: PeerName, ballot: Ballot, accepted: Proposal | undefined): void {
    const a = this.current(ballot);
    if (!a || a.value || a.abandoned) return;
    a.promises.add(from);
    if (accepted && (!a.reported || compareBallots(accepted.ballot, a.reported.ballot) > 0)) a.reported = accepted;
    if (a.promises.size < this.o.quorum) return;
    a.value = a.reported?.value ?? a.targets;
    this.o.log.debug({ round: a.ballot.round, owners: a.value.length, reported: !!a.reported }, 'consensus: quorum promised, asking to accept');
    this.sendMany(a.targets, { kind: 'accept', ballot: a.ballot, value: a.value });
    this.schedule('resend', this.t.resendMs, () => this.resend());
  }

  private onNack(from: PeerName, ballot: Ballot, promised: Ballot): void {
    const a = this.current(ballot);
    if (!a) return;
    a.nacks.add(from);
    if (a.abandoned) return;
    a.abandoned = true;
    this.timers.resend?.cancel();
    this.o.log.debug({ round: a.ballot.round, higher: promised.round }, 'consensus: outbid, retrying later');
    this.schedule('retry', this.retryDelay(), () => this.propose());
  }

  private onAccepted(from: PeerName, ballot: Ballot): void {
    const a = this.current(ballot);
    if (!a?.value) return;
    a.accepts.add(from);
    if (a.accepts.size < this.o.quorum) return;
    const value = a.value;
    this.learn(value);
    const tell = sortedUnique([...this.o.knownPeers(), ...a.targets]);
    this.sendMany(tell, { kind: 'decided', value });
  }

  private current(ballot: Ballot): Attempt | undefined {
    const a = this.attempt;
    return a && sameBallot(a.ballot, ballot) && !this.decided ? a : undefined;
  }

  // ── acceptor ──────────────────────────────────────────────────────────────

  private onPrepare(from: PeerName, ballot: Ballot): void {
    if (this.decided) return this.post(from, { kind: 'decided', value: this.decided });
    if (this.promised && compareBallots(ballot, this.promised) < 0) {
      return this.post(from, { kind: 'nack', ballot, promised: this.promised });
    }
    this.promised = ballot;
    this.post(from, { kind: 'promise', ballot, ...(this.accepted ? { accepted: this.accepted } : {}) });
    this.awaitDecision();
  }

  private onAccept(from: PeerName, ballot: Ballot, value: PeerName[]): void {
    if (this.decided) return this.post(from, { kind: 'decided', value: this.decided });
    if (this.promised && compareBallots(ballot, this.promised) < 0) {
      return this.post(from, { kind: 'nack', ballot, promised: this.promised });
    }
    this.promised = ballot;
    this.accepted = { ballot, value };
    this.post(from, { kind: 'accepted', ballot });
    this.awaitDecision();
  }

  // ── learner ───────────────────────────────────────────────────────────────

  private awaitDecision(): void {
    if (this.timers.query || this.stopped || this.decided) return;
    this.schedule('query', this.t.queryMs, () => this.query());
  }

  /** Asks the proposer of the highest ballot seen, and one random known peer, for the decision. */
  private query(): void {
    if (this.stopped || this.decided) return;
    const ask = new Set<PeerName>();
    if (this.promised && this.promised.proposer !== this.o.self) ask.add(this.promised.proposer);
    const known = this.o.knownPeers().filter((p) => p !== this.o.self);
    if (known.length > 0) ask.add(known[Math.floor(this.o.random() * known.length)]!);
    const lowest = this.lowestKnown();
    if (lowest !== this.o.self) ask.add(lowest);
    this.sendMany([...ask], { kind: 'query' });
    this.schedule('query', this.t.queryMs, () => this.query());
  }

  private lowestKnown(): PeerName {
    let low = this.o.self;
    for (const p of this.o.knownPeers()) if (p < low) low = p;
    return low;
  }

  private learn(value: PeerName[]): void {
    if (this.decided) return;
    this.decided = value;
    this.cancelTimers();
    if (this.stopped) return;
    this.o.log.info({ owners: value.length, round: this.attempt?.ballot.round }, 'consensus: initial ring owners decided');
    this.o.onDecided([...value]);
  }

  // ── plumbing ──────────────────────────────────────────────────────────────

  private handle(from: PeerName, m: ConsensusMessage): void {
    if ('ballot' in m) this.maxRound = Math.max(this.maxRound, m.ballot.round);
    switch (m.kind) {
      case 'prepare':
        return this.onPrepare(from, m.ballot);
      case 'promise':
        return this.onPromise(from, m.ballot, m.accepted);
      case 'nack':
        this.maxRound = Math.max(this.maxRound, m.promised.round);
        return this.onNack(from, m.ballot, m.promised);
      case 'accept':
        return this.onAccept(from, m.ballot, m.value);
      case 'accepted':
        return this.onAccepted(from, m.ballot);
      case 'decided':
        return this.learn(m.value);
      case 'query':
        if (this.decided) this.post(from, { kind: 'decided', value: this.decided });
        // Someone needs a ring: the lowest-named peer proposes even if it never needed one itself.
        else if (!this.started && !this.stopped && this.lowestKnown() === this.o.self) this.start();
        return;
    }
  }

  /** Messages to self are queued and handled after the current step, never re-entrantly. */
  private post(to: PeerName, m: ConsensusMessage): void {
    if (to === this.o.self) this.selfQueue.push(m);
    else this.o.send(to, encodeConsensus(m));
  }

  private sendMany(to: readonly PeerName[], m: ConsensusMessage): void {
    let bytes: Buffer | undefined;
    for (const p of to) {
      if (p === this.o.self) {
        this.selfQueue.push(m);
        continue;
      }
      bytes ??= encodeConsensus(m);
      this.o.send(p, bytes);
    }
  }

  private run(step: () => void): void {
    step();
    if (this.draining) return;
    this.draining = true;
    try {
      for (let m = this.selfQueue.shift(); m; m = this.selfQueue.shift()) this.handle(this.o.self, m);
    } finally {
      this.draining = false;
    }
  }
}
