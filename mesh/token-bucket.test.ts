import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { TokenBucket } from './token-bucket.js';

describe('accept token bucket', () => {
  it('allows a burst, then spaces callers one slot apart', () => {
    const clock = new ManualClock();
    const b = new TokenBucket(clock, 20, 50);
    const waits = Array.from({ length: 23 }, () => b.take());
    expect(waits.slice(0, 20)).toEqual(Array(20).fill(0));
    expect(waits.slice(20)).toEqual([50, 100, 150]);
  });

  it('refills with time up to the burst size', () => {
    const clock = new ManualClock();
    const b = new TokenBucket(clock, 2, 50);
    b.take();
    b.take();
    expect(b.take()).toBe(50);
    clock.advance(10_000);
    expect([b.take(), b.take(), b.take()]).toEqual([0, 0, 50]);
  });
});
