import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import sodiumModule from 'sodium-native';
import { describe, expect, it } from 'vitest';
import {
  ESP_MIN_BYTES,
  ESP_PAYLOAD_OFFSET,
  espPadLength,
  espSealedLength,
  espSpi,
  openEsp,
  sealEsp,
  sealEspPacket,
} from './esp.js';
import { ESP_CIPHERS, ESP_MAX_SEQUENCE, InboundSa, OutboundSa, allocateSpi, type EspCipher, type EspSaKeys } from './esp-sa.js';

const SPI = 0x0a0b0c0d;

function keysFor(cipher: EspCipher): EspSaKeys {
  return { cipher, key: Buffer.alloc(32, 0x5a), salt: Buffer.from('c0ffee01', 'hex') };
}

function pair(cipher: EspCipher, replayWindow = 1024) {
  const out = new OutboundSa(SPI, keysFor(cipher));
  const inb = new InboundSa(SPI, keysFor(cipher), { replayWindow });
  const lookup = (spi: number) => (spi === SPI ? inb : undefined);
  return { out, inb, lookup };
}

/** ESP sealed by hand from the RFCs, independent of sealEsp, with a chosen trailer. */
function handSeal(keys: EspSaKeys, seq: number, plain: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(SPI, 0);
  header.writeUInt32BE(seq, 4);
  const iv = Buffer.alloc(8);
  iv.writeUInt32BE(seq, 4);
  const c = createCipheriv(keys.cipher as 'aes-256-gcm', keys.key, Buffer.concat([keys.salt, iv]), { authTagLength: 16 });
  c.setAAD(header);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([header, iv, ct, c.getAuthTag()]);
}

describe('ESP padding', () => {
  it('pads payload ‖ pad ‖ 2 to a multiple of 4 with 0..3 bytes', () => {
    for (let n = 0; n < 64; n++) {
      const pad = espPadLength(n);
      expect(pad).toBeGreaterThanOrEqual(0);
      expect(pad).toBeLessThanOrEqual(3);
      expect((n + pad + 2) % 4).toBe(0);
      expect(espSealedLength(n)).toBe(16 + n + pad + 2 + 16);
    }
  });

  it('writes padding bytes 1, 2, 3 …, the pad length and the next header', () => {
    const { out } = pair('aes-256-gcm');
    const packet = sealEspPacket(out, Buffer.from('x'), 17); // 1 byte + 2 → one pad byte
    const keys = keysFor('aes-256-gcm');
    // decrypt by hand: GCM is a stream, so XOR with the keystream of a zero plaintext.
    const zero = handSeal(keys, 1, Buffer.alloc(packet.length - 32));
    const plain = Buffer.from(packet.subarray(16, packet.length - 16).map((b, i) => b ^ zero[16 + i]!));
    expect([...plain]).toEqual([0x78, 1, 1, 17]);
  });
});

for (const cipher of ESP_CIPHERS) {
  describe(`ESP ${cipher}`, () => {
    it('round-trips any payload and next header', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 1600 }), fc.integer({ min: 0, max: 255 }), (payload, nh) => {
          const { out, inb, lookup } = pair(cipher);
          const packet = sealEspPacket(out, payload, nh);
          expect(packet.length).toBe(espSealedLength(payload.length));
          expect(espSpi(packet)).toBe(SPI);
          const dst = Buffer.alloc(payload.length + 8);
          const r = openEsp(packet, lookup, dst, 4);
          expect(r).toMatchObject({ ok: true, seq: 1, nextHeader: nh, length: payload.length });
          expect(dst.subarray(4, 4 + payload.length)).toEqual(Buffer.from(payload));
          expect(inb.received).toBe(1);
        }),
        { numRuns: 50 },
      );
    });

    it('puts SPI, sequence and the 64-bit counter IV in clear', () => {
      const { out } = pair(cipher);
      sealEspPacket(out, Buffer.alloc(10));
      const p = sealEspPacket(out, Buffer.alloc(10));
      expect(p.subarray(0, 16).toString('hex')).toBe('0a0b0c0d' + '00000002' + '0000000000000002');
    });

    it('matches a packet sealed by hand from the RFC layout', () => {
      const { out } = pair(cipher);
      const payload = Buffer.from('hello vxlan');
      const sealed = sealEspPacket(out, payload, 17);
      const pad = espPadLength(payload.length);
      const trailer = Buffer.from([...Array.from({ length: pad }, (_, i) => i + 1), pad, 17]);
      expect(sealed).toEqual(handSeal(keysFor(cipher), 1, Buffer.concat([payload, trailer])));
    });

    it('seals in place when the payload sits after the headroom', () => {
      const { out, lookup } = pair(cipher);
      const buf = Buffer.alloc(espSealedLength(100) + 8);
      const payload = buf.subarray(8 + ESP_PAYLOAD_OFFSET, 8 + ESP_PAYLOAD_OFFSET + 100);
      payload.fill(0x42);
      const r = sealEsp(out, payload, 17, buf, 8);
      expect(r).toEqual({ ok: true, length: espSealedLength(100) });
      const dst = Buffer.alloc(100);
      expect(openEsp(buf.subarray(8), lookup, dst)).toMatchObject({ ok: true, length: 100 });
      expect(dst).toEqual(Buffer.alloc(100, 0x42));
    });

    it('fails authentication on any flipped bit and does not move the window', () => {
      const { out, inb, lookup } = pair(cipher);
      const packet = sealEspPacket(out, Buffer.from('payload bytes'));
      for (let i = 0; i < packet.length; i++) {
        if (i < 4) continue; // the SPI selects the SA: a flipped SPI is 'unknown-spi'
        const bad = Buffer.from(packet);
        bad[i]! ^= 0x01;
        expect(openEsp(bad, lookup, Buffer.alloc(64)).ok).toBe(false);
      }
      // A flip in the sequence number can also make it 0 ('too-old') before decryption is tried.
      expect(inb.drops['auth-failed'] + inb.drops['too-old']).toBe(packet.length - 4);
      expect(inb.drops['auth-failed']).toBeGreaterThan(packet.length - 6);
      expect(inb.window.highest).toBe(0);
      expect(openEsp(packet, lookup, Buffer.alloc(64)).ok).toBe(true);
    });

    it('fails authentication under another key', () => {
      const { out } = pair(cipher);
      const other = new InboundSa(SPI, { ...keysFor(cipher), key: Buffer.alloc(32, 0x5b) });
      expect(openEsp(sealEspPacket(out, Buffer.alloc(20)), () => other, Buffer.alloc(64))).toMatchObject({
        ok: false,
        reason: 'auth-failed',
      });
    });

    it('drops replays and packets behind the window, counted by reason', () => {
      const { out, inb, lookup } = pair(cipher, 32);
      const packets = Array.from({ length: 40 }, () => sealEspPacket(out, Buffer.alloc(4)));
      const dst = Buffer.alloc(16);
      expect(openEsp(packets[39]!, lookup, dst).ok).toBe(true);
      expect(openEsp(packets[39]!, lookup, dst)).toMatchObject({ ok: false, reason: 'replay' });
      expect(openEsp(packets[20]!, lookup, dst).ok).toBe(true); // late but inside the window
      expect(openEsp(packets[0]!, lookup, dst)).toMatchObject({ ok: false, reason: 'too-old' });
      expect(inb.drops).toMatchObject({ replay: 1, 'too-old': 1 });
    });
  });
}

describe('ESP decoding of bad input', () => {
  const { out, inb, lookup } = pair('aes-256-gcm');
  const good = sealEspPacket(out, Buffer.alloc(32, 1));

  it('reports short packets and unknown SPIs', () => {
    expect(openEsp(Buffer.alloc(3), lookup, Buffer.alloc(64))).toEqual({ ok: false, reason: 'short' });
    expect(openEsp(good.subarray(0, ESP_MIN_BYTES - 1), lookup, Buffer.alloc(64))).toMatchObject({ ok: false, reason: 'short' });
    expect(inb.drops.short).toBe(1);
    const other = Buffer.from(good);
    other.writeUInt32BE(0x999, 0);
    expect(openEsp(other, lookup, Buffer.alloc(64))).toEqual({ ok: false, reason: 'unknown-spi' });
  });

  it('reports a truncated packet as failing authentication', () => {
    expect(openEsp(good.subarray(0, good.length - 1), lookup, Buffer.alloc(64))).toMatchObject({ reason: 'auth-failed' });
  });

  it('reports an output buffer that is too small without consuming the sequence number', () => {
    expect(openEsp(good, lookup, Buffer.alloc(31))).toMatchObject({ reason: 'buffer-too-small' });
    expect(inb.window.highest).toBe(0);
    expect(openEsp(good, lookup, Buffer.alloc(32)).ok).toBe(true);
  });

  it('rejects authentic packets with a wrong padding pattern or length', () => {
    const keys = keysFor('aes-256-gcm');
    const inb2 = new InboundSa(SPI, keys);
    const badPattern = handSeal(keys, 1, Buffer.from([0xaa, 0xbb, 2, 1, 2, 17])); // pad should be 1,2
    const tooLong = handSeal(keys, 2, Buffer.from([1, 2, 9, 17]));
    expect(openEsp(badPattern, () => inb2, Buffer.alloc(64))).toMatchObject({ ok: false, reason: 'bad-padding' });
    expect(openEsp(tooLong, () => inb2, Buffer.alloc(64))).toMatchObject({ ok: false, reason: 'bad-padding' });
    expect(inb2.drops['bad-padding']).toBe(2);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, keepSpi) => {
        const b = Buffer.from(bytes);
        if (keepSpi && b.length >= 4) b.writeUInt32BE(SPI, 0);
        const r = openEsp(b, lookup, Buffer.alloc(256));
        expect(r.ok).toBe(false);
      }),
    );
  });
});

describe('OutboundSa', () => {
  it('refuses to wrap the sequence number', () => {
    const sa = new OutboundSa(SPI, keysFor('aes-256-gcm'), { lastSequence: ESP_MAX_SEQUENCE - 1 });
    const buf = Buffer.alloc(espSealedLength(1));
    expect(sealEsp(sa, Buffer.alloc(1), 17, buf)).toMatchObject({ ok: true });
    expect(sa.remaining).toBe(0);
    expect(sealEsp(sa, Buffer.alloc(1), 17, buf)).toEqual({ ok: false, reason: 'sequence-exhausted' });
  });

  it('does not spend a sequence number when the buffer is too small', () => {
    const sa = new OutboundSa(SPI, keysFor('aes-256-gcm'));
    expect(sealEsp(sa, Buffer.alloc(10), 17, Buffer.alloc(20))).toEqual({ ok: false, reason: 'buffer-too-small' });
    expect(sa.sequence).toBe(0);
  });

  it('rejects reserved SPIs and wrong key sizes', () => {
    expect(() => new OutboundSa(255, keysFor('aes-256-gcm'))).toThrow(RangeError);
    expect(() => new InboundSa(SPI, { ...keysFor('aes-256-gcm'), salt: Buffer.alloc(3) })).toThrow(RangeError);
  });
});

describe('allocateSpi', () => {
  it('skips 0, the reserved 1..255 and SPIs in use', () => {
    const draws = [0, 7, 255, 0x1000, 0x2000];
    const random = (n: number) => {
      const b = Buffer.alloc(n);
      b.writeUInt32BE(draws.shift()!, 0);
      return b;
    };
    expect(allocateSpi((spi) => spi === 0x1000, random)).toBe(0x2000);
  });
});

describe('ChaCha20-Poly1305 against libsodium', () => {
  // An independent AEAD implementation, given the RFC 7634 construction spelled out here:
  // nonce = salt ‖ IV (the 8 bytes after the sequence number), AAD = SPI ‖ sequence number.
  const sodium = sodiumModule as unknown as {
    crypto_aead_chacha20poly1305_ietf_decrypt(m: Buffer, nsec: null, c: Buffer, ad: Buffer, npub: Buffer, k: Buffer): number;
  };

  it('decrypts what weft sealed', () => {
    const keys = keysFor('chacha20-poly1305');
    const sa = new OutboundSa(SPI, keys);
    const payload = Buffer.from('udp header + vxlan + frame');
    const p = sealEspPacket(sa, payload, 17);
    const m = Buffer.alloc(p.length - 16 - 16);
    const n = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
      m,
      null,
      p.subarray(16),
      p.subarray(0, 8),
      Buffer.concat([keys.salt, p.subarray(8, 16)]),
      keys.key,
    );
    expect(n).toBe(m.length);
    expect(m.subarray(0, payload.length)).toEqual(payload);
    expect(m[m.length - 1]).toBe(17);
  });
});
