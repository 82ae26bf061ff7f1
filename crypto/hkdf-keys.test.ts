import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveEspKeyPair, deriveEspKeys, espInfo, freshKeySalt } from './hkdf-keys.js';

const input = {
  sessionKey: Buffer.alloc(32, 0x11),
  initiatorSalt: Buffer.alloc(16, 0x22),
  responderSalt: Buffer.alloc(16, 0x33),
  cipher: 'aes-256-gcm' as const,
};

/** HKDF (RFC 5869) written out with HMAC, to check the node:crypto call and the parameter order. */
function hkdf(ikm: Buffer, salt: Buffer, info: string, length: number): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; out.length * 32 < length; i++) {
    t = createHmac('sha256', prk).update(Buffer.concat([t, Buffer.from(info), Buffer.from([i])])).digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

describe('deriveEspKeys', () => {
  it('is HKDF-SHA256(session key, salts, "weft esp v1 <cipher> <dir>") split into key and salt', () => {
    const k = deriveEspKeys(input, 'i2r');
    const okm = hkdf(input.sessionKey, Buffer.concat([input.initiatorSalt, input.responderSalt]), 'weft esp v1 aes-256-gcm i2r', 36);
    expect(espInfo('aes-256-gcm', 'i2r')).toBe('weft esp v1 aes-256-gcm i2r');
    expect(Buffer.concat([k.key, k.salt])).toEqual(okm);
    expect(k.key).toHaveLength(32);
    expect(k.salt).toHaveLength(4);
  });

  it('gives different keys per direction, cipher, salt and session key', () => {
    const base = deriveEspKeyPair(input);
    const keys = [
      base.i2r.key,
      base.r2i.key,
      deriveEspKeys({ ...input, cipher: 'chacha20-poly1305' }, 'i2r').key,
      deriveEspKeys({ ...input, initiatorSalt: Buffer.alloc(16, 0x44) }, 'i2r').key,
      deriveEspKeys({ ...input, responderSalt: Buffer.alloc(16, 0x44) }, 'i2r').key,
      deriveEspKeys({ ...input, sessionKey: Buffer.alloc(32, 0x12) }, 'i2r').key,
    ].map((k) => k.toString('hex'));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('both sides derive the same pair from the same inputs', () => {
    expect(deriveEspKeyPair(input)).toEqual(deriveEspKeyPair({ ...input }));
  });

  it('rejects wrong sizes', () => {
    expect(() => deriveEspKeys({ ...input, sessionKey: Buffer.alloc(31) }, 'i2r')).toThrow(RangeError);
    expect(() => deriveEspKeys({ ...input, initiatorSalt: Buffer.alloc(8) }, 'i2r')).toThrow(RangeError);
  });

  it('fresh salts come from the injected randomness', () => {
    expect(freshKeySalt((n) => Buffer.alloc(n, 9))).toEqual(Buffer.alloc(16, 9));
  });
});
