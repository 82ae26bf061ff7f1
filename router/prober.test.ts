// Two probers over MemoryProbeNetwork with one ManualClock:
//
//   A 198.18.0.1  ──────────  B 198.18.0.2 (and 198.18.1.2, its second address)
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { decapsulate, decodeProbeFrame, encodeProbeDatagram, MIN_PROBE_FRAME, type Probe } from './probe-codec.js';
import { MemoryProbeNetwork, type ProbeTransport } from './probe-transport.js';
import { Prober, type ProberOptions } from './prober.js';

const VNI = 0x5eb1;
const PORT = 6784;
const A = 0x02_00_00_00_00_01n;
const B = 0x02_00_00_00_00_02n;
const C = 0x02_00_00_00_00_03n;
const MAC_A = '02:00:00:00:00:01';
const MAC_B = '02:00:00:00:00:02';
const A1 = '198.18.0.1';
const B1 = '198.18.0.2';
const B2 = '198.18.1.2';

function prober(self: PeerName, mac: string, replyTo: string | undefined, transport: ProbeTransport, clock: ManualClock, changes: { n: number }, o: Partial<ProberOptions> = {}): Prober {
  return new Prober({
    self,
    bridgeMac: mac,
    replyTo: () => replyTo,
    vni: VNI,
    port: PORT,
    mtu: 1450,
    transport,
    clock,
    log: silentLogger(),
    intervalMs: 300,
    failAfterMs: 1200,
    onChange: () => changes.n++,
    ...o,
  });
}

/** A transport that records what is sent and lets the test inject received frames. */
class TapTransport implements ProbeTransport {
  readonly sent: { addr: string; port: number; datagram: Buffer }[] = [];
  rx: ((f: Buffer) => void) | undefined;
  send(addr: string, port: number, datagram: Buffer): void {
    this.sent.push({ addr, port, datagram });
  }
  receive(onFrame: (frame: Buffer) => void): void {
    this.rx = onFrame;
  }
  close(): void {
    this.rx = undefined;
  }
}

const frameOf = (p: Probe, dstMac: string, srcMac: string): Buffer => encodeProbeDatagram(p, { vni: VNI, dstMac, srcMac }).subarray(8);

describe('Prober over the memory probe network', () => {
  let clock: ManualClock;
  let net: MemoryProbeNetwork;
  let a: Prober;
  let b: Prober;
  const changes = { n: 0 };

  beforeEach(() => {
    clock = new ManualClock();
    net = new MemoryProbeNetwork();
    changes.n = 0;
    const ta = net.host(A1, { vni: VNI, port: PORT, mac: MAC_A });
    const tb1 = net.host(B1, { vni: VNI, port: PORT, mac: MAC_B });
    const tb2 = net.host(B2, { vni: VNI, port: PORT, mac: MAC_B });
    const tb: ProbeTransport = {
      send: (addr, port, d) => tb1.send(addr, port, d),
      receive: (cb) => {
        tb1.receive(cb);
        tb2.receive(cb);
      },
      close: () => undefined,
    };
    a = prober(A, MAC_A, A1, ta, clock, changes);
    b = prober(B, MAC_B, B1, tb, clock, { n: 0 });
    a.setTargets([{ name: B, addresses: [B2, B1], bridgeMac: MAC_B }]);
    // B answers A because it knows A from the mesh; it is not started, so it sends no probes itself.
    b.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    a.start();
  });

  it('is unknown before probing and goes up after the first ack, at the first address', () => {
    expect(a.status(B).state).toBe('unknown');
    expect(a.status(C).state).toBe('unknown');
    clock.advance(300);
    expect(a.status(B)).toMatchObject({ state: 'up', address: B2, rttMs: 0 });
    expect(changes.n).toBe(1);
    expect(a.counters).toMatchObject({ sent: 2, received: 2, acked: 2 });
    expect(b.counters).toMatchObject({ sent: 0, received: 2, answered: 2 });
  });

  it('prefers the first answering address and moves back to it when it answers again', () => {
    net.block(A1, B2);
    clock.advance(300);
    expect(a.status(B)).toMatchObject({ state: 'up', address: B1 });
    net.unblock(A1, B2);
    clock.advance(300);
    expect(a.status(B)).toMatchObject({ state: 'up', address: B2 });
    expect(changes.n).toBe(2);
  });

  it('stays unknown until failAfter has passed without an answer, then goes down', () => {
    net.block(A1, B1);
    net.block(A1, B2);
    clock.advance(300 * 4);
    expect(a.status(B).state).toBe('unknown');
    expect(changes.n).toBe(0);
    clock.advance(300);
    expect(a.status(B)).toMatchObject({ state: 'down', since: clock.now() });
    expect(a.status(B).address).toBeUndefined();
    expect(changes.n).toBe(1);
  });

  it('goes down failAfter after the last ack, and up again when acks return', () => {
    clock.advance(300);
    const lastAck = clock.now();
    net.block(A1, B1);
    net.block(A1, B2);
    clock.advance(1200);
    expect(clock.now() - lastAck).toBe(1200);
    expect(a.status(B).state).toBe('up');
    clock.advance(300);
    expect(a.status(B).state).toBe('down');
    net.unblock(A1, B1);
    clock.advance(300);
    expect(a.status(B)).toMatchObject({ state: 'up', address: B1 });
  });

  it('falls over to the second address when the first stops answering', () => {
    clock.advance(300);
    net.block(A1, B2);
    clock.advance(1500);
    expect(a.status(B)).toMatchObject({ state: 'up', address: B1 });
  });

  it('sends nothing and stays unknown while it has no reply address', () => {
    const tap = new TapTransport();
    const p = prober(A, MAC_A, undefined, tap, clock, { n: 0 });
    p.setTargets([{ name: B, addresses: [B1], bridgeMac: MAC_B }]);
    p.start();
    clock.advance(3000);
    expect(tap.sent).toEqual([]);
    expect(p.status(B).state).toBe('unknown');
  });

  it('forgets peers no longer targeted and stops on stop()', () => {
    clock.advance(300);
    a.setTargets([]);
    expect(a.status(B).state).toBe('unknown');
    a.stop();
    const sent = a.counters.sent;
    clock.advance(3000);
    expect(a.counters.sent).toBe(sent);
  });
});

/** Deterministic nonces: 16 bytes of a counter. */
function counterRandom(): (n: number) => Buffer {
  let i = 0;
  return (n) => Buffer.alloc(n, ++i & 0xff);
}

describe('Prober answering and counting', () => {
  let clock: ManualClock;
  let tap: TapTransport;
  let p: Prober;
  const nonce = Buffer.from('0f'.repeat(16), 'hex');
  const probeFromA: Probe = { kind: 'probe', from: A, to: B, seq: 7, nonce, replyTo: A1, probed: B2, mtu: 1400, received: 0 };

  beforeEach(() => {
    clock = new ManualClock();
    tap = new TapTransport();
    p = prober(B, MAC_B, B1, tap, clock, { n: 0 }, { random: counterRandom() });
  });

  it('answers a known peer at its announced address with a minimal ack echoing seq, nonce, the probed address and the bytes that arrived', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    const frame = frameOf(probeFromA, MAC_B, '02:00:00:00:00:99');
    tap.rx!(frame);
    expect(tap.sent).toHaveLength(1);
    const { addr, port, datagram } = tap.sent[0]!;
    expect([addr, port]).toEqual([A1, PORT]);
    const ack = decapsulate(datagram, VNI)!;
    // To the peer's announced bridge MAC, not whatever source MAC the frame carried.
    expect(ack.subarray(0, 6).toString('hex')).toBe('020000000001');
    expect(ack.subarray(6, 12).toString('hex')).toBe('020000000002');
    expect(ack.length).toBe(MIN_PROBE_FRAME);
    expect(datagram.length).toBeLessThan(8 + frame.length);
    expect(decodeProbeFrame(ack)).toEqual({ ok: true, value: { kind: 'ack', from: B, to: A, seq: 7, nonce, replyTo: B2, probed: B2, mtu: 1400, received: 1400 } });
    expect(p.counters.answered).toBe(1);
  });

  it('answers no probe from a peer it does not know, nor to an address its sender did not announce (reflection)', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    const victim = '198.18.0.200';
    tap.rx!(frameOf({ ...probeFromA, from: C, replyTo: victim }, MAC_B, MAC_A));
    tap.rx!(frameOf({ ...probeFromA, replyTo: victim, mtu: 65000 }, MAC_B, MAC_A));
    tap.rx!(frameOf({ ...probeFromA, replyTo: B1 }, MAC_B, MAC_A));
    expect(tap.sent).toEqual([]);
    expect(p.counters.dropped).toEqual({ 'probe from unknown peer': 1, "probe reply address not its sender's": 2 });
  });

  it('answers a sender gossip has not named yet only at an address of a known or adopted peer (a restart)', () => {
    const q = prober(B, MAC_B, B1, tap, clock, { n: 0 }, { adoptedPeerAddresses: new Set([A1]) });
    tap.rx!(frameOf({ ...probeFromA, replyTo: '198.18.0.200' }, MAC_B, MAC_A));
    expect(tap.sent).toEqual([]);
    expect(q.counters.dropped).toEqual({ 'probe from unknown peer': 1 });
    tap.rx!(frameOf(probeFromA, MAC_B, MAC_A));
    expect(tap.sent.map((s) => s.addr)).toEqual([A1]);
    expect(decapsulate(tap.sent[0]!.datagram, VNI)!.subarray(0, 6).toString('hex')).toBe('020000000001');
    q.setTargets([{ name: C, addresses: ['198.18.0.3'], bridgeMac: '02:00:00:00:00:03' }]);
    tap.rx!(frameOf({ ...probeFromA, replyTo: '198.18.0.3' }, MAC_B, MAC_A));
    expect(tap.sent.map((s) => s.addr)).toEqual([A1, '198.18.0.3']);
  });

  it('answers a minimal probe claiming a 65000-byte MTU with no more bytes than arrived', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    const small = frameOf({ ...probeFromA, mtu: 0 }, MAC_B, MAC_A);
    small.writeUInt16BE(65000, 14 + 41); // the mtu field, as an attacker would set it
    tap.rx!(small);
    expect(tap.sent).toHaveLength(1);
    const out = tap.sent[0]!.datagram;
    expect(out.length).toBeLessThanOrEqual(8 + small.length);
    const ack = decodeProbeFrame(decapsulate(out, VNI)!);
    expect(ack.ok && ack.value.received).toBe(small.length - 14);
  });

  it('counts frames not for us and malformed frames by reason, and answers none of them', () => {
    tap.rx!(frameOf({ ...probeFromA, to: C }, MAC_B, MAC_A));
    tap.rx!(Buffer.alloc(10));
    tap.rx!(Buffer.alloc(10));
    expect(p.counters.received).toBe(3);
    expect(p.counters.dropped).toEqual({ 'not for us': 1, 'short probe frame': 2 });
    expect(tap.sent).toEqual([]);
  });

  /** The probe p sent to A (the last one by default), decoded. */
  const sentProbe = (at = -1): Probe => {
    const d = decodeProbeFrame(decapsulate(tap.sent.at(at)!.datagram, VNI)!);
    if (!d.ok) throw new Error(d.reason);
    return d.value;
  };
  const ackOf = (q: Probe, o: Partial<Probe> = {}): Buffer => frameOf({ ...q, kind: 'ack', from: q.to, to: q.from, replyTo: q.probed, received: q.mtu, ...o }, MAC_B, MAC_A);

  it('sends a fresh random nonce with every probe', () => {
    const q = prober(B, MAC_B, B1, tap, clock, { n: 0 });
    q.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    q.tick();
    q.tick();
    const [n1, n2] = [sentProbe(-2).nonce, sentProbe(-1).nonce];
    expect(n1.length).toBe(16);
    expect(n1.equals(n2)).toBe(false);
    expect(n1.equals(Buffer.alloc(16))).toBe(false);
  });

  it('forged acks (every seq, wrong nonce; wrong peer or address) change nothing, are counted, and do not cancel the real answer', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    p.tick();
    const q = sentProbe();
    for (let seq = 0; seq < 50; seq++) tap.rx!(ackOf(q, { seq, nonce: Buffer.alloc(16, 0xaa) }));
    tap.rx!(ackOf(q, { from: C }));
    tap.rx!(ackOf(q, { replyTo: '198.18.0.9' }));
    expect(p.status(A).state).toBe('unknown');
    expect(p.counters.acked).toBe(0);
    expect(p.counters.dropped).toEqual({ 'ack nonce mismatch': 1, 'ack for no outstanding probe': 49, 'ack from wrong peer or address': 2 });
    tap.rx!(ackOf(q));
    expect(p.status(A)).toMatchObject({ state: 'up', address: A1 });
  });

  it('counts a duplicate or stale ack as dropped', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    p.tick();
    const q = sentProbe();
    tap.rx!(ackOf(q));
    tap.rx!(ackOf(q));
    expect(p.counters.acked).toBe(1);
    clock.advance(5000);
    p.tick();
    tap.rx!(ackOf(q));
    expect(p.counters.dropped).toEqual({ 'ack for no outstanding probe': 2 });
  });

  it('a full-size probe is proven only by an ack saying it arrived whole', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    p.tick();
    const q = sentProbe();
    expect(q.mtu).toBe(1450);
    tap.rx!(ackOf(q, { received: 1400 }));
    expect(p.counters.acked).toBe(1);
    expect(p.status(A).state).toBe('unknown');
    p.tick();
    tap.rx!(ackOf(sentProbe()));
    expect(p.status(A).state).toBe('up');
  });

  it('ignores acks it did not ask for', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    tap.rx!(frameOf({ kind: 'ack', from: A, to: B, seq: 99, nonce, replyTo: A1, probed: A1, mtu: 1450, received: 1450 }, MAC_B, MAC_A));
    expect(p.counters.acked).toBe(0);
    expect(p.status(A).state).toBe('unknown');
  });

  it('goes up when an ack arrives after the round that sent the probe (acks are asynchronous)', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    p.tick();
    const sent = decodeProbeFrame(decapsulate(tap.sent[0]!.datagram, VNI)!);
    if (!sent.ok) throw new Error(sent.reason);
    clock.advance(5);
    tap.rx!(frameOf({ ...sent.value, kind: 'ack', from: A, to: B, replyTo: A1, received: sent.value.mtu }, MAC_B, MAC_A));
    expect(p.status(A)).toMatchObject({ state: 'up', address: A1, rttMs: 5 });
  });

  // BUG: tick() clears the whole outstanding-probe table after sending when it holds more than
  // 4096 entries, so with more than 4096 peer addresses every probe of the round is forgotten
  // before its ack arrives, and no peer ever comes up. Flip to `it` once fixed.
  it('still accepts acks of the current round with more than 4096 addresses', () => {
    const targets = Array.from({ length: 4100 }, (_, i) => ({ name: 0x02_00_00_01_00_00n + BigInt(i), addresses: [`198.19.${i >> 8}.${i & 0xff}`], bridgeMac: MAC_A }));
    p.setTargets(targets);
    p.tick();
    const sent = decodeProbeFrame(decapsulate(tap.sent[0]!.datagram, VNI)!);
    if (!sent.ok) throw new Error(sent.reason);
    tap.rx!(frameOf({ ...sent.value, kind: 'ack', from: sent.value.to, to: B, replyTo: sent.value.probed, received: sent.value.mtu }, MAC_B, MAC_A));
    expect(p.status(targets[0]!.name).state).toBe('up');
  });
});
