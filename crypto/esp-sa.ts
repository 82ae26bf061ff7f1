// ESP security associations: one per direction per pair of peers. An outbound SA owns the
// sequence counter (which is also the IV, so it must never repeat under one key); an inbound SA
// owns the replay window and the per-reason drop counters. SPIs are chosen by the receiver.
import { randomBytes } from 'node:crypto';
import { ReplayWindow, DEFAULT_REPLAY_WINDOW } from './replay-window.js';

/** The AEAD transforms weft speaks: RFC 4106 (ICV 16) and RFC 7634. Both use a 256-bit key and a 4-byte salt. */
export type EspCipher = 'aes-256-gcm' | 'chacha20-poly1305';

export const ESP_CIPHERS: readonly EspCipher[] = ['aes-256-gcm', 'chacha20-poly1305'];
export const ESP_KEY_BYTES = 32;
export const ESP_SALT_BYTES = 4;
export const ESP_IV_BYTES = 8;
export const ESP_ICV_BYTES = 16;
/** The largest 32-bit sequence number; ESN is not used, so an SA must be replaced before this. */
export const ESP_MAX_SEQUENCE = 0xffff_ffff;

export interface EspSaKeys {
  cipher: EspCipher;
  /** 32 bytes. */
  key: Buffer;
  /** 4 bytes, the fixed leading part of the 12-byte nonce (salt ‖ IV). */
  salt: Buffer;
}

export type EspDropReason =
  | 'short'
  | 'unknown-spi'
  | 'replay'
  | 'too-old'
  | 'auth-failed'
  | 'bad-padding'
  | 'buffer-too-small';

export const ESP_DROP_REASONS: readonly EspDropReason[] = [
  'short',
  'unknown-spi',
  'replay',
  'too-old',
  'auth-failed',
  'bad-padding',
  'buffer-too-small',
];

export type EspDropCounts = Record<EspDropReason, number>;

export function emptyDropCounts(): EspDropCounts {
  return Object.fromEntries(ESP_DROP_REASONS.map((r) => [r, 0])) as EspDropCounts;
}

function checkKeys(keys: EspSaKeys): void {
  if (keys.key.length !== ESP_KEY_BYTES) throw new RangeError(`ESP key must be ${ESP_KEY_BYTES} bytes`);
  if (keys.salt.length !== ESP_SALT_BYTES) throw new RangeError(`ESP salt must be ${ESP_SALT_BYTES} bytes`);
}

function checkSpi(spi: number): void {
  if (!Number.isInteger(spi) || spi < 256 || spi > 0xffff_ffff) throw new RangeError(`invalid SPI ${spi}`);
}

/** The sending half: seals with `keys` under the receiver's `spi`. */
export class OutboundSa {
  readonly spi: number;
  readonly cipher: EspCipher;
  readonly key: Buffer;
  /** salt ‖ IV; the IV part is rewritten for every packet. */
  readonly nonce: Buffer;
  private seq: number;

  constructor(spi: number, keys: EspSaKeys, opts: { lastSequence?: number } = {}) {
    checkSpi(spi);
    checkKeys(keys);
    this.spi = spi;
    this.cipher = keys.cipher;
    this.key = Buffer.from(keys.key);
    this.nonce = Buffer.alloc(ESP_SALT_BYTES + ESP_IV_BYTES);
    keys.salt.copy(this.nonce, 0);
    this.seq = opts.lastSequence ?? 0;
  }

  get salt(): Buffer {
    return this.nonce.subarray(0, ESP_SALT_BYTES);
  }

  /** The last sequence number used (0 before the first packet). */
  get sequence(): number {
    return this.seq;
  }

  /** The kernel engine seals in the kernel: it reports the kernel's counter here for the rekey check. */
  syncSequence(seq: number): void {
    if (Number.isInteger(seq) && seq > this.seq && seq <= ESP_MAX_SEQUENCE) this.seq = seq;
  }

  /** Packets this SA can still seal. The owner rekeys well before this reaches 0. */
  get remaining(): number {
    return ESP_MAX_SEQUENCE - this.seq;
  }

  /**
   * Takes the next sequence number and writes it as the IV (a 64-bit counter, RFC 4106 §3.1)
   * into `nonce`. Returns undefined when the counter is exhausted: the SA must not send again.
   */
  advance(): number | undefined {
    if (this.seq >= ESP_MAX_SEQUENCE) return undefined;
    this.seq++;
    this.nonce.writeUInt32BE(0, ESP_SALT_BYTES);
    this.nonce.writeUInt32BE(this.seq, ESP_SALT_BYTES + 4);
    return this.seq;
  }
}

/** The receiving half: opens packets carrying our `spi`. */
export class InboundSa {
  readonly spi: number;
  readonly cipher: EspCipher;
  readonly key: Buffer;
  readonly salt: Buffer;
  readonly window: ReplayWindow;
  readonly drops: EspDropCounts = emptyDropCounts();
  /** Packets that authenticated and were delivered. */
  received = 0;
  /** Scratch nonce, rewritten per packet. */
  readonly nonce: Buffer;

  constructor(spi: number, keys: EspSaKeys, opts: { replayWindow?: number } = {}) {
    checkSpi(spi);
    checkKeys(keys);
    this.spi = spi;
    this.cipher = keys.cipher;
    this.key = Buffer.from(keys.key);
    this.salt = Buffer.from(keys.salt);
    this.window = new ReplayWindow(opts.replayWindow ?? DEFAULT_REPLAY_WINDOW);
    this.nonce = Buffer.alloc(ESP_SALT_BYTES + ESP_IV_BYTES);
    this.salt.copy(this.nonce, 0);
  }
}

/**
 * Chooses an inbound SPI: random, never 0 and never 1..255 (reserved by IANA, RFC 4303 §2.1),
 * and not one `inUse` reports as ours already. `random` is injectable for tests.
 */
export function allocateSpi(inUse: (spi: number) => boolean, random: (n: number) => Buffer = randomBytes): number {
  for (;;) {
    const spi = random(4).readUInt32BE(0);
    if (spi > 255 && !inUse(spi)) return spi;
  }
}
