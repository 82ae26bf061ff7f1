// mesh's control-plane encryption: an ephemeral X25519 key pair per connection, a session key
// SHA-256(box.Precompute(theirs, ours) ‖ password), and NaCl secretbox per message with a
// nonce made of a polarity bit (who dialled), a TCP bit and a 64-bit message counter.
// A dropped, replayed or reordered message therefore fails to open, which ends the connection.
import { NACL, sodium } from './sodium.js';
import { boxBeforeNm } from './hsalsa20.js';

export interface KeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}

export function generateKeyPair(): KeyPair {
  const publicKey = Buffer.alloc(NACL.boxPublicKeyBytes);
  const secretKey = Buffer.alloc(NACL.boxSecretKeyBytes);
  sodium().crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

export function formSessionKey(theirPublic: Uint8Array, ourSecret: Uint8Array, password: Uint8Array): Buffer {
  const shared = boxBeforeNm(theirPublic, ourSecret);
  const key = Buffer.alloc(NACL.sha256Bytes);
  sodium().crypto_hash_sha256(key, Buffer.concat([shared, password]));
  sodium().sodium_memzero(shared);
  return key;
}

export const SECRETBOX_OVERHEAD = NACL.secretboxMacBytes;

/** One direction of a connection's message stream. */
class NonceState {
  readonly nonce = Buffer.alloc(NACL.secretboxNonceBytes);
  private seq = 0n;

  constructor(outboundSender: boolean) {
    this.nonce[0] = (outboundSender ? 0x80 : 0) | 0x40;
  }

  advance(): void {
    this.seq++;
    this.nonce.writeBigUInt64BE(this.seq, 16);
  }
}

/** Seals our messages. `outbound` = we dialled this connection. */
export class TcpSealer {
  private readonly state: NonceState;
  constructor(
    private readonly key: Buffer,
    outbound: boolean,
  ) {
    this.state = new NonceState(outbound);
  }

  seal(plain: Uint8Array): Buffer {
    const out = Buffer.alloc(plain.length + SECRETBOX_OVERHEAD);
    sodium().crypto_secretbox_easy(out, Buffer.from(plain.buffer, plain.byteOffset, plain.length), this.state.nonce, this.key);
    this.state.advance();
    return out;
  }
}

/** Opens the peer's messages. `outbound` = we dialled, so the peer's polarity bit is clear. */
export class TcpOpener {
  private readonly state: NonceState;
  constructor(
    private readonly key: Buffer,
    outbound: boolean,
  ) {
    this.state = new NonceState(!outbound);
  }

  /** Returns the plaintext, or undefined if the message does not authenticate. */
  open(sealed: Uint8Array): Buffer | undefined {
    if (sealed.length < SECRETBOX_OVERHEAD) return undefined;
    const out = Buffer.alloc(sealed.length - SECRETBOX_OVERHEAD);
    const ok = sodium().crypto_secretbox_open_easy(out, Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length), this.state.nonce, this.key);
    if (!ok) return undefined;
    this.state.advance();
    return out;
  }
}
