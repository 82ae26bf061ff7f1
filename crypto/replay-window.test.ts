import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayWindow } from './replay-window.js';

describe('ReplayWindow', () => {
  it('accepts increasing numbers, rejects repeats, and 0', () => {
    const w = new ReplayWindow(64);
    expect(w.check(0)).toBe('too-old');
    for (const s of [1, 2, 5]) {
      expect(w.check(s)).toBe('fresh');
      w.accept(s);
    }
    expect(w.check(5)).toBe('replay');
    expect(w.check(2)).toBe('replay');
    expect(w.check(3)).toBe('fresh');
    expect(w.highest).toBe(5);
  });

  it('takes late packets inside the window and refuses those behind it', () => {
    const w = new ReplayWindow(64);
    w.accept(100);
    expect(w.check(37)).toBe('fresh'); // 100 - 37 = 63 < 64
    expect(w.check(36)).toBe('too-old');
    w.accept(37);
    expect(w.check(37)).toBe('replay');
  });

  it('check() changes nothing; only accept() moves the window', () => {
    const w = new ReplayWindow(64);
    w.accept(10);
    expect(w.check(1000)).toBe('fresh');
    expect(w.highest).toBe(10);
    expect(w.check(9)).toBe('fresh');
  });

  it('forgets old bits when it slides, also by more than its size', () => {
    const w = new ReplayWindow(32);
    w.accept(1);
    w.accept(33); // slot of 1 is reused by 33
    expect(w.check(1)).toBe('too-old');
    expect(w.check(2)).toBe('fresh');
    w.accept(500);
    expect(w.check(499)).toBe('fresh');
    expect(w.check(500)).toBe('replay');
  });

  it('handles the top of the 32-bit range', () => {
    const w = new ReplayWindow();
    w.accept(0xffff_fffe);
    expect(w.check(0xffff_ffff)).toBe('fresh');
    w.accept(0xffff_ffff);
    expect(w.check(0xffff_ffff)).toBe('replay');
    expect(w.check(0xffff_fffe)).toBe('replay');
    expect(w.check(0xffff_fffd)).toBe('fresh');
  });

  it('rejects sizes that are not multiples of 32', () => {
    expect(() => new ReplayWindow(100)).toThrow(RangeError);
  });

  it('agrees with a set-based model on random traffic', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 300 }), (seqs) => {
        const size = 64;
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let top = 0;
        for (const s of seqs) {
          const expected = s > top ? 'fresh' : s === 0 || top - s >= size ? 'too-old' : seen.has(s) ? 'replay' : 'fresh';
          expect(w.check(s)).toBe(expected);
          if (expected === 'fresh') {
            w.accept(s);
            seen.add(s);
            top = Math.max(top, s);
          }
        }
      }),
    );
  });
});
