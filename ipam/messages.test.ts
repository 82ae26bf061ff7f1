import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DENY_REASONS, decodeMessage, encodeMessage, type IpamMessage } from './messages.js';

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const range = fc.tuple(u32, fc.integer({ min: 1, max: 2 ** 20 })).filter(([s, n]) => s + n <= 2 ** 32).map(([s, n]) => ({ start: s, end: s + n }));
const message: fc.Arbitrary<IpamMessage> = fc.oneof(
  bytes.map((ring) => ({ type: 'ring-full' as const, ring })),
  bytes.map((ring) => ({ type: 'ring-delta' as const, ring })),
  fc.constant({ type: 'ring-request' as const }),
  fc.tuple(u32, fc.option(range, { nil: undefined })).map(([id, want]) => (want ? { type: 'space-request' as const, id, want } : { type: 'space-request' as const, id })),
  fc.tuple(u32, bytes).map(([id, ring]) => ({ type: 'space-grant' as const, id, ring })),
  fc.tuple(u32, fc.constantFrom(...DENY_REASONS)).map(([id, reason]) => ({ type: 'space-denied' as const, id, reason })),
  bytes.map((payload) => ({ type: 'consensus' as const, payload })),
  bytes.map((used) => ({ type: 'used' as const, used })),
  fc.tuple(bytes, bytes).map(([ring, used]) => ({ type: 'full' as const, ring, used })),
);

describe('ipam messages', () => {
  it('decode(encode(m)) = m', () => {
    fc.assert(
      fc.property(message, (m) => {
        const d = decodeMessage(encodeMessage(m));
        expect(d).toEqual({ ok: true, value: m });
      }),
    );
  });

  it('a range reaching the top of the address space round-trips', () => {
    const m: IpamMessage = { type: 'space-request', id: 7, want: { start: 2 ** 32 - 1, end: 2 ** 32 } };
    expect(decodeMessage(encodeMessage(m))).toEqual({ ok: true, value: m });
  });

  it('never throws on random bytes, and rejects what it does not know', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (a) => void decodeMessage(Buffer.from(a))));
    expect(decodeMessage(Buffer.from([]))).toMatchObject({ ok: false });
    expect(decodeMessage(Buffer.from([2, 1]))).toMatchObject({ ok: false, reason: expect.stringContaining('format') });
    expect(decodeMessage(Buffer.from([1, 99]))).toMatchObject({ ok: false, reason: expect.stringContaining('type') });
    expect(decodeMessage(Buffer.from([1, 4, 0, 0, 0, 1, 1, 0, 0]))).toMatchObject({ ok: false });
    expect(decodeMessage(Buffer.from([1, 6, 0, 0, 0, 1, 200]))).toMatchObject({ ok: false, reason: expect.stringContaining('deny') });
  });
});
