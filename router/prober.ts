// Proves, per remote peer and per underlay address of it, that the direct VXLAN path works in
// both directions at full MTU: a probe every intervalMs, answered by the peer's router with an
// ack over the reverse path. A peer is `up` while some address answered within failAfterMs,
// `down` once it has been probed for failAfterMs without an answer, `unknown` before that.
import type { Clock, Timer } from '../src/clock.js';
import type { Logger } from '../src/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { decodeProbeFrame, encodeProbeDatagram, type Probe } from './probe-codec.js';
import type { ProbeTransport } from './probe-transport.js';

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
  /** Called when some peer's state or working address changed. */
  onChange: () => void;
}

interface AddressState {
  lastAck?: number;
  rttMs?: number;
}

interface TargetState {
  target: ProbeTarget;
  firstProbe?: number;
  addrs: Map<string, AddressState>;
  status: ProbeStatus;
}

const MAX_OUTSTANDING = 4096;

export class Prober {
  private readonly targets = new Map<PeerName, TargetState>();
  private readonly sent = new Map<number, { at: number }>();
  private seq = 0;
  private timer: Timer | undefined;
  private stopped = false;
  readonly counters = { sent: 0, received: 0, acked: 0, dropped: {} as Record<string, number> };

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
    if (replyTo !== undefined) {
      for (const s of this.targets.values()) {
        s.firstProbe ??= now;
        for (const addr of s.target.addresses) this.send(s.target, addr, replyTo, now);
      }
    }
    if (this.sent.size > MAX_OUTSTANDING) this.sent.clear();
    this.evaluate(now);
  }

  private send(t: ProbeTarget, addr: string, replyTo: string, now: number): void {
    const seq = (this.seq = (this.seq + 1) >>> 0);
    this.sent.set(seq, { at: now });
    const p: Probe = { kind: 'probe', from: this.o.self, to: t.name, seq, replyTo, probed: addr, mtu: this.o.mtu };
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
        if (st?.lastAck !== undefined && now - st.lastAck <= this.o.failAfterMs) {
          address = a;
          rttMs = st.rttMs;
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

  private onFrame(frame: Buffer): void {
    if (this.stopped) return;
    this.counters.received++;
    const d = decodeProbeFrame(frame);
    if (!d.ok) {
      this.counters.dropped[d.reason] = (this.counters.dropped[d.reason] ?? 0) + 1;
      return;
    }
    const p = d.value;
    if (p.to !== this.o.self) {
      this.counters.dropped['not for us'] = (this.counters.dropped['not for us'] ?? 0) + 1;
      return;
    }
    if (p.kind === 'probe') {
      const srcMac = frame.subarray(6, 12);
      const ack: Probe = { ...p, kind: 'ack', from: this.o.self, to: p.from, replyTo: p.probed };
      const dstMac = Array.from(srcMac, (x) => x.toString(16).padStart(2, '0')).join(':');
      this.o.transport.send(p.replyTo, this.o.port, encodeProbeDatagram(ack, { vni: this.o.vni, dstMac, srcMac: this.o.bridgeMac }));
      return;
    }
    const s = this.targets.get(p.from);
    const sent = this.sent.get(p.seq);
    if (!s || !sent) return;
    this.sent.delete(p.seq);
    this.counters.acked++;
    const now = this.o.clock.now();
    // The ack's replyTo echoes the address we probed.
    const a = s.addrs.get(p.replyTo) ?? {};
    a.lastAck = now;
    a.rttMs = now - sent.at;
    s.addrs.set(p.replyTo, a);
    if (s.status.state !== 'up') this.evaluate(now);
  }
}
