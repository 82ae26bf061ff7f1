// ESP keys for one pair of peers, derived from the 32-byte session key of their mesh control
// connection (already bound to the password) and two fresh salts, one contributed by each side
// for every (re)key, so no two SAs ever share a key even across restarts.
//
//   okm = HKDF-SHA256(ikm = session key, salt = initiatorSalt ‖ responderSalt, info, 36)
//   key = okm[0..32), esp salt = okm[32..36)
//   info = "weft esp v1 " + cipher + " " + direction
//     cipher    = "aes-256-gcm" | "chacha20-poly1305"
//     direction = "i2r" (initiator → responder, the side that dialled the control connection
//                 sends with it) | "r2i" (the other way)
//
// The cipher is in the info string so that a negotiation mistake yields keys that fail to
// authenticate instead of one key used by two algorithms.
import { hkdfSync, randomBytes } from 'node:crypto';
import { ESP_KEY_BYTES, ESP_SALT_BYTES, type EspCipher, type EspSaKeys } from './esp-sa.js';

export const SESSION_KEY_BYTES = 32;
/** Bytes each side contributes to the HKDF salt per (re)key. */
export const KEY_SALT_BYTES = 16;
export const ESP_INFO_PREFIX = 'weft esp v1';

export type EspDirection = 'i2r' | 'r2i';

export interface EspDerivationInput {
  /** The mesh control connection's shared key. */
  sessionKey: Uint8Array;
  /** Fresh random bytes from the side that dialled the control connection. */
  initiatorSalt: Uint8Array;
  /** Fresh random bytes from the side that accepted it. */
  responderSalt: Uint8Array;
  cipher: EspCipher;
}

export function espInfo(cipher: EspCipher, direction: EspDirection): string {
  return `${ESP_INFO_PREFIX} ${cipher} ${direction}`;
}

/** Keys for one direction. Throws RangeError on wrong input sizes (local input, not network bytes). */
export function deriveEspKeys(input: EspDerivationInput, direction: EspDirection): EspSaKeys {
  if (input.sessionKey.length !== SESSION_KEY_BYTES) throw new RangeError(`session key must be ${SESSION_KEY_BYTES} bytes`);
  if (input.initiatorSalt.length !== KEY_SALT_BYTES || input.responderSalt.length !== KEY_SALT_BYTES) {
    throw new RangeError(`key salts must be ${KEY_SALT_BYTES} bytes each`);
  }
  const salt = Buffer.concat([input.initiatorSalt, input.responderSalt]);
  const okm = Buffer.from(
    hkdfSync('sha256', input.sessionKey, salt, espInfo(input.cipher, direction), ESP_KEY_BYTES + ESP_SALT_BYTES),
  );
  return {
    cipher: input.cipher,
    key: okm.subarray(0, ESP_KEY_BYTES),
    salt: okm.subarray(ESP_KEY_BYTES),
  };
}

/** Both directions at once: what the initiator sends with and what it receives with, and vice versa. */
export function deriveEspKeyPair(input: EspDerivationInput): { i2r: EspSaKeys; r2i: EspSaKeys } {
  return { i2r: deriveEspKeys(input, 'i2r'), r2i: deriveEspKeys(input, 'r2i') };
}

export function freshKeySalt(random: (n: number) => Buffer = randomBytes): Buffer {
  return random(KEY_SALT_BYTES);
}
