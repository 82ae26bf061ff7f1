import { describe, expect, it } from 'vitest';
import { quorumFor } from './ipam.js';

describe('quorumFor', () => {
  it('takes N/2+1 from consensus=N, else counts the launch peers and this one, as Weave does', () => {
    expect(quorumFor({ ipallocInit: { mode: 'consensus', peers: 5 }, peers: [] })).toBe(3);
    expect(quorumFor({ ipallocInit: { mode: 'consensus', peers: 1 }, peers: ['a', 'b'] })).toBe(1);
    expect(quorumFor({ ipallocInit: undefined, peers: [] })).toBe(1);
    expect(quorumFor({ ipallocInit: undefined, peers: ['198.18.0.1'] })).toBe(2);
    expect(quorumFor({ ipallocInit: { mode: 'consensus' }, peers: ['a', 'b', 'c'] })).toBe(3);
  });
});
