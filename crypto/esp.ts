// ESP (RFC 4303) with an AEAD transform (RFC 4106 AES-GCM or RFC 7634 ChaCha20-Poly1305), as the
// payload of a UDP datagram on port 6783 (RFC 3948 UDP encapsulation). The codec sees what a UDP
// socket sends and receives: everything from the SPI onward.
//
//   0       4       8              16                                          len-16   len
//   | SPI   | seq   | IV (8)       | ciphertext(payload ‖ pad 1,2,3… ‖ padlen ‖ next hdr) | ICV 16 |
//   └─ AAD ─┘                       └──────────────── AEAD(nonce = salt ‖ IV) ─────────────┘
//
// In weft's transport mode the payload is the VXLAN datagram's UDP header and body, next header
// 17: exactly what Linux xfrm emits for an ESP-in-UDP transport-mode SA over UDP/6784 traffic.
// AEAD ciphers have block size 1, so (payload ‖ pad ‖ 2 bytes) is padded to a multiple of 4.
//
// seal: take seq → IV, copy payload (skipped if already in place), append trailer, encrypt in place, tag.
// open: SPI → SA, replay check (no state change), decrypt, verify tag, window update, check padding.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ESP_ICV_BYTES, ESP_IV_BYTES, ESP_SALT_BYTES, type EspDropReason, type InboundSa, type OutboundSa } from './esp-sa.js';

export const ESP_HEADER_BYTES = 8;
/** SPI + sequence + IV: where the encrypted payload starts. Leave this much headroom to seal in place. */
export const ESP_PAYLOAD_OFFSET = ESP_HEADER_BYTES + ESP_IV_BYTES;
const TRAILER_BYTES = 2;
/** The smallest well-formed packet: header, IV, an empty payload's trailer, ICV. */
export const ESP_MIN_BYTES = ESP_PAYLOAD_OFFSET + TRAILER_BYTES + ESP_ICV_BYTES;
/** IP protocol numbers used as the ESP next header. */
export const NEXT_HEADER_UDP = 17;

/** Padding bytes for a payload of `n` bytes (0..3). */
export function espPadLength(n: number): number {
  return (4 - ((n + TRAILER_BYTES) & 3)) & 3;
}

/** Bytes a sealed packet takes for a payload of `n` bytes. */
export function espSealedLength(n: number): number {
  return ESP_PAYLOAD_OFFSET + n + espPadLength(n) + TRAILER_BYTES + ESP_ICV_BYTES;
}

export type SealResult = { ok: true; length: number } | { ok: false; reason: 'sequence-exhausted' | 'buffer-too-small' };

/**
 * Seals `payload` into `out` at `offset` and returns the packet's length. If `payload` already sits
 * at `out[offset + ESP_PAYLOAD_OFFSET]` it is not copied. Consumes one sequence number of `sa`,
 * except when `out` is too small. Never sends with a wrapped counter: 'sequence-exhausted'.
 */
export function sealEsp(sa: OutboundSa, payload: Uint8Array, nextHeader: number, out: Buffer, offset = 0): SealResult {
  const pad = espPadLength(payload.length);
  const plainLength = payload.length + pad + TRAILER_BYTES;
  const total = ESP_PAYLOAD_OFFSET + plainLength + ESP_ICV_BYTES;
  if (offset < 0 || out.length - offset < total) return { ok: false, reason: 'buffer-too-small' };
  const seq = sa.advance();
  if (seq === undefined) return { ok: false, reason: 'sequence-exhausted' };

  out.writeUInt32BE(sa.spi, offset);
  out.writeUInt32BE(seq, offset + 4);
  sa.nonce.copy(out, offset + ESP_HEADER_BYTES, ESP_SALT_BYTES);

  const start = offset + ESP_PAYLOAD_OFFSET;
  const inPlace = payload.buffer === out.buffer && payload.byteOffset === out.byteOffset + start;
  if (!inPlace) out.set(payload, start);
  let p = start + payload.length;
  for (let i = 1; i <= pad; i++) out[p++] = i;
  out[p++] = pad;
  out[p++] = nextHeader;

  const cipher = aeadCipher(sa);
  cipher.setAAD(out.subarray(offset, offset + ESP_HEADER_BYTES));
  const encrypted = cipher.update(out.subarray(start, p));
  encrypted.copy(out, start);
  const tail = cipher.final();
  if (tail.length > 0) tail.copy(out, start + encrypted.length);
  cipher.getAuthTag().copy(out, p);
  return { ok: true, length: total };
}

function aeadCipher(sa: OutboundSa) {
  const opts = { authTagLength: ESP_ICV_BYTES };
  return sa.cipher === 'aes-256-gcm'
    ? createCipheriv(sa.cipher, sa.key, sa.nonce, opts)
    : createCipheriv(sa.cipher, sa.key, sa.nonce, opts);
}

function aeadDecipher(sa: InboundSa) {
  const opts = { authTagLength: ESP_ICV_BYTES };
  return sa.cipher === 'aes-256-gcm'
    ? createDecipheriv(sa.cipher, sa.key, sa.nonce, opts)
    : createDecipheriv(sa.cipher, sa.key, sa.nonce, opts);
}

/** Allocating convenience for cold paths and tests. */
export function sealEspPacket(sa: OutboundSa, payload: Uint8Array, nextHeader = NEXT_HEADER_UDP): Buffer {
  const out = Buffer.alloc(espSealedLength(payload.length));
  const r = sealEsp(sa, payload, nextHeader, out);
  if (!r.ok) throw new RangeError(`cannot seal: ${r.reason}`);
  return out;
}

/** The SPI of a packet, or undefined if it is too short to carry one. */
export function espSpi(packet: Uint8Array): number | undefined {
  if (packet.length < ESP_HEADER_BYTES) return undefined;
  return ((packet[0]! << 24) | (packet[1]! << 16) | (packet[2]! << 8) | packet[3]!) >>> 0;
}

export type OpenResult =
  | { ok: true; sa: InboundSa; seq: number; nextHeader: number; length: number }
  | { ok: false; reason: EspDropReason; sa?: InboundSa };

/**
 * Opens `packet`, writing the payload to `out` at `offset`. Never throws on bad bytes. Drops for an
 * SA we know are counted in `sa.drops`; 'short' before the SPI and 'unknown-spi' have no SA, so the
 * caller counts those. The replay window moves only for packets whose ICV verified.
 */
export function openEsp(
  packet: Buffer,
  lookup: (spi: number) => InboundSa | undefined,
  out: Buffer,
  offset = 0,
): OpenResult {
  const spi = espSpi(packet);
  if (spi === undefined) return { ok: false, reason: 'short' };
  const sa = lookup(spi);
  if (sa === undefined) return { ok: false, reason: 'unknown-spi' };
  const drop = (reason: EspDropReason): OpenResult => {
    sa.drops[reason]++;
    return { ok: false, reason, sa };
  };
  if (packet.length < ESP_MIN_BYTES) return drop('short');

  const seq = packet.readUInt32BE(4);
  const verdict = sa.window.check(seq);
  if (verdict !== 'fresh') return drop(verdict);

  const cipherEnd = packet.length - ESP_ICV_BYTES;
  const plainLength = cipherEnd - ESP_PAYLOAD_OFFSET;

  packet.copy(sa.nonce, ESP_SALT_BYTES, ESP_HEADER_BYTES, ESP_PAYLOAD_OFFSET);
  let plain: Buffer;
  try {
    const decipher = aeadDecipher(sa);
    decipher.setAAD(packet.subarray(0, ESP_HEADER_BYTES));
    decipher.setAuthTag(packet.subarray(cipherEnd));
    plain = decipher.update(packet.subarray(ESP_PAYLOAD_OFFSET, cipherEnd));
    decipher.final();
  } catch {
    return drop('auth-failed');
  }
  const pad = plain[plainLength - 2]!;
  const nextHeader = plain[plainLength - 1]!;
  const length = plainLength - TRAILER_BYTES - pad;
  // A local fault: the window stays put so the caller can open the packet again with more room.
  if (length >= 0 && (offset < 0 || out.length - offset < length)) return drop('buffer-too-small');
  // Authentic from here on: the sequence number is spent even if the trailer is malformed.
  sa.window.accept(seq);
  if (length < 0) return drop('bad-padding');
  for (let i = 0; i < pad; i++) {
    if (plain[length + i] !== i + 1) return drop('bad-padding');
  }
  plain.copy(out, offset, 0, length);
  sa.received++;
  return { ok: true, sa, seq, nextHeader, length };
}
