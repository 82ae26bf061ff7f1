// frameParts: the pieces a message is written in. Together they must be the frame that
// frame(message(tag, payload)) makes, plain or sealed, large or small.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TcpOpener, TcpSealer } from '../crypto/session.js';
import { Framer } from './framing.js';
import { message, Tag } from './protocol.js';

describe('Framer.frameParts', () => {
  it('is frame(message(...)) in pieces: a large plain payload follows its 5-byte head uncopied', () => {
    const f = new Framer();
    for (const n of [0, 1, 1023, 1024, 40_000]) {
      const payload = randomBytes(n);
      const parts = f.frameParts(Tag.Gossip, payload);
      expect(Buffer.concat(parts)).toEqual(f.frame(message(Tag.Gossip, payload)));
      if (n >= 1024) {
        expect(parts).toHaveLength(2);
        expect(parts[1]).toBe(payload);
      } else expect(parts).toHaveLength(1);
    }
    expect(Buffer.concat(f.frameParts(Tag.Heartbeat, undefined))).toEqual(f.frame(message(Tag.Heartbeat)));
  });

  it('seals every message whole when the connection is encrypted', () => {
    const key = randomBytes(32);
    const payload = randomBytes(5000);
    const parts = new Framer(new TcpSealer(key, true)).frameParts(Tag.Gossip, payload);
    expect(parts).toHaveLength(1);
    const sealed = Buffer.from(parts[0]!);
    expect(sealed.readUInt32BE(0)).toBe(sealed.length - 4);
    expect(new TcpOpener(key, false).open(sealed.subarray(4))).toEqual(message(Tag.Gossip, payload));
  });

  it('refuses a plain payload over the frame limit, counting the tag', () => {
    expect(() => new Framer(undefined, undefined, 2048).frameParts(Tag.Gossip, Buffer.alloc(2048))).toThrow(/exceeds maximum size: 2049 > 2048/);
  });
});
