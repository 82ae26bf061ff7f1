import { describe, expect, it } from 'vitest';
import sodium from 'sodium-native';
import { boxBeforeNm, hsalsa20 } from './hsalsa20.js';
import { formSessionKey, generateKeyPair, TcpOpener, TcpSealer } from './session.js';
import { NACL } from './sodium.js';

describe('HSalsa20 / box precompute', () => {
  it('matches the published HSalsa20 test vector (NaCl "firstkey")', () => {
    // NaCl's tests/firstkey: k = X25519(alice sk, bob pk), then HSalsa20 with a zero input.
    const shared = Buffer.from('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742', 'hex');
    expect(hsalsa20(shared, Buffer.alloc(16)).toString('hex')).toBe('1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389');
  });

  it('gives the key that crypto_box uses', () => {
    for (let i = 0; i < 20; i++) {
      const a = generateKeyPair();
      const b = generateKeyPair();
      const msg = Buffer.from(`message ${i}`);
      const nonce = Buffer.alloc(24);
      sodium.randombytes_buf(nonce);
      const viaBox = Buffer.alloc(msg.length + 16);
      sodium.crypto_box_easy(viaBox, msg, nonce, b.publicKey, a.secretKey);
      const viaKey = Buffer.alloc(msg.length + 16);
      sodium.crypto_secretbox_easy(viaKey, msg, nonce, boxBeforeNm(b.publicKey, a.secretKey));
      expect(viaKey.equals(viaBox)).toBe(true);
    }
  });
});

describe('session key and message sealing', () => {
  it('both ends derive the same key; wrong passwords differ', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const pw = Buffer.from('s3cret');
    expect(formSessionKey(b.publicKey, a.secretKey, pw).equals(formSessionKey(a.publicKey, b.secretKey, pw))).toBe(true);
    expect(formSessionKey(b.publicKey, a.secretKey, pw).equals(formSessionKey(a.publicKey, b.secretKey, Buffer.from('other')))).toBe(false);
  });

  it('opens messages in order and rejects replays, reordering and tampering', () => {
    const key = Buffer.alloc(32, 7);
    const dialler = new TcpSealer(key, true);
    const acceptorIn = new TcpOpener(key, false);
    const m0 = dialler.seal(Buffer.from('zero'));
    const m1 = dialler.seal(Buffer.from('one'));
    const m2 = dialler.seal(Buffer.from('two'));
    expect(acceptorIn.open(m0)?.toString()).toBe('zero');
    expect(acceptorIn.open(m0)).toBeUndefined(); // replay
    expect(acceptorIn.open(m2)).toBeUndefined(); // skipped one
    expect(acceptorIn.open(m1)?.toString()).toBe('one');
    const bad = Buffer.from(m2);
    bad[bad.length - 1]! ^= 1;
    expect(acceptorIn.open(bad)).toBeUndefined();
    expect(acceptorIn.open(m2)?.toString()).toBe('two');
  });

  it('uses a different nonce space per direction', () => {
    const key = Buffer.alloc(32, 9);
    const fromDialler = new TcpSealer(key, true).seal(Buffer.from('x'));
    // The dialler's own opener expects the acceptor's polarity, so its own message does not open.
    expect(new TcpOpener(key, true).open(fromDialler)).toBeUndefined();
    expect(new TcpOpener(key, false).open(fromDialler)?.toString()).toBe('x');
  });
});

describe('a public key of small order', () => {
  it('is refused with a clear protocol error, not libsodium\'s "status: -1"', () => {
    const ours = generateKeyPair();
    for (const key of [Buffer.alloc(32), Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])]) {
      expect(() => boxBeforeNm(key, ours.secretKey)).toThrow(/small order .* refused/);
    }
  });
});

describe('NaCl sizes used without loading libsodium', () => {
  it('are libsodium\'s', () => {
    expect(NACL).toEqual({
      boxPublicKeyBytes: sodium.crypto_box_PUBLICKEYBYTES,
      boxSecretKeyBytes: sodium.crypto_box_SECRETKEYBYTES,
      scalarmultBytes: sodium.crypto_scalarmult_BYTES,
      sha256Bytes: sodium.crypto_hash_sha256_BYTES,
      secretboxNonceBytes: sodium.crypto_secretbox_NONCEBYTES,
      secretboxMacBytes: sodium.crypto_secretbox_MACBYTES,
    });
  });
});
