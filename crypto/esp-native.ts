// Batched ESP in the native addon: the user-space engine's hot path. One OpenSSL context per SA
// (keyed once), one N-API call per batch, every packet transformed in place in its slot. The bytes
// are exactly crypto/esp.ts's, which stays the reference and the fallback when the addon is missing.
//
//   seal: payload at payloadAt ──► ESP packet at payloadAt - 16   (SPI ‖ seq ‖ IV ‖ ciphertext ‖ ICV)
//   open: ESP packet at espAt  ──► payload at espAt + 16            (header left as received)
//
// Sequence numbers and the replay window stay in TypeScript: sealBatch reserves numbers from the
// OutboundSa; openBatch checks the window before the native call and accepts after it, in
// openEsp's order (check → authenticate → accept → padding).
import { ESP_MIN_BYTES, NEXT_HEADER_UDP } from './esp.js';
import { ESP_KEY_BYTES, ESP_SALT_BYTES, type EspCipher, type EspDropReason, type EspSaKeys, type InboundSa, type OutboundSa } from './esp-sa.js';
import type { ReplayVerdict } from './replay-window.js';
import { loadNative } from '../lib/native.js';
import { WeftError } from '../lib/errors.js';

/** The addon's ESP functions (native/weft_native.c). Misuse (bad arguments, a freed context) throws; packet bytes never do. */
export interface EspAddon {
  /** A context that seals (seal = true) or opens with one SA's key and salt. */
  espContext(cipher: EspCipher, key: Buffer, salt: Buffer, seal: boolean): object;
  /** Releases the OpenSSL context now (the garbage collector would too); later use throws ERR_WEFT_ESP_FREED. Safe to repeat. */
  espContextFree(ctx: object): void;
  /**
   * For k < n, slot s = slots[k]: lengths[s] payload bytes at payloadAt become the ESP packet at
   * payloadAt - 16 with sequence number firstSeq + k; lengths[s] = its length or a SEAL_* code.
   * Returns how many were sealed. slots must be distinct indices of the batch.
   */
  espSealBatch(ctx: object, slab: Buffer, slotSize: number, payloadAt: number, lengths: Int32Array, slots: Int32Array, n: number, spi: number, firstSeq: number, nextHeader: number): number;
  /**
   * For k < n, slot s = slots[k]: the ESP packet of lengths[s] bytes at espAt is verified and
   * decrypted in place; lengths[s] = payload length (payload at espAt + 16, next header in
   * nextHeaders[s]) or an OPEN_* code (-1..-4). Returns how many opened.
   */
  espOpenBatch(ctx: object, slab: Buffer, slotSize: number, espAt: number, lengths: Int32Array, slots: Int32Array, n: number, nextHeaders: Uint8Array): number;
}

/** lengths[s] after sealing: the packet did not fit its slot (its sequence number is skipped). */
export const SEAL_TOO_SMALL = -1;
/** lengths[s] after sealing: OpenSSL refused (not expected; the packet must not be sent). */
export const SEAL_FAILED = -2;
/** lengths[s] after sealBatch: no sequence number was left for it (the SA is exhausted). */
export const SEAL_EXHAUSTED = -3;

/** lengths[s] after opening. -1..-4 come from the addon; openBatch adds the replay verdicts. */
export const OPEN_SHORT = -1;
export const OPEN_AUTH_FAILED = -2;
/** Authentic, but the trailer is malformed: the sequence number counts as received. */
export const OPEN_BAD_PADDING = -3;
/** lengths[s] said the packet runs past its slot: a caller bug, not the peer's. */
export const OPEN_OUT_OF_SLOT = -4;
export const OPEN_REPLAY = -5;
export const OPEN_TOO_OLD = -6;

const OPEN_REASONS: Record<number, EspDropReason> = {
  [OPEN_SHORT]: 'short',
  [OPEN_AUTH_FAILED]: 'auth-failed',
  [OPEN_BAD_PADDING]: 'bad-padding',
  [OPEN_OUT_OF_SLOT]: 'buffer-too-small',
  [OPEN_REPLAY]: 'replay',
  [OPEN_TOO_OLD]: 'too-old',
};

/** The drop reason of a negative lengths[s] left by openBatch / openRaw. */
export function openCodeReason(code: number): EspDropReason {
  return OPEN_REASONS[code] ?? 'short';
}

function verdictCode(v: Exclude<ReplayVerdict, 'fresh'>): number {
  return v === 'replay' ? OPEN_REPLAY : OPEN_TOO_OLD;
}

let addon: EspAddon | null | undefined;

function espAddon(): EspAddon | null {
  if (addon !== undefined) return addon;
  try {
    const native = loadNative() as unknown as Partial<EspAddon>;
    addon = typeof native.espSealBatch === 'function' && typeof native.espOpenBatch === 'function' ? (native as EspAddon) : null;
  } catch {
    addon = null;
  }
  return addon;
}

/** Whether the addon is built and has batched ESP; otherwise use sealEsp/openEsp. */
export function nativeEspAvailable(): boolean {
  return espAddon() !== null;
}

export type EspDirection = 'seal' | 'open';

/** The parts of a packet batch (router/tun.ts PacketBatch) the AEAD calls use: slot i is slab[i*slotSize…], lengths[i] bytes. */
export interface AeadBatch {
  readonly slab: Buffer;
  readonly slotSize: number;
  readonly lengths: Int32Array;
}

/** An SA's cipher context in the addon: keyed once, used for every batch of that SA, in one direction. */
export class NativeEspContext {
  readonly cipher: EspCipher;
  readonly direction: EspDirection;
  readonly #native: EspAddon;
  #handle: object | undefined;

  /** Throws WeftError('io') when the addon is missing or old (check nativeEspAvailable()), RangeError on bad keys. */
  constructor(keys: EspSaKeys, direction: EspDirection) {
    if (keys.key.length !== ESP_KEY_BYTES) throw new RangeError(`ESP key must be ${ESP_KEY_BYTES} bytes`);
    if (keys.salt.length !== ESP_SALT_BYTES) throw new RangeError(`ESP salt must be ${ESP_SALT_BYTES} bytes`);
    const native = espAddon();
    if (!native) {
      loadNative(); // throws the loader's own explanation when the addon is not built
      throw new WeftError('io', 'the weft native addon predates batched ESP: run make build');
    }
    this.#native = native;
    this.cipher = keys.cipher;
    this.direction = direction;
    this.#handle = native.espContext(keys.cipher, keys.key, keys.salt, direction === 'seal');
  }

  static forOutbound(sa: OutboundSa): NativeEspContext {
    return new NativeEspContext({ cipher: sa.cipher, key: sa.key, salt: sa.salt }, 'seal');
  }

  static forInbound(sa: InboundSa): NativeEspContext {
    return new NativeEspContext({ cipher: sa.cipher, key: sa.key, salt: sa.salt }, 'open');
  }

  get freed(): boolean {
    return this.#handle === undefined;
  }

  /** Releases the key schedule now rather than at garbage collection. Safe to repeat; later use throws. */
  free(): void {
    if (this.#handle === undefined) return;
    this.#native.espContextFree(this.#handle);
    this.#handle = undefined;
  }

  /**
   * One native call: seals the listed slots under `spi` with sequence numbers firstSeq, firstSeq + 1, …
   * (reserved by the caller). Returns how many were sealed; see EspAddon.espSealBatch.
   */
  sealRaw(batch: AeadBatch, slots: Int32Array, n: number, payloadAt: number, spi: number, firstSeq: number, nextHeader = NEXT_HEADER_UDP): number {
    const handle = this.#live('seal');
    return this.#native.espSealBatch(handle, batch.slab, batch.slotSize, payloadAt, batch.lengths, slots, n, spi, firstSeq, nextHeader);
  }

  /** One native call: verifies and decrypts the listed slots in place, with no replay window. See EspAddon.espOpenBatch. */
  openRaw(batch: AeadBatch, slots: Int32Array, n: number, espAt: number, nextHeaders: Uint8Array): number {
    const handle = this.#live('open');
    return this.#native.espOpenBatch(handle, batch.slab, batch.slotSize, espAt, batch.lengths, slots, n, nextHeaders);
  }

  #live(direction: EspDirection): object {
    if (this.#handle === undefined) throw new WeftError('closed', 'the ESP context was freed');
    if (direction !== this.direction) throw new RangeError(`this ESP context can ${this.direction}, not ${direction}`);
    return this.#handle;
  }
}

const MAX_SLOTS = 256;

/** 0, 1, …, 255: pass with n = batch.count to transform slots 0..n-1 in order. */
export const SLOTS_IN_ORDER: Int32Array = Int32Array.from({ length: MAX_SLOTS }, (_, i) => i);

export interface SealBatchResult {
  /** Packets sealed (lengths[s] ≥ 0); every other listed slot has lengths[s] < 0 and must not be sent. */
  sealed: number;
  /** The SA ran out of sequence numbers: it must be replaced before sending again. */
  exhausted: boolean;
}

/**
 * sealEsp for a batch: reserves n sequence numbers from `sa` (fewer if it runs out: those slots get
 * SEAL_EXHAUSTED) and seals slots[0..n-1] in place, the payload at `payloadAt` and the packet at
 * payloadAt - ESP_PAYLOAD_OFFSET. Unlike sealEsp, a slot too small for its packet still uses up its
 * sequence number (a gap the receiver tolerates); size slots so it never happens.
 */
export function sealBatch(
  ctx: NativeEspContext,
  sa: OutboundSa,
  batch: AeadBatch,
  slots: Int32Array,
  n: number,
  payloadAt: number,
  nextHeader = NEXT_HEADER_UDP,
): SealBatchResult {
  if (ctx.cipher !== sa.cipher) throw new RangeError('the ESP context and the SA use different ciphers');
  if (!Number.isInteger(n) || n < 0 || n > slots.length) throw new RangeError('n must count entries of slots');
  if (n === 0) return { sealed: 0, exhausted: false };
  const first = sa.advance();
  if (first === undefined) {
    for (let k = 0; k < n; k++) batch.lengths[slots[k]!] = SEAL_EXHAUSTED;
    return { sealed: 0, exhausted: true };
  }
  let reserved = 1;
  while (reserved < n && sa.advance() !== undefined) reserved++;
  const sealed = ctx.sealRaw(batch, slots, reserved, payloadAt, sa.spi, first, nextHeader);
  for (let k = reserved; k < n; k++) batch.lengths[slots[k]!] = SEAL_EXHAUSTED;
  return { sealed, exhausted: reserved < n };
}

const freshSlots = new Int32Array(MAX_SLOTS);
const seqs = new Uint32Array(MAX_SLOTS);
/** Per listed packet, between the two passes of openBatch. */
const state = new Uint8Array(MAX_SLOTS);
const DECIDED = 0;
const STALE = 1;
const OPENED = 2;

/**
 * openEsp for a batch of packets that all carry `sa`'s SPI (the caller looked it up): for each
 * listed slot, lengths[s] becomes the payload length (payload at espAt + ESP_PAYLOAD_OFFSET, next
 * header in nextHeaders[s]) or a negative OPEN_* code. Drops are counted in sa.drops and
 * deliveries in sa.received, exactly as openEsp would count them packet by packet; the window
 * moves only for authentic packets. Returns how many were delivered.
 */
export function openBatch(
  ctx: NativeEspContext,
  sa: InboundSa,
  batch: AeadBatch,
  slots: Int32Array,
  n: number,
  espAt: number,
  nextHeaders: Uint8Array,
): number {
  if (ctx.cipher !== sa.cipher) throw new RangeError('the ESP context and the SA use different ciphers');
  if (!Number.isInteger(n) || n < 0 || n > slots.length || n > MAX_SLOTS) throw new RangeError('n must count entries of slots');
  if (!Number.isInteger(espAt) || espAt < 0 || espAt >= batch.slotSize) throw new RangeError('espAt must lie inside a slot');
  const { slab, slotSize, lengths } = batch;
  const room = slotSize - espAt;
  let fresh = 0;
  for (let k = 0; k < n; k++) {
    const s = slots[k]!;
    const len = lengths[s]!;
    state[k] = DECIDED;
    if (len > room) {
      lengths[s] = OPEN_OUT_OF_SLOT;
      sa.drops['buffer-too-small']++;
    } else if (len < ESP_MIN_BYTES) {
      lengths[s] = OPEN_SHORT;
      sa.drops.short++;
    } else {
      const seq = slab.readUInt32BE(s * slotSize + espAt + 4);
      seqs[k] = seq;
      if (sa.window.check(seq) === 'fresh') {
        state[k] = OPENED;
        freshSlots[fresh++] = s;
      } else {
        state[k] = STALE;
      }
    }
  }
  if (fresh > 0) ctx.openRaw(batch, freshSlots, fresh, espAt, nextHeaders);
  // In list order, as openEsp would have met them: an earlier packet of this batch may have carried
  // the same number or moved the window, which also decides replay vs too-old for stale ones.
  let delivered = 0;
  for (let k = 0; k < n; k++) {
    if (state[k] === DECIDED) continue;
    const s = slots[k]!;
    const opened = state[k] === OPENED;
    const code = lengths[s]!;
    if (opened && code < 0 && code !== OPEN_BAD_PADDING) {
      sa.drops[openCodeReason(code)]++;
      continue;
    }
    const seq = seqs[k]!;
    const verdict = sa.window.check(seq);
    if (!opened || verdict !== 'fresh') {
      // a stale packet stays stale (the window only moves forward) and is never accepted unopened
      const reason = verdict === 'fresh' ? 'replay' : verdict;
      lengths[s] = verdictCode(reason);
      sa.drops[reason]++;
      continue;
    }
    sa.window.accept(seq);
    if (code === OPEN_BAD_PADDING) {
      sa.drops['bad-padding']++;
      continue;
    }
    sa.received++;
    delivered++;
  }
  return delivered;
}
