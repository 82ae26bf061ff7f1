// Proves, per remote peer and per underlay address of it, that the direct VXLAN path works in
// both directions at full MTU: probes answered by the peer's router with an ack over the reverse
// path. An address is failing once the probes sent to it since its last answer (at least
// MIN_LOST of them) have gone unanswered for failAfterMs — for full-size probes, for the full
// window; a peer is `up` while some address answered (a full-size probe too) and is not failing,
// `down` once every address is failing, `unknown` before. Every fullEvery-th probe (and the first,
// every probe while an address is not proven, and every idle probe) is padded to the MTU; the rest
// are minimal.
//
// Which peers are probed when (router/probe-schedule.ts): peers that carry traffic (setActive),
// peers whose state is unknown or changed within settleMs, and up peers whose last probe went
// unanswered are probed every intervalMs; the others (idle) share idleRate probes per second,
// each at its own evenly spread slot; and all of it stays within `budget` datagrams per second.
// Without idleRate and budget every peer is probed every intervalMs.
//
// What is trusted (issue 13): anyone on the underlay can send frames to our VXLAN port.
//   probe in: answered only at an address its sender announced (a sender gossip has not named
//     yet: an address of a known peer), never elsewhere (the responder never sees the outer
//     source address, so the probe names where the ack goes); the
//     ack is minimal-size, so never larger than the probe: no reflection to third parties and no
//     amplification.
//   ack in: counts only if it echoes an outstanding probe's seq, peer, probed address and random
//     16-byte nonce; anything else is counted as dropped by reason and changes nothing. The ack
//     says how many bytes the probe arrived with, which is what proves the full-MTU path.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock, Timer } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { decodeProbeFrame, encodeProbeDatagram, ETH_HEADER, NONCE_BYTES, probeFrameLength, VXLAN_HEADER, type Probe } from './probe-codec.js';
import type { ProbeTransport } from './probe-transport.js';
import { formatMac } from './addresses.js';
import { idlePeriodMs, pickRound, ProbeBucket, slotAfter, type Candidate } from './probe-schedule.js';

/** An address is failing only after at least this many probes went unanswered (not a single lost datagram, nor a starved schedule). */
export const MIN_LOST = 3;
/** Unanswered send times kept per address; the first one always stays. */
const PENDING_CAP = 16;

export interface ProbeTarget {
  name: PeerName;
  addresses: string[];
  bridgeMac: string;
}

export type ProbeState = 'unknown' | 'up' | 'down';

export interface ProbeStatus {
  state: ProbeState;
  /** The first of the peer's addresses that answers. */
  address?: string;
  rttMs?: number;
  /** When the state last changed. */
  since: number;
}

export interface ProberOptions {
  self: PeerName;
  bridgeMac: string;
  /** Our address for acks; undefined until we know one (probes are not sent without it). */
  replyTo: () => string | undefined;
  vni: number;
  port: number;
  mtu: number;
  transport: ProbeTransport;
  clock: Clock;
  log: Logger;
  intervalMs: number;
  failAfterMs: number;
  /** Every fullEvery-th probe is padded to the MTU (default 10). */
  fullEvery?: number;
  /** Probes per second shared by idle peers; undefined = idle peers are probed every intervalMs too. */
  idleRate?: number;
  /** Datagrams per second this prober sends at most (probes only; acks answer others' budgets); undefined = no limit. */
  budget?: number;
  /** A peer whose state changed this recently is probed every intervalMs (default 2 × failAfterMs). */
  settleMs?: number;
  /** Called when some peer's state or working address changed. */
  onChange: () => void;
  /**
   * Underlay addresses of peers the kernel already forwards to (adopted at a restart): a probe from
   * a peer gossip has not named yet is answered if it asks for the ack at one of these or at an
   * address of a peer we know, so a restarted router answers before the first gossip arrives.
   */
  adoptedPeerAddresses?: ReadonlySet<string>;
  /** Source of probe nonces (default crypto.randomBytes); injected by tests. */
  random?: (n: number) => Buffer;
}

interface SentProbe {
  at: number;
  to: PeerName;
  addr: string;
  nonce: Buffer;
  /** Bytes after the Ethernet header when padded to the MTU; undefined for a minimal probe. */
  full?: number;
}

interface AddressState {
  lastAck?: number;
  /** Last answer to a full-size probe. */
  lastFullAck?: number;
  rttMs?: number;
  /** Send times of the probes (and of the full-size ones) sent after the last answered one. */
  pending: number[];
  pendingFull: number[];
}

interface TargetState {
  target: ProbeTarget;
  addrs: Map<string, AddressState>;
  status: ProbeStatus;
  /** Carries traffic (setActive). */
  active: boolean;
  /** Probes sent (per address round), for the full-size cadence. */
  probes: number;
  lastProbeAt?: number;
  /** Its next idle slot. */
  nextIdleAt?: number;
}

/** How the prober spends its budget now (status and benchmarks). */
export interface ProbeSchedule {
  fast: number;
  idle: number;
  /** How often each idle peer is probed. */
  idlePeriodMs: number;
}

export class Prober {
  private readonly targets = new Map<PeerName, TargetState>();
  private readonly sent = new Map<number, SentProbe>();
  /** Every address of every target. */
  private peerAddresses = new Set<string>();
  private seq = 0;
  private timer: Timer | undefined;
  private stopped = false;
  private readonly bucket: ProbeBucket;
  private lastSchedule: ProbeSchedule;
  readonly counters = { sent: 0, received: 0, acked: 0, answered: 0, dropped: {} as Record<string, number> };

  constructor(private readonly o: ProberOptions) {
    o.transport.receive((f) => this.onFrame(f));
    this.bucket = new ProbeBucket(o.budget, ((o.budget ?? 0) * o.intervalMs) / 1000, o.clock.now());
    this.lastSchedule = { fast: 0, idle: 0, idlePeriodMs: o.intervalMs };
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** The peers to probe; peers no longer listed are forgotten. */
  setTargets(targets: readonly ProbeTarget[]): void {
    const keep = new Set<PeerName>();
    for (const t of targets) {
      keep.add(t.name);
      const s = this.targets.get(t.name);
      if (!s) {
        this.targets.set(t.name, { target: t, addrs: new Map(), status: { state: 'unknown', since: this.o.clock.now() }, active: false, probes: 0 });
        continue;
      }
      s.target = t;
      for (const a of s.addrs.keys()) if (!t.addresses.includes(a)) s.addrs.delete(a);
    }
    for (const name of this.targets.keys()) if (!keep.has(name)) this.targets.delete(name);
    this.peerAddresses = new Set(targets.flatMap((t) => t.addresses));
  }

  /**
   * Full-size probes unanswered this long fail a proven address: two full rounds plus the fail
   * time (the first unanswered one goes out a full round after the last answered one).
   */
  private get fullWindow(): number {
    return 2 * (this.o.fullEvery ?? 10) * this.o.intervalMs + this.o.failAfterMs;
  }

  private failing(st: AddressState, now: number): boolean {
    const lost = (sent: number[], window: number): boolean => sent.length >= MIN_LOST && now - sent[0]! >= window;
    return lost(st.pending, this.o.failAfterMs) || lost(st.pendingFull, st.lastFullAck === undefined ? this.o.failAfterMs : this.fullWindow);
  }

  private healthy(st: AddressState | undefined, now: number): boolean {
    return st?.lastAck !== undefined && st.lastFullAck !== undefined && !this.failing(st, now);
  }

  /** Peers that carry traffic (recently used forwarding entries): probed every intervalMs; a newly active one at once. */
  setActive(names: ReadonlySet<PeerName>): void {
    const now = this.o.clock.now();
    const replyTo = this.o.replyTo();
    for (const s of this.targets.values()) {
      const active = names.has(s.target.name);
      const promoted = active && !s.active;
      s.active = active;
      if (!promoted || replyTo === undefined || this.o.idleRate === undefined) continue;
      const cost = s.target.addresses.length;
      if (this.bucket.available(now) < cost) continue;
      this.bucket.spend(cost);
      this.probe(s, replyTo, now, false);
    }
  }

  /** How many peers are probed fast and idle, as of the last round. */
  probing(): ProbeSchedule {
    return this.lastSchedule;
  }

  status(name: PeerName): ProbeStatus {
    return this.targets.get(name)?.status ?? { state: 'unknown', since: this.o.clock.now() };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.tick();
      this.schedule();
    }, this.o.intervalMs);
  }

  /** Sends this round's probes (router/probe-schedule.ts), then re-evaluates every peer's state. */
  tick(): void {
    const now = this.o.clock.now();
    const replyTo = this.o.replyTo();
    // Forget probes too old to count; the table is in send order.
    for (const [seq, sent] of this.sent) {
      if (now - sent.at <= this.o.failAfterMs) break;
      this.sent.delete(seq);
    }
    if (replyTo !== undefined) {
      const candidates: Candidate[] = [];
      let idleAddresses = 0;
      for (const s of this.targets.values()) {
        const rank = this.fastRank(s, now);
        const c: Candidate = { name: s.target.name, fast: rank !== undefined, rank: rank ?? 3, cost: s.target.addresses.length, lastProbeAt: s.lastProbeAt, nextIdleAt: s.nextIdleAt };
        if (!c.fast) idleAddresses += c.cost;
        candidates.push(c);
      }
      const period = idlePeriodMs(idleAddresses, this.o.idleRate, this.o.intervalMs);
      this.lastSchedule = { fast: candidates.length - candidates.filter((c) => !c.fast).length, idle: candidates.filter((c) => !c.fast).length, idlePeriodMs: period };
      const tokens = this.bucket.available(now);
      const picked = pickRound(candidates, { now, tokens, idleShare: Math.ceil((idleAddresses * this.o.intervalMs) / period) });
      for (const c of picked) {
        const s = this.targets.get(c.name)!;
        this.bucket.spend(c.cost);
        this.probe(s, replyTo, now, !c.fast, period);
      }
    }
    this.evaluate(now);
  }

  /**
   * Whether s is probed every round, and its place in the queue when the budget is short: 0 it
   * carries traffic, 1 its working address missed an answer (the verdict must come quickly),
   * 2 its state is unknown or changed within settleMs; undefined = idle.
   */
  private fastRank(s: TargetState, now: number): number | undefined {
    if (this.o.idleRate === undefined) return 0;
    if (s.active) return 0;
    const working = s.status.address === undefined ? undefined : s.addrs.get(s.status.address);
    if (s.status.state === 'up' && working?.pending[0] !== undefined && now - working.pending[0] >= this.o.intervalMs) return 1;
    if (s.status.state === 'unknown' || now - s.status.since < (this.o.settleMs ?? 2 * this.o.failAfterMs)) return 2;
    return undefined;
  }

  /** One probe to each of s's addresses; idle probes are full-size (they are rare, and each proves the MTU). */
  private probe(s: TargetState, replyTo: string, now: number, idle: boolean, period = this.lastSchedule.idlePeriodMs): void {
    const every = this.o.fullEvery ?? 10;
    const full = idle || s.probes % every === 0;
    s.probes++;
    s.lastProbeAt = now;
    s.nextIdleAt = slotAfter(s.target.name, now, period);
    // Full size while an address is not proven, so a healing path is up again at once.
    for (const addr of s.target.addresses) {
      let a = s.addrs.get(addr);
      if (!a) s.addrs.set(addr, (a = { pending: [], pendingFull: [] }));
      const f = full || !this.healthy(a, now);
      remember(a.pending, now);
      if (f) remember(a.pendingFull, now);
      this.send(s.target, addr, replyTo, now, f);
    }
  }

  private send(t: ProbeTarget, addr: string, replyTo: string, now: number, full: boolean): void {
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const nonce = (this.o.random ?? randomBytes)(NONCE_BYTES);
    const mtu = full ? this.o.mtu : 0;
    this.sent.set(seq, { at: now, to: t.name, addr, nonce, full: full ? probeFrameLength(mtu) - ETH_HEADER : undefined });
    const p: Probe = { kind: 'probe', from: this.o.self, to: t.name, seq, nonce, replyTo, probed: addr, mtu, received: 0 };
    this.o.transport.send(addr, this.o.port, encodeProbeDatagram(p, { vni: this.o.vni, dstMac: t.bridgeMac, srcMac: this.o.bridgeMac }));
    this.counters.sent++;
  }

  private evaluate(now: number): void {
    let changed = false;
    for (const s of this.targets.values()) {
      let address: string | undefined;
      let rttMs: number | undefined;
      for (const a of s.target.addresses) {
        const st = s.addrs.get(a);
        if (this.healthy(st, now)) {
          address = a;
          rttMs = st?.rttMs;
          break;
        }
      }
      const all = s.target.addresses.map((a) => s.addrs.get(a));
      const allFailing = all.length > 0 && all.every((a) => a !== undefined && this.failing(a, now));
      const state: ProbeState = address ? 'up' : allFailing || s.status.state === 'down' ? 'down' : 'unknown';
      const prev = s.status;
      if (prev.state !== state || prev.address !== address) {
        changed = true;
        s.status = { state, address, rttMs, since: now };
        this.o.log.info({ peer: s.target.name.toString(16), state, address }, 'direct path changed');
      } else {
        s.status = { ...prev, rttMs };
      }
    }
    if (changed) this.o.onChange();
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  private onFrame(frame: Buffer): void {
    if (this.stopped) return;
    this.counters.received++;
    const d = decodeProbeFrame(frame);
    if (!d.ok) return this.drop(d.reason);
    const p = d.value;
    if (p.to !== this.o.self) return this.drop('not for us');
    if (p.kind === 'probe') return this.answer(p, frame);
    this.onAck(p);
  }

  /** Answers a probe that arrived as `frame`. */
  private answer(p: Probe, frame: Buffer): void {
    const peer = this.targets.get(p.from)?.target;
    // Never an address the peer did not announce (nor, for a sender gossip has not named yet, an
    // address of no peer): that would reflect to anyone the sender names.
    if (peer && !peer.addresses.includes(p.replyTo)) return this.drop('probe reply address not its sender\'s');
    if (!peer && !this.peerAddresses.has(p.replyTo) && !this.o.adoptedPeerAddresses?.has(p.replyTo)) return this.drop('probe from unknown peer');
    const frameLength = frame.length;
    const ack: Probe = { kind: 'ack', from: this.o.self, to: p.from, seq: p.seq, nonce: p.nonce, replyTo: p.probed, probed: p.probed, mtu: p.mtu, received: frameLength - ETH_HEADER };
    // A known peer's announced bridge MAC; else the frame's source, which a weft prober sets to its bridge's.
    const dstMac = peer?.bridgeMac ?? formatMac(frame.subarray(6, 12));
    const datagram = encodeProbeDatagram(ack, { vni: this.o.vni, dstMac, srcMac: this.o.bridgeMac });
    // Holds by construction (an ack is the shortest valid probe frame); kept as the invariant.
    if (datagram.length > VXLAN_HEADER + frameLength) return this.drop('ack would be larger than its probe');
    this.o.transport.send(p.replyTo, this.o.port, datagram);
    this.counters.answered++;
  }

  private onAck(p: Probe): void {
    const sent = this.sent.get(p.seq);
    if (!sent) return this.drop('ack for no outstanding probe');
    // An ack counts only from the peer and for the address the probe went to (its replyTo
    // echoes the address we probed), and only with the probe's nonce. A mismatch leaves the
    // probe outstanding: a forger must not be able to cancel the real answer.
    if (sent.to !== p.from || sent.addr !== p.replyTo) return this.drop('ack from wrong peer or address');
    if (!timingSafeEqual(sent.nonce, p.nonce)) return this.drop('ack nonce mismatch');
    const s = this.targets.get(p.from);
    this.sent.delete(p.seq);
    if (!s) return this.drop('ack from a peer no longer probed');
    this.counters.acked++;
    const now = this.o.clock.now();
    const a = s.addrs.get(sent.addr) ?? { pending: [], pendingFull: [] };
    a.lastAck = now;
    a.pending = a.pending.filter((t) => t > sent.at);
    if (sent.full !== undefined && p.received >= sent.full) {
      a.lastFullAck = now;
      a.pendingFull = a.pendingFull.filter((t) => t > sent.at);
    }
    a.rttMs = now - sent.at;
    s.addrs.set(sent.addr, a);
    if (s.status.state !== 'up') this.evaluate(now);
  }
}

/** Adds a send time, keeping the first (the verdict counts from it) when the list is full. */
function remember(times: number[], t: number): void {
  times.push(t);
  if (times.length > PENDING_CAP) times.splice(1, 1);
}
