import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { donation, formatIp, formatRange, freeBlocks, largestAligned, lowerBound, parseCidr, parseIp, size } from './space.js';

describe('addresses and ranges', () => {
  it('parses and formats dotted IPv4', () => {
    expect(parseIp('10.32.0.1')).toBe(0x0a200001);
    expect(formatIp(0xffffffff)).toBe('255.255.255.255');
    for (const bad of ['10.32.0', '10.32.0.256', '1.2.3.4.5', 'a.b.c.d', '1.2.3.-4', '']) expect(parseIp(bad)).toBeUndefined();
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => parseIp(formatIp(n)) === n));
  });

  it('parses CIDR blocks and formats aligned blocks as CIDR', () => {
    expect(parseCidr('10.32.0.0/12')).toEqual({ start: 0x0a200000, end: 0x0a300000 });
    expect(parseCidr('10.32.0.1/12')).toBeUndefined();
    expect(parseCidr('0.0.0.0/0')).toEqual({ start: 0, end: 2 ** 32 });
    expect(formatRange({ start: 0x0a200000, end: 0x0a300000 })).toBe('10.32.0.0/12');
    expect(formatRange({ start: 0x0a200001, end: 0x0a200003 })).toBe('10.32.0.1-10.32.0.2');
  });
});

describe('free space', () => {
  it('cuts taken addresses and excluded ranges out of owned ranges', () => {
    const owned = [{ start: 0, end: 10 }, { start: 20, end: 30 }];
    expect(freeBlocks(owned, [0, 1, 5, 5, 25], [{ start: 8, end: 22 }])).toEqual([
      { start: 2, end: 5 },
      { start: 6, end: 8 },
      { start: 22, end: 25 },
      { start: 26, end: 30 },
    ]);
    expect(freeBlocks(owned, [], [])).toEqual(owned);
  });

  it('free blocks hold exactly the owned addresses that are neither taken nor excluded', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 63 })), fc.uniqueArray(fc.integer({ min: 0, max: 63 })), fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 8 })), { maxLength: 3 }), (ownedSet, taken, ex) => {
        const sorted = [...ownedSet].sort((a, b) => a - b);
        const owned = sorted.map((a) => ({ start: a, end: a + 1 }));
        const excluded = ex.map(([s, n]) => ({ start: s, end: s + n }));
        const blocks = freeBlocks(owned, [...taken].sort((a, b) => a - b), excluded);
        const got = blocks.flatMap((b) => Array.from({ length: b.end - b.start }, (_, i) => b.start + i));
        const want = sorted.filter((a) => !taken.includes(a) && !excluded.some((e) => a >= e.start && a < e.end));
        expect(got).toEqual(want);
      }),
    );
  });

  it('donates the upper half of the largest aligned free block', () => {
    expect(largestAligned({ start: 3, end: 17 })).toEqual({ start: 8, end: 16 });
    expect(donation([{ start: 3, end: 17 }, { start: 40, end: 44 }])).toEqual({ start: 12, end: 16 });
    expect(donation([{ start: 7, end: 8 }])).toEqual({ start: 7, end: 8 });
    expect(donation([])).toBeUndefined();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (s, n) => {
        const d = donation([{ start: s, end: s + n }])!;
        const k = d.end - d.start;
        expect(d.start).toBeGreaterThanOrEqual(s);
        expect(d.end).toBeLessThanOrEqual(s + n);
        expect(d.start % k).toBe(0);
        expect(size([d])).toBe(k);
      }),
    );
  });

  it('finds insertion points', () => {
    expect(lowerBound([1, 3, 5], 3)).toBe(1);
    expect(lowerBound([1, 3, 5], 6)).toBe(3);
    expect(lowerBound([], 6)).toBe(0);
  });
});
