import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WeftError } from '../lib/errors.js';
import { decodeRing, encodeRing, RING_FORMAT } from './ring-codec.js';
import { Ring } from './ring.js';
import type { RingState } from './types.js';

const u32 = fc.nat({ max: 0xffff_ffff });
const stateArb: fc.Arbitrary<RingState> = fc
  .record({
    a: u32,
    b: u32,
    genesis: fc.stringMatching(/^[\x20-\x7e]{0,255}$/),
    entries: fc.array(
      fc.record({
        token: u32,
        owner: fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
        version: u32,
        free: u32,
      }),
      { maxLength: 50 },
    ),
  })
  .filter(({ a, b }) => a !== b)
  .map(({ a, b, genesis, entries }) => ({ start: Math.min(a, b), end: Math.max(a, b), genesis, entries }));

describe('ring codec', () => {
  it('decodes what it encodes', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        expect(decodeRing(encodeRing(s))).toEqual({ ok: true, value: s });
      }),
    );
  });

  it('carries a real ring through to an equal ring', () => {
    const r = Ring.seed({ start: 0x0a200000, end: 0x0a300000 }, [3n, 1n, 2n]);
    r.give(1n, { start: 0x0a220000, end: 0x0a230000 }, 0xfeedn);
    const d = decodeRing(encodeRing(r.state()));
    expect(d.ok).toBe(true);
    if (d.ok) expect(Ring.fromState(d.value).entries()).toEqual(r.entries());
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const d = decodeRing(Buffer.from(bytes));
        if (!d.ok) expect(typeof d.reason).toBe('string');
      }),
    );
  });

  it('rejects every truncation and any trailing byte', () => {
    fc.assert(
      fc.property(stateArb, fc.nat(), (s, cut) => {
        const b = encodeRing(s);
        expect(decodeRing(b.subarray(0, cut % b.length)).ok).toBe(false);
        expect(decodeRing(Buffer.concat([b, Buffer.from([0])])).ok).toBe(false);
      }),
    );
  });

  it('says why', () => {
    const good = encodeRing({ start: 1, end: 9, genesis: 'g', entries: [{ token: 1, owner: 7n, version: 1, free: 8 }] });
    const bad = (mutate: (b: Buffer) => void): string => {
      const b = Buffer.from(good);
      mutate(b);
      const d = decodeRing(b);
      return d.ok ? 'ok' : d.reason;
    };
    expect(bad((b) => b.writeUInt8(RING_FORMAT + 1, 0))).toMatch(/format/);
    expect(bad((b) => b.writeUInt32BE(9, 1))).toMatch(/empty ring range/);
    expect(bad((b) => b.writeUInt8(0x07, 10))).toMatch(/printable/);
    expect(bad((b) => b.writeUInt32BE(2, 11))).toMatch(/needs 36 bytes, has 18/);
    expect(bad((b) => b.writeUInt32BE(0xffff_ffff, 11))).toMatch(/needs/);
    expect(decodeRing(Buffer.alloc(3))).toMatchObject({ ok: false, reason: expect.stringMatching(/too short/) });
    expect(bad(() => undefined)).toBe('ok');
  });

  it('refuses to encode what does not fit', () => {
    expect(() => encodeRing({ start: 0, end: 1, genesis: 'x'.repeat(256), entries: [] })).toThrow(WeftError);
    expect(() => encodeRing({ start: 0, end: 1, genesis: 'é', entries: [] })).toThrow(WeftError);
    expect(() => encodeRing({ start: 0, end: 2 ** 32, genesis: '', entries: [] })).toThrow(WeftError);
    expect(() => encodeRing({ start: 0, end: 1, genesis: '', entries: [{ token: 0, owner: 1n, version: -1, free: 0 }] })).toThrow(WeftError);
  });
});
