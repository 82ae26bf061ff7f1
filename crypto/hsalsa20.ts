// HSalsa20 and NaCl's crypto_box_beforenm, which sodium-native does not export.
// mesh forms its session key from box.Precompute = HSalsa20(X25519(sk, pk), 0^16); this runs once
// per connection, so plain TypeScript is fast enough.
import { NACL, sodium } from './sodium.js';
import { WeftError } from '../lib/errors.js';

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]; // "expand 32-byte k"

function rotl(v: number, c: number): number {
  return (v << c) | (v >>> (32 - c));
}

/** HSalsa20(key 32 bytes, input 16 bytes) → 32 bytes. */
export function hsalsa20(key: Uint8Array, input: Uint8Array): Buffer {
  if (key.length !== 32 || input.length !== 16) throw new RangeError('hsalsa20: key must be 32 bytes and input 16');
  const k = Buffer.from(key.buffer, key.byteOffset, 32);
  const n = Buffer.from(input.buffer, input.byteOffset, 16);
  const x = new Uint32Array(16);
  x[0] = SIGMA[0]!;
  x[5] = SIGMA[1]!;
  x[10] = SIGMA[2]!;
  x[15] = SIGMA[3]!;
  for (let i = 0; i < 4; i++) {
    x[1 + i] = k.readUInt32LE(4 * i);
    x[11 + i] = k.readUInt32LE(16 + 4 * i);
    x[6 + i] = n.readUInt32LE(4 * i);
  }
  const qr = (a: number, b: number, c: number, d: number): void => {
    x[b]! ^= rotl((x[a]! + x[d]!) | 0, 7);
    x[c]! ^= rotl((x[b]! + x[a]!) | 0, 9);
    x[d]! ^= rotl((x[c]! + x[b]!) | 0, 13);
    x[a]! ^= rotl((x[d]! + x[c]!) | 0, 18);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12);
    qr(5, 9, 13, 1);
    qr(10, 14, 2, 6);
    qr(15, 3, 7, 11);
    qr(0, 1, 2, 3);
    qr(5, 6, 7, 4);
    qr(10, 11, 8, 9);
    qr(15, 12, 13, 14);
  }
  const out = Buffer.alloc(32);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((w, i) => out.writeUInt32LE(x[w]!, 4 * i));
  return out;
}

/** NaCl crypto_box_beforenm: the shared key box would use for (their public, our secret). */
export function boxBeforeNm(theirPublic: Uint8Array, ourSecret: Uint8Array): Buffer {
  const shared = Buffer.alloc(NACL.scalarmultBytes);
  try {
    sodium().crypto_scalarmult(shared, Buffer.from(ourSecret), Buffer.from(theirPublic));
  } catch (err) {
    // libsodium refuses points of small order (the all-zero key among them): the shared secret
    // would be known to anyone. No honest peer sends one.
    throw new WeftError('protocol', 'the peer\'s X25519 public key is a point of small order (such as all zeros), which would make the session key public: refused', { cause: err });
  }
  const key = hsalsa20(shared, Buffer.alloc(16));
  sodium().sodium_memzero(shared);
  return key;
}
