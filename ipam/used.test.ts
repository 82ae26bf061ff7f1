import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeUsed, encodeUsed } from './used-codec.js';
import { compareRecords, fromRuns, toRuns, UsedRecords, type UsedRecord } from './used.js';
import { TAKEOVER_BUMP } from './types.js';

const A = 0x02_00_00_00_00_01n;
const B = 0x02_00_00_00_00_02n;
const owner = fc.constantFrom(A, B, 0x02_00_00_00_00_03n);
const addrs = fc.uniqueArray(fc.integer({ min: 0x0a000000, max: 0x0a0000ff }), { maxLength: 20 }).map((xs) => xs.sort((a, b) => a - b));
const record: fc.Arbitrary<UsedRecord> = fc
  .tuple(owner, fc.integer({ min: 1, max: 2 ** 31 }), fc.boolean(), addrs)
  .map(([o, version, gone, used]) => ({ owner: o, version, gone, used: gone ? [] : used }));

const state = (r: UsedRecords): string =>
  JSON.stringify(
    r.all().sort((a, b) => (a.owner < b.owner ? -1 : 1)),
    (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v),
  );

describe('used-address records', () => {
  it('merge is commutative, associative and idempotent', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), fc.array(record, { maxLength: 8 }), fc.array(record, { maxLength: 8 }), (x, y, z) => {
        const ab = new UsedRecords();
        ab.merge(x);
        ab.merge(y);
        ab.merge(z);
        const ba = new UsedRecords();
        ba.merge(z);
        ba.merge(y);
        ba.merge(x);
        ba.merge(x);
        expect(state(ab)).toBe(state(ba));
      }),
    );
  });

  it('the owner bumps its version on change and above a greater record it hears (a tombstone, or a lost store)', () => {
    const r = new UsedRecords();
    expect(r.setOwn(A, [3, 1])).toMatchObject({ version: 1, used: [1, 3] });
    expect(r.setOwn(A, [1, 3])).toBeUndefined();
    r.merge([{ owner: A, version: 9, gone: false, used: [7] }]);
    expect(r.setOwn(A, [1, 3])).toMatchObject({ version: 10, used: [1, 3] });
    const t = r.tombstone(A);
    expect(t).toMatchObject({ version: 10 + TAKEOVER_BUMP, gone: true, used: [] });
    expect(r.setOwn(A, [1, 3])).toMatchObject({ version: 11 + TAKEOVER_BUMP, gone: false });
  });

  it('usedByOthers leaves out self and gone peers; holdersOf finds who holds an address', () => {
    const r = new UsedRecords();
    r.merge([
      { owner: A, version: 1, gone: false, used: [5, 6] },
      { owner: B, version: 1, gone: false, used: [6, 9] },
      { owner: 0x02_00_00_00_00_03n, version: 4, gone: true, used: [] },
    ]);
    expect(r.usedByOthers(A)).toEqual([6, 9]);
    expect(r.usedByOthers(B)).toEqual([5, 6]);
    expect(r.holdersOf(6, A)).toEqual([B]);
    r.tombstone(B);
    expect(r.usedByOthers(A)).toEqual([]);
  });

  it('a greater record wins by version, then gone, then content', () => {
    expect(compareRecords({ owner: A, version: 2, gone: false, used: [] }, { owner: A, version: 1, gone: true, used: [1] })).toBe(1);
    expect(compareRecords({ owner: A, version: 2, gone: true, used: [] }, { owner: A, version: 2, gone: false, used: [1] })).toBe(1);
  });

  it('runs round-trip', () => {
    fc.assert(
      fc.property(addrs, (xs) => {
        expect(fromRuns(toRuns(xs))).toEqual(xs);
      }),
    );
    expect(toRuns([1, 2, 3, 7, 8])).toEqual([
      [1, 3],
      [7, 2],
    ]);
  });

  it('codec: decode(encode(x)) = x, random bytes never throw', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 6 }), (rs) => {
        expect(decodeUsed(encodeUsed(rs))).toEqual({ ok: true, value: rs });
      }),
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (a) => void decodeUsed(Buffer.from(a))));
    const huge = Buffer.alloc(4 + 15 + 8);
    huge.writeUInt32BE(1, 0);
    huge.writeUIntBE(Number(A), 4, 6);
    huge.writeUInt32BE(1, 14);
    huge.writeUInt32BE(1, 15);
    huge.writeUInt32BE(0, 19);
    huge.writeUInt32BE(2 ** 31, 23);
    expect(decodeUsed(huge)).toMatchObject({ ok: false, reason: expect.stringContaining('too many') });
  });

  it('size at 1,000 peers with 100 containers each: 23 KB contiguous (lowest-free), ~100 KB when every set has ten holes', () => {
    const peer = (i: number, holes: number): UsedRecord => ({
      owner: 0x02_00_00_00_00_00n + BigInt(i + 1),
      version: 5,
      gone: false,
      used: Array.from({ length: 100 + holes }, (_x, k) => 0x0a000000 + i * 1024 + k).filter((_a, k) => holes === 0 || k % 11 !== 10),
    });
    expect(encodeUsed(Array.from({ length: 1000 }, (_x, i) => peer(i, 0))).length).toBe(4 + 1000 * (15 + 8));
    expect(encodeUsed(Array.from({ length: 1000 }, (_x, i) => peer(i, 10))).length).toBeLessThan(110_000);
  });
});
