import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decapsulate, decodeProbeFrame, encodeProbeDatagram, ETH_HEADER, MIN_PROBE_FRAME, PROBE_ETHERTYPE, VXLAN_HEADER, type Probe } from './probe-codec.js';
import { formatMac } from './addresses.js';

const VNI = 0x5eb1;
const DST = '02:00:00:00:00:02';
const SRC = '02:00:00:00:00:01';
const probe: Probe = { kind: 'probe', from: 0x02_00_00_00_00_01n, to: 0x02_00_00_00_00_02n, seq: 42, nonce: Buffer.from('00112233445566778899aabbccddeeff', 'hex'), replyTo: '198.18.0.1', probed: '198.18.0.2', mtu: 1450, received: 0 };

const arbIp = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
const arbName = fc.bigInt({ min: 0n, max: (1n << 48n) - 1n });
const arbProbe: fc.Arbitrary<Probe> = fc.record({
  kind: fc.constantFrom('probe' as const, 'ack' as const),
  from: arbName,
  to: arbName,
  seq: fc.nat(0xffffffff),
  nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
  replyTo: arbIp,
  probed: arbIp,
  mtu: fc.nat(9000),
  received: fc.nat(0xffff),
});

describe('probe codec', () => {
  it('round-trips through encapsulation and decapsulation', () => {
    fc.assert(
      fc.property(arbProbe, fc.nat(0xffffff), (p, vni) => {
        const frame = decapsulate(encodeProbeDatagram(p, { vni, dstMac: DST, srcMac: SRC }), vni);
        expect(frame).toBeDefined();
        expect(decodeProbeFrame(frame!)).toEqual({ ok: true, value: p });
      }),
    );
  });

  it('writes the VXLAN header, the Ethernet header and pads the inner frame to the MTU', () => {
    const d = encodeProbeDatagram(probe, { vni: VNI, dstMac: DST, srcMac: SRC });
    expect(d.length).toBe(VXLAN_HEADER + ETH_HEADER + 1450);
    expect(d[0]).toBe(0x08);
    expect(d.readUIntBE(4, 3)).toBe(VNI);
    expect(d[7]).toBe(0);
    expect(formatMac(d.subarray(8, 14))).toBe(DST);
    expect(formatMac(d.subarray(14, 20))).toBe(SRC);
    expect(d.readUInt16BE(20)).toBe(PROBE_ETHERTYPE);
    expect(d.subarray(22, 26).toString('latin1')).toBe('WFTP');
    expect(d[26]).toBe(0x21);
    expect(d.subarray(43, 59).toString('hex')).toBe('00112233445566778899aabbccddeeff');
    expect(d.subarray(71).every((x) => x === 0)).toBe(true);
  });

  it('never pads an ack, whatever MTU it names: an answer is the shortest probe frame', () => {
    const d = encodeProbeDatagram({ ...probe, kind: 'ack', mtu: 65000, received: 1450 }, { vni: VNI, dstMac: DST, srcMac: SRC });
    expect(d.length).toBe(VXLAN_HEADER + MIN_PROBE_FRAME);
    expect(decodeProbeFrame(d.subarray(VXLAN_HEADER))).toEqual({ ok: true, value: { ...probe, kind: 'ack', mtu: 65000, received: 1450 } });
    const shortest = encodeProbeDatagram({ ...probe, mtu: 0 }, { vni: VNI, dstMac: DST, srcMac: SRC });
    expect(shortest.length).toBe(d.length);
  });

  it('refuses version 1 frames (no nonce) and unknown versions by reason', () => {
    const frame = Buffer.from(encodeProbeDatagram(probe, { vni: VNI, dstMac: DST, srcMac: SRC }).subarray(VXLAN_HEADER));
    frame[18] = 0x01; // a version 1 probe
    expect(decodeProbeFrame(frame)).toEqual({ ok: false, reason: 'unsupported probe version 0' });
    frame[18] = 0x31;
    expect(decodeProbeFrame(frame)).toEqual({ ok: false, reason: 'unsupported probe version 3' });
  });

  it('never makes a datagram shorter than the probe body, even with a tiny MTU', () => {
    const d = encodeProbeDatagram({ ...probe, mtu: 0 }, { vni: VNI, dstMac: DST, srcMac: SRC });
    expect(decodeProbeFrame(d.subarray(VXLAN_HEADER))).toEqual({ ok: true, value: { ...probe, mtu: 0 } });
  });

  it('decapsulates only datagrams with the I flag and the right VNI', () => {
    const d = encodeProbeDatagram(probe, { vni: VNI, dstMac: DST, srcMac: SRC });
    expect(decapsulate(d, VNI + 1)).toBeUndefined();
    const noFlag = Buffer.from(d);
    noFlag[0] = 0;
    expect(decapsulate(noFlag, VNI)).toBeUndefined();
    expect(decapsulate(d.subarray(0, VXLAN_HEADER + ETH_HEADER - 1), VNI)).toBeUndefined();
  });

  it('rejects short frames, other ethertypes, bad magic and unknown kinds with reasons', () => {
    const frame = encodeProbeDatagram(probe, { vni: VNI, dstMac: DST, srcMac: SRC }).subarray(VXLAN_HEADER);
    expect(decodeProbeFrame(frame.subarray(0, ETH_HEADER + 48))).toEqual({ ok: false, reason: 'short probe frame' });
    expect(decodeProbeFrame(frame.subarray(0, 18))).toEqual({ ok: false, reason: 'short probe frame' });
    const ipv4 = Buffer.from(frame);
    ipv4.writeUInt16BE(0x0800, 12);
    expect(decodeProbeFrame(ipv4)).toEqual({ ok: false, reason: 'not a probe ethertype' });
    const magic = Buffer.from(frame);
    magic[14] = 0;
    expect(decodeProbeFrame(magic)).toEqual({ ok: false, reason: 'bad probe magic' });
    const kind = Buffer.from(frame);
    kind[18] = 0x23;
    expect(decodeProbeFrame(kind)).toEqual({ ok: false, reason: 'unknown probe kind 3' });
  });

  it('accepts the shortest complete frame (the padding is optional)', () => {
    const frame = encodeProbeDatagram(probe, { vni: VNI, dstMac: DST, srcMac: SRC }).subarray(VXLAN_HEADER);
    expect(decodeProbeFrame(frame.subarray(0, ETH_HEADER + 49)).ok).toBe(true);
    expect(ETH_HEADER + 49).toBe(MIN_PROBE_FRAME);
  });

  it('never throws on random frames and gives a reason when it rejects', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 140 }), fc.boolean(), (bytes, asProbe) => {
        const b = Buffer.from(bytes);
        if (asProbe && b.length >= 19) {
          b.writeUInt16BE(PROBE_ETHERTYPE, 12);
          b.write('WFTP', 14, 'latin1');
          b[18] = 0x20 | (b[18]! & 0x0f);
        }
        const d = decodeProbeFrame(b);
        if (!d.ok) expect(d.reason).not.toBe('');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws decapsulating random datagrams', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(0xffffff), (bytes, vni) => {
        const f = decapsulate(Buffer.from(bytes), vni);
        if (f !== undefined) expect(f.length).toBe(bytes.length - VXLAN_HEADER);
      }),
      { numRuns: 2000 },
    );
  });
});
