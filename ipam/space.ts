// Free-space arithmetic over IPv4 addresses held as unsigned 32-bit numbers: parsing, CIDR
// formatting, and finding free addresses and blocks in the ranges a peer owns.
import type { Range } from './types.js';
import { parseIpv4, parseNetwork } from '../lib/ip.js';

/** "10.32.0.5" → 0x0a200005, read by the one address parser (lib/ip.ts); undefined if it is not one. */
export function parseIp(text: string): number | undefined {
  const r = parseIpv4(text);
  return r.ok ? r.value : undefined;
}

export function formatIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** "10.32.0.0/12" → [10.32.0.0, 10.48.0.0). The address must be the first of its block. */
export function parseCidr(text: string): Range | undefined {
  const r = parseNetwork(text);
  if (!r.ok) return undefined;
  return { start: r.value.ip, end: r.value.ip + 2 ** (32 - r.value.prefix) };
}

/** CIDR when the range is one aligned block, else "first-last". */
export function formatRange(r: Range): string {
  const size = r.end - r.start;
  if (size > 0 && Number.isInteger(Math.log2(size)) && r.start % size === 0) return `${formatIp(r.start)}/${32 - Math.log2(size)}`;
  return `${formatIp(r.start)}-${formatIp(r.end - 1)}`;
}

export function size(ranges: readonly Range[]): number {
  let n = 0;
  for (const r of ranges) n += r.end - r.start;
  return n;
}

export function contains(ranges: readonly Range[], addr: number): boolean {
  return ranges.some((r) => addr >= r.start && addr < r.end);
}

/**
 * The free blocks of `owned` (sorted, disjoint): every address not in `taken` (sorted ascending,
 * duplicates allowed) and not inside one of the `excluded` ranges.
 */
export function freeBlocks(owned: readonly Range[], taken: readonly number[], excluded: readonly Range[] = []): Range[] {
  const cuts: Range[] = [...taken.map((a) => ({ start: a, end: a + 1 })), ...excluded].sort((a, b) => a.start - b.start);
  const out: Range[] = [];
  for (const r of owned) {
    let cur = r.start;
    for (const c of cuts) {
      if (c.end <= cur) continue;
      if (c.start >= r.end) break;
      if (c.start > cur) out.push({ start: cur, end: c.start });
      cur = Math.max(cur, c.end);
      if (cur >= r.end) break;
    }
    if (cur < r.end) out.push({ start: cur, end: r.end });
  }
  return out;
}

/**
 * What a donor gives from its free blocks: the upper half of the largest CIDR-aligned block
 * inside the largest free block (the whole block when it is a single address). Undefined if
 * there is nothing free.
 */
export function donation(free: readonly Range[]): Range | undefined {
  let best: Range | undefined;
  for (const r of free) {
    const a = largestAligned(r);
    if (!best || a.end - a.start > best.end - best.start) best = a;
  }
  if (!best) return undefined;
  const n = best.end - best.start;
  if (n === 1) return best;
  return { start: best.start + n / 2, end: best.end };
}

/** The largest CIDR-aligned block inside r (the lowest one among equals). */
export function largestAligned(r: Range): Range {
  let best: Range = { start: r.start, end: r.start + 1 };
  let cur = r.start;
  while (cur < r.end) {
    let n = 1;
    while (cur % (n * 2) === 0 && cur + n * 2 <= r.end) n *= 2;
    if (n > best.end - best.start) best = { start: cur, end: cur + n };
    cur += n;
  }
  return best;
}

/** Insertion point of addr in a sorted array (first index with value >= addr). */
export function lowerBound(sorted: readonly number[], addr: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
