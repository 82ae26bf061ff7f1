// decodeNeigh reads attributes in one pass without a map (a dump of 100,000 entries decodes
// 100,000 of them); it must say exactly what the map-based reading says, on valid messages and on
// any bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatMac } from './address-text.js';
import { getU32, parseAttrs, bytes, u32 } from './attrs.js';
import { NDA_CACHEINFO, NDA_DST, NDA_LLADDR, NDA_MASTER, NDA_VNI, NDMSG_LEN } from './constants.js';
import { decodeNeigh, ndmsg, neighUsedAgoMs, type NeighMessage } from './messages.js';
import type { Result } from '../../lib/result.js';

/** The map-based reading decodeNeigh replaced. */
function reference(payload: Buffer): Result<NeighMessage> {
  if (payload.length < NDMSG_LEN) return { ok: false, reason: `ndmsg: ${payload.length} bytes, header needs ${NDMSG_LEN}` };
  const a = parseAttrs(payload.subarray(NDMSG_LEN));
  if (!a.ok) return { ok: false, reason: `ndmsg: ${a.reason}` };
  const m = a.value;
  const n: NeighMessage = { family: payload[0]!, ifindex: payload.readInt32LE(4), state: payload.readUInt16LE(8), flags: payload[10]! };
  const dst = formatIpv4(m.get(NDA_DST));
  if (dst !== undefined) n.dst = dst;
  const ll = m.get(NDA_LLADDR);
  if (ll) n.lladdr = formatMac(ll);
  const vni = getU32(m, NDA_VNI);
  if (vni !== undefined) n.vni = vni;
  const master = getU32(m, NDA_MASTER);
  if (master !== undefined) n.master = master;
  const ci = m.get(NDA_CACHEINFO);
  if (ci && ci.length >= 12) {
    n.usedAgoMs = ci.readUInt32LE(4) * 10;
    n.updatedAgoMs = ci.readUInt32LE(8) * 10;
  }
  return { ok: true, value: n };
}

const entry = fc.record({
  mac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  dst: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  vni: fc.option(fc.nat()),
  used: fc.nat({ max: 2 ** 32 - 1 }),
  updated: fc.nat({ max: 2 ** 32 - 1 }),
  ifindex: fc.nat(),
});

describe('decodeNeigh', () => {
  it('reads valid FDB messages as the map-based decoder does, and neighUsedAgoMs agrees', () => {
    fc.assert(
      fc.property(entry, (e) => {
        const ci = Buffer.alloc(16);
        ci.writeUInt32LE(e.used, 4);
        ci.writeUInt32LE(e.updated, 8);
        const attrs = [bytes(NDA_LLADDR, Buffer.from(e.mac)), bytes(NDA_DST, Buffer.from(e.dst)), bytes(NDA_CACHEINFO, ci)];
        if (e.vni !== null) attrs.push(u32(NDA_VNI, e.vni));
        const p = ndmsg({ family: 7, ifindex: e.ifindex, state: 0x80, flags: 2 }, attrs);
        const d = decodeNeigh(p);
        expect(d).toEqual(reference(p));
        expect(d.ok && d.value.usedAgoMs).toBe(e.used * 10);
        expect(neighUsedAgoMs(p)).toBe(e.used * 10);
      }),
    );
  });

  it('says what the map-based decoder says about any attribute sequence, duplicates, bad lengths and trailing bytes included', () => {
    const attr = fc.record({ type: fc.constantFrom(NDA_DST, NDA_LLADDR, NDA_CACHEINFO, NDA_VNI, NDA_MASTER, 5, 0x8001), body: fc.uint8Array({ maxLength: 20 }), lie: fc.integer({ min: -6, max: 6 }), pad: fc.boolean() });
    fc.assert(
      fc.property(fc.array(attr, { maxLength: 6 }), fc.uint8Array({ maxLength: 3 }), (attrs, tail) => {
        const parts: Buffer[] = [Buffer.alloc(NDMSG_LEN, 7)];
        for (const a of attrs) {
          const h = Buffer.alloc(4);
          h.writeUInt16LE(Math.max(0, 4 + a.body.length + (a.lie % 3 === 0 ? a.lie : 0)));
          h.writeUInt16LE(a.type, 2);
          parts.push(h, Buffer.from(a.body), Buffer.alloc(a.pad ? (4 - (a.body.length % 4)) % 4 : 0));
        }
        parts.push(Buffer.from(tail));
        const p = Buffer.concat(parts);
        expect(decodeNeigh(p)).toEqual(reference(p));
      }),
      { numRuns: 3000 },
    );
  });

  it('says what the map-based decoder says about any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (raw) => {
        const p = Buffer.from(raw);
        expect(decodeNeigh(p)).toEqual(reference(p));
      }),
      { numRuns: 3000 },
    );
  });
});
