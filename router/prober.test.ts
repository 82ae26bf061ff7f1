// Two probers over MemoryProbeNetwork with one ManualClock:
//
//   A 198.18.0.1  ──────────  B 198.18.0.2 (and 198.18.1.2, its second address)
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { decapsulate, decodeProbeFrame, encodeProbeDatagram, type Probe } from './probe-codec.js';
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
    a.start();
    b.start();
  });

  it('is unknown before probing and goes up after the first ack, at the first address', () => {
    expect(a.status(B).state).toBe('unknown');
    expect(a.status(C).state).toBe('unknown');
    clock.advance(300);
    expect(a.status(B)).toMatchObject({ state: 'up', address: B2, rttMs: 0 });
    expect(changes.n).toBe(1);
    expect(a.counters).toMatchObject({ sent: 2, received: 2, acked: 2 });
    expect(b.counters).toMatchObject({ sent: 0, received: 2 });
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

describe('Prober answering and counting', () => {
  let clock: ManualClock;
  let tap: TapTransport;
  let p: Prober;

  beforeEach(() => {
    clock = new ManualClock();
    tap = new TapTransport();
    p = prober(B, MAC_B, B1, tap, clock, { n: 0 });
  });

  it('answers a probe to the sender reply address with an ack that echoes the probed address', () => {
    const probe: Probe = { kind: 'probe', from: A, to: B, seq: 7, replyTo: A1, probed: B2, mtu: 1400 };
    tap.rx!(frameOf(probe, MAC_B, MAC_A));
    expect(tap.sent).toHaveLength(1);
    const { addr, port, datagram } = tap.sent[0]!;
    expect([addr, port]).toEqual([A1, PORT]);
    const frame = decapsulate(datagram, VNI)!;
    expect(frame.subarray(0, 6).toString('hex')).toBe('020000000001');
    expect(frame.subarray(6, 12).toString('hex')).toBe('020000000002');
    expect(frame.length).toBe(14 + 1400);
    expect(decodeProbeFrame(frame)).toEqual({ ok: true, value: { kind: 'ack', from: B, to: A, seq: 7, replyTo: B2, probed: B2, mtu: 1400 } });
  });

  it('counts frames not for us and malformed frames by reason, and answers none of them', () => {
    tap.rx!(frameOf({ kind: 'probe', from: A, to: C, seq: 1, replyTo: A1, probed: B1, mtu: 1400 }, MAC_B, MAC_A));
    tap.rx!(Buffer.alloc(10));
    tap.rx!(Buffer.alloc(10));
    expect(p.counters.received).toBe(3);
    expect(p.counters.dropped).toEqual({ 'not for us': 1, 'short probe frame': 2 });
    expect(tap.sent).toEqual([]);
  });

  it('ignores acks it did not ask for', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    tap.rx!(frameOf({ kind: 'ack', from: A, to: B, seq: 99, replyTo: A1, probed: A1, mtu: 1450 }, MAC_B, MAC_A));
    expect(p.counters.acked).toBe(0);
    expect(p.status(A).state).toBe('unknown');
  });

  it('goes up when an ack arrives after the round that sent the probe (acks are asynchronous)', () => {
    p.setTargets([{ name: A, addresses: [A1], bridgeMac: MAC_A }]);
    p.tick();
    const sent = decodeProbeFrame(decapsulate(tap.sent[0]!.datagram, VNI)!);
    if (!sent.ok) throw new Error(sent.reason);
    clock.advance(5);
    tap.rx!(frameOf({ ...sent.value, kind: 'ack', from: A, to: B, replyTo: A1 }, MAC_B, MAC_A));
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
    tap.rx!(frameOf({ ...sent.value, kind: 'ack', from: sent.value.to, to: B, replyTo: sent.value.probed }, MAC_B, MAC_A));
    expect(p.status(targets[0]!.name).state).toBe('up');
  });
});
