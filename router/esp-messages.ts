// The ESP key exchange's messages, sent as gossip unicast on channel "weft-esp" between the two
// ends of a direct mesh connection (so they travel inside its password-encrypted stream).
//
//   u8 version (1) | u8 type | u64 connection uid | u32 epoch | body
//   offer   (1, initiator → responder): u32 spi | 16 salt | u8 n | n × u8 cipher   (preference order)
//   answer  (2, responder → initiator): u32 spi | 16 salt | u8 cipher
//   confirm (3, initiator → responder): —
//   rekey   (4, responder → initiator): —   (its outbound SA is running out; epoch = its current one)
//
// The spi in an offer or answer is the sender's *inbound* SPI: the receiver chooses it (RFC 4303).
import type { EspCipher } from '../crypto/esp-sa.js';
import { KEY_SALT_BYTES } from '../crypto/hkdf-keys.js';
import type { Result } from '../lib/result.js';

export const ESP_CHANNEL = 'weft-esp';
const VERSION = 1;
const HEADER = 2 + 8 + 4;

const CIPHER_IDS: Record<EspCipher, number> = { 'aes-256-gcm': 1, 'chacha20-poly1305': 2 };
const CIPHER_BY_ID = new Map<number, EspCipher>(Object.entries(CIPHER_IDS).map(([c, id]) => [id, c as EspCipher]));

interface Base {
  uid: bigint;
  epoch: number;
}
export type EspMessage =
  | (Base & { type: 'offer'; spi: number; salt: Buffer; ciphers: EspCipher[] })
  | (Base & { type: 'answer'; spi: number; salt: Buffer; cipher: EspCipher })
  | (Base & { type: 'confirm' })
  | (Base & { type: 'rekey' });

const TYPES = ['offer', 'answer', 'confirm', 'rekey'] as const;

export function encodeEspMessage(m: EspMessage): Buffer {
  const body =
    m.type === 'offer'
      ? Buffer.concat([u32(m.spi), m.salt, Buffer.from([m.ciphers.length, ...m.ciphers.map((c) => CIPHER_IDS[c])])])
      : m.type === 'answer'
        ? Buffer.concat([u32(m.spi), m.salt, Buffer.from([CIPHER_IDS[m.cipher]])])
        : Buffer.alloc(0);
  const head = Buffer.alloc(HEADER);
  head[0] = VERSION;
  head[1] = TYPES.indexOf(m.type) + 1;
  head.writeBigUInt64BE(m.uid, 2);
  head.writeUInt32BE(m.epoch, 10);
  return Buffer.concat([head, body]);
}

export function decodeEspMessage(b: Buffer): Result<EspMessage> {
  if (b.length < HEADER) return { ok: false, reason: `esp message: ${b.length} bytes, header needs ${HEADER}` };
  if (b[0] !== VERSION) return { ok: false, reason: `esp message: version ${b[0]} (we speak ${VERSION})` };
  const type = TYPES[b[1]! - 1];
  if (type === undefined) return { ok: false, reason: `esp message: unknown type ${b[1]}` };
  const base = { uid: b.readBigUInt64BE(2), epoch: b.readUInt32BE(10) };
  const body = b.subarray(HEADER);
  if (type === 'confirm' || type === 'rekey') {
    if (body.length !== 0) return { ok: false, reason: `esp ${type}: ${body.length} trailing bytes` };
    return { ok: true, value: { ...base, type } };
  }
  if (body.length < 4 + KEY_SALT_BYTES + 1) return { ok: false, reason: `esp ${type}: body too short (${body.length} bytes)` };
  const spi = body.readUInt32BE(0);
  if (spi < 256) return { ok: false, reason: `esp ${type}: reserved SPI ${spi}` };
  const salt = Buffer.from(body.subarray(4, 4 + KEY_SALT_BYTES));
  const rest = body.subarray(4 + KEY_SALT_BYTES);
  if (type === 'answer') {
    if (rest.length !== 1) return { ok: false, reason: `esp answer: ${rest.length} bytes after the salt, want 1` };
    const cipher = CIPHER_BY_ID.get(rest[0]!);
    if (!cipher) return { ok: false, reason: `esp answer: unknown cipher ${rest[0]}` };
    return { ok: true, value: { ...base, type, spi, salt, cipher } };
  }
  const n = rest[0]!;
  if (rest.length !== 1 + n || n === 0) return { ok: false, reason: `esp offer: cipher list of ${n} in ${rest.length - 1} bytes` };
  // Unknown cipher ids come from newer peers: skipped, so the rest can still be chosen from.
  const ciphers = [...rest.subarray(1)].flatMap((id) => CIPHER_BY_ID.get(id) ?? []);
  return { ok: true, value: { ...base, type, spi, salt, ciphers } };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
