import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatPeerName, parsePeerName, peerNameFromBytes, peerNameToBytes, randomPeerName } from './peer-name.js';

describe('peer names', () => {
  it('round-trips text and bytes', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }), (n) => {
        expect(parsePeerName(formatPeerName(n))).toBe(n);
        expect(peerNameFromBytes(peerNameToBytes(n))).toBe(n);
      }),
    );
  });

  it('accepts :: abbreviations like mesh', () => {
    expect(parsePeerName('::1')).toBe(1n);
    expect(parsePeerName('aa::')).toBe(0xaa0000000000n);
    expect(parsePeerName('00:00:00:00:00:0a')).toBe(10n);
    expect(parsePeerName('a:b::c')).toBe(0x0a0b0000000cn);
  });

  it('rejects malformed names', () => {
    for (const bad of ['', 'x', '1:2:3:4:5', '1:2:3:4:5:6:7', '::1::', 'gg:00:00:00:00:00', '100:0:0:0:0:0']) {
      expect(parsePeerName(bad)).toBeUndefined();
    }
  });

  it('makes locally administered unicast names', () => {
    const n = randomPeerName();
    const first = Number(n >> 40n);
    expect(first & 1).toBe(0);
    expect(first & 2).toBe(2);
  });
});
