import { describe, expect, it } from 'vitest';
import { SHORT_ID_SPACE, ShortIdIndex } from './short-ids.js';

describe('ShortIdIndex', () => {
  it('gives a contested ID to the lowest name and hands it on when that one leaves', () => {
    const ix = new ShortIdIndex();
    ix.add(7, 30n);
    ix.add(7, 10n);
    ix.add(7, 20n);
    expect(ix.owner(7)).toBe(10n);
    ix.remove(7, 10n);
    expect(ix.owner(7)).toBe(20n);
    ix.remove(7, 20n);
    ix.remove(7, 30n);
    expect(ix.owner(7)).toBeUndefined();
  });

  it('guesses at random first', () => {
    const ix = new ShortIdIndex();
    ix.add(0, 1n);
    const seq = [0, 0.5];
    expect(ix.chooseFree(() => seq.shift()!)).toBe(SHORT_ID_SPACE / 2);
  });

  it('after ten taken guesses picks uniformly among the free IDs', () => {
    const ix = new ShortIdIndex();
    for (let id = 0; id < SHORT_ID_SPACE; id++) if (![5, 900, 4000].includes(id)) ix.add(id, BigInt(id));
    let calls = 0;
    const lowThenHigh = (high: number) => () => (++calls <= 10 ? 0 : high);
    expect(ix.chooseFree(lowThenHigh(0))).toBe(5);
    expect(calls).toBe(11);
    calls = 0;
    expect(ix.chooseFree(lowThenHigh(0.5))).toBe(900);
    calls = 0;
    expect(ix.chooseFree(lowThenHigh(0.9999))).toBe(4000);
    ix.add(5, 1n);
    ix.add(900, 1n);
    ix.add(4000, 1n);
    expect(ix.chooseFree(Math.random)).toBeUndefined();
  });
});
