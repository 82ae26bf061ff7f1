// Proves, per remote peer and per underlay address of it, that the direct VXLAN path works in
// both directions at full MTU: a probe every intervalMs, answered by the peer's router with an
// ack over the reverse path. A peer is `up` while some address answered within failAfterMs and
// answered a full-size probe within fullFailAfter; `down` once it has been probed for
// failAfterMs without that; `unknown` before. Only every fullEvery-th probe (and the first) is
// padded to the MTU, the rest are minimal: at 300 ms per peer, full-size probes to 1,000 peers
// would be ~5 MB/s per host, minimal ones are ~0.2 MB/s.
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
}

interface TargetState {
  target: ProbeTarget;
  firstProbe?: number;
  addrs: Map<string, AddressState>;
  status: ProbeStatus;
}

export class Prober {
  private readonly targets = new Map<PeerName, TargetState>();
  private readonly sent = new Map<number, SentProbe>();
  /** Every address of every target. */
  private peerAddresses = new Set<string>();
  private seq = 0;
  private round = 0;
  private timer: Timer | undefined;
  private stopped = false;
  readonly counters = { sent: 0, received: 0, acked: 0, answered: 0, dropped: {} as Record<string, number> };

  constructor(private readonly o: ProberOptions) {
    o.transport.receive((f) => this.onFrame(f));
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
        this.targets.set(t.name, { target: t, addrs: new Map(), status: { state: 'unknown', since: this.o.clock.now() } });
        continue;
      }
      s.target = t;
      for (const a of s.addrs.keys()) if (!t.addresses.includes(a)) s.addrs.delete(a);
    }
    for (const name of this.targets.keys()) if (!keep.has(name)) this.targets.delete(name);
    this.peerAddresses = new Set(targets.flatMap((t) => t.addresses));
  }

  /** A full-size probe must have been answered this recently (three full rounds plus the fail time). */
  private get fullFailAfter(): number {
    return 3 * (this.o.fullEvery ?? 10) * this.o.intervalMs + this.o.failAfterMs;
  }

  private healthy(st: AddressState | undefined, now: number): boolean {
    return st?.lastAck !== undefined && now - st.lastAck <= this.o.failAfterMs && st.lastFullAck !== undefined && now - st.lastFullAck <= this.fullFailAfter;
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

  /** Sends a round of probes, then re-evaluates every peer's state. */
  tick(): void {
    const now = this.o.clock.now();
    const replyTo = this.o.replyTo();
    const every = this.o.fullEvery ?? 10;
    // Forget probes too old to count; the table is in send order.
    for (const [seq, sent] of this.sent) {
      if (now - sent.at <= this.o.failAfterMs) break;
      this.sent.delete(seq);
    }
    if (replyTo !== undefined) {
      this.round++;
      for (const s of this.targets.values()) {
        const first = s.firstProbe === undefined;
        s.firstProbe ??= now;
        // Full size while an address is not proven, so a healing path is up again at once.
        for (const addr of s.target.addresses) this.send(s.target, addr, replyTo, now, first || this.round % every === 0 || !this.healthy(s.addrs.get(addr), now));
      }
    }
    this.evaluate(now);
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
      const state: ProbeState = address ? 'up' : s.firstProbe !== undefined && now - s.firstProbe >= this.o.failAfterMs ? 'down' : 'unknown';
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
    const a = s.addrs.get(sent.addr) ?? {};
    a.lastAck = now;
    if (sent.full !== undefined && p.received >= sent.full) a.lastFullAck = now;
    a.rttMs = now - sent.at;
    s.addrs.set(sent.addr, a);
    if (s.status.state !== 'up') this.evaluate(now);
  }
}
