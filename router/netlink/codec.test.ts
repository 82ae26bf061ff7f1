import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeAttrs, parseAttrs, str, u32, nested, type Attr } from './attrs.js';
import { encodeMessage, parseDone, parseError, parseMessages } from './codec.js';
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI } from './constants.js';

const hex = (b: Buffer): string => b.toString('hex');

/** struct nlmsgerr as the kernel writes it: -errno, the request's header (+ payload unless capped), ext-ack TLVs. */
function nlmsgerr(errno: number, request: Buffer, opts: { capped: boolean; msg?: string }): { payload: Buffer; flags: number } {
  const head = Buffer.alloc(4);
  head.writeInt32LE(-errno);
  const echoed = opts.capped ? request.subarray(0, 16) : request;
  const tlvs = opts.msg === undefined ? Buffer.alloc(0) : encodeAttrs([str(1 /* NLMSGERR_ATTR_MSG */, opts.msg)]);
  const flags = (opts.capped ? NLM_F_CAPPED : 0) | (opts.msg === undefined ? 0 : NLM_F_ACK_TLVS);
  return { payload: Buffer.concat([head, echoed, tlvs]), flags };
}

describe('netlink message framing', () => {
  it('writes nlmsghdr in host order and pads the payload to 4 bytes', () => {
    const m = encodeMessage({ type: 28, flags: 0x0605, seq: 0x01020304, payload: Buffer.from([0xaa, 0xbb, 0xcc]) });
    // len=19 | type=28 | flags | seq | port 0 | payload + 1 byte padding
    expect(hex(m)).toBe('13000000' + '1c00' + '0506' + '04030201' + '00000000' + 'aabbcc00');
  });

  it('splits a datagram into padded messages', () => {
    const a = encodeMessage({ type: 16, flags: NLM_F_MULTI, seq: 7, port: 99, payload: Buffer.from([1, 2, 3, 4, 5]) });
    const b = encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 7, payload: Buffer.alloc(4) });
    const r = parseMessages(Buffer.concat([a, b]));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.map((m) => [m.type, m.seq, m.port, hex(m.payload)])).toEqual([[16, 7, 99, '0102030405'], [NLMSG_DONE, 7, 0, '00000000']]);
  });

  it('rejects truncated and undersized messages with a reason', () => {
    const m = encodeMessage({ type: 16, flags: 0, seq: 1, payload: Buffer.alloc(8) });
    expect(parseMessages(m.subarray(0, 10))).toMatchObject({ ok: false });
    expect(parseMessages(m.subarray(0, 20))).toMatchObject({ ok: false, reason: expect.stringMatching(/runs past/) });
    const short = Buffer.from(m);
    short.writeUInt32LE(8, 0);
    expect(parseMessages(short)).toMatchObject({ ok: false, reason: expect.stringMatching(/< 16/) });
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 0xffff }), (bytes, flags) => {
        const b = Buffer.from(bytes);
        parseMessages(b);
        parseError(b, flags);
        parseDone(b, flags);
        parseAttrs(b);
      }),
    );
  });
});

describe('NLMSG_ERROR and NLMSG_DONE', () => {
  const request = encodeMessage({ type: 28, flags: 0x605, seq: 9, payload: Buffer.alloc(12, 0x11) });

  it('reads an ACK (error 0, capped)', () => {
    const { payload, flags } = nlmsgerr(0, request, { capped: true });
    expect(parseError(payload, flags)).toEqual({ ok: true, value: { errno: 0 } });
  });

  it('reads errno and the extended-ack text after the echoed request', () => {
    for (const capped of [true, false]) {
      const { payload, flags } = nlmsgerr(17, request, { capped, msg: 'FDB entry already exists' });
      expect(parseError(payload, flags)).toEqual({ ok: true, value: { errno: 17, message: 'FDB entry already exists' } });
    }
  });

  it('reads an error without ext-ack', () => {
    const { payload, flags } = nlmsgerr(19, request, { capped: false });
    expect(parseError(payload, flags)).toEqual({ ok: true, value: { errno: 19 } });
  });

  it('refuses a short or positive error', () => {
    expect(parseError(Buffer.alloc(2), 0).ok).toBe(false);
    const b = Buffer.alloc(4);
    b.writeInt32LE(5);
    expect(parseError(b, 0).ok).toBe(false);
  });

  it('reads the status of NLMSG_DONE', () => {
    const b = Buffer.alloc(4);
    expect(parseDone(b, 0)).toEqual({ errno: 0 });
    b.writeInt32LE(-16);
    expect(parseDone(Buffer.concat([b, encodeAttrs([str(1, 'busy')])]), NLM_F_ACK_TLVS)).toEqual({ errno: 16, message: 'busy' });
    expect(NLMSG_ERROR).toBe(2);
  });
});

describe('attributes', () => {
  it('pads values, sets NLA_F_NESTED on nests, and parses them back', () => {
    const b = encodeAttrs([str(3, 'weft'), nested(18, [str(1, 'vxlan'), u32(2, 7)])]);
    // IFLA_IFNAME "weft\0" (len 9, padded to 12) | IFLA_LINKINFO|NESTED (len 4+12+8) { KIND "vxlan\0" | u32 }
    expect(hex(b)).toBe('09000300' + '7765667400000000' + '18001280' + '0a000100' + '7678' + '6c616e000000' + '08000200' + '07000000');
    const top = parseAttrs(b);
    expect(top.ok && top.value.get(3)?.toString()).toBe('weft\0');
    expect(top.ok && top.value.get(18)?.length).toBe(20);
  });

  it('round-trips arbitrary attribute lists', () => {
    const attr: fc.Arbitrary<Attr> = fc.record({ type: fc.integer({ min: 1, max: 0x3fff }), value: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)) });
    fc.assert(
      fc.property(fc.uniqueArray(attr, { selector: (a) => a.type, maxLength: 8 }), (attrs) => {
        const r = parseAttrs(encodeAttrs(attrs));
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect([...r.value.entries()].map(([t, v]) => [t, hex(v)])).toEqual(attrs.map((a) => [a.type, hex(a.value as Buffer)]));
      }),
    );
  });

  it('rejects an attribute that runs past its container', () => {
    const b = encodeAttrs([u32(1, 5)]);
    b.writeUInt16LE(12, 0);
    expect(parseAttrs(b)).toMatchObject({ ok: false, reason: expect.stringMatching(/runs past/) });
  });
});
