// A cursor over one gob stream. Reads inside a value are bounded by the end of the current
// message (as Go's decoder, which holds one message in its buffer); only the type-sequence
// reader moves on to the next message. Every bad read throws DecodeFailure, which
// gobDecode turns into { ok: false, reason }.
import { unzigzag } from './wire.js';

export class DecodeFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'DecodeFailure';
  }
}

export function fail(reason: string): never {
  throw new DecodeFailure(reason);
}

const INT32_MAX = 2 ** 31 - 1;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class Reader {
  private readonly text: Buffer;
  private pos = 0;
  private end = 0;

  constructor(private readonly buf: Uint8Array) {
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes left in the current message. */
  get left(): number {
    return this.end - this.pos;
  }

  /** True when the whole stream has been consumed. */
  atStreamEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Reads the next message's byte count; the current message must be used up. */
  nextMessage(): void {
    // Seven or eight length bytes may spell more than a number holds: say exactly how much.
    const n = this.longUint() ? this.uintWithin(this.buf.length, 'message length') : this.smallUintWithin(this.buf.length, 'message length');
    const avail = this.buf.length - this.pos;
    if (n > avail) fail(`message length ${n} exceeds the ${avail} bytes left in the stream`);
    this.end = this.pos + Number(n);
  }

  readUint(what = 'uint'): bigint {
    return this.uintWithin(this.end, what);
  }

  readInt(what = 'int'): bigint {
    return unzigzag(this.uintWithin(this.end, what));
  }

  /** A uint used as a count, length or field delta: it must fit a JS number. */
  readCount(what: string): number {
    if (this.pos < this.end && this.buf[this.pos]! < 0x80) return this.buf[this.pos++]!;
    return this.smallUintWithin(this.end, what);
  }

  /** A type id: Go's typeId is an int32. */
  readTypeId(): number {
    if (this.longUint()) {
      const big = this.readInt('type id');
      if (big > BigInt(INT32_MAX) || big < -BigInt(INT32_MAX)) fail(`type id ${big} is out of range`);
      return Number(big);
    }
    const u = this.smallUintWithin(this.end, 'type id');
    // Zigzag without BigInt: u < 2^53, so the halves are exact.
    const id = u % 2 === 1 ? -(u - 1) / 2 - 1 : u / 2;
    if (id > INT32_MAX || id < -INT32_MAX) fail(`type id ${id} is out of range`);
    return id;
  }

  /** The rest of the current message as a latin1 string (one char per byte), not consumed. */
  peekRest(): string {
    return this.text.toString('latin1', this.pos, this.end);
  }

  /** Consumes the rest of the current message. */
  skipRest(): void {
    this.pos = this.end;
  }

  /** `n` raw bytes of the current message, copied. */
  readBytes(n: number, what: string): Buffer {
    this.need(n, what);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /**
   * A byte slice that should be `length` bytes long (at most 6): the big-endian number it spells,
   * without making a Buffer; -1 (the bytes skipped) if it has another length.
   */
  readBytesAsNumber(length: number, what: string): number {
    const n = this.readCount(`${what} length`);
    this.need(n, what);
    const v = n === length ? this.text.readUIntBE(this.pos, n) : -1;
    this.pos += n;
    return v;
  }

  /** A bool (a uint, non-zero is true). */
  readBool(): boolean {
    if (this.pos < this.end && this.buf[this.pos]! < 0x80) return this.buf[this.pos++] !== 0;
    return this.uintWithin(this.end, 'bool') !== 0n;
  }

  /** The next uint announces more than 6 bytes (or is invalid): it may not fit a number. */
  private longUint(): boolean {
    const first = this.buf[this.pos];
    return first !== undefined && first >= 0x80 && first < 0xfa;
  }

  /**
   * A uint that must fit a JS number (counts, lengths, type ids), read without BigInt: the
   * decoder reads a few of these per value, and a BigInt each was a tenth of all the memory a
   * mesh allocated. The same checks and messages as uintWithin, then "too large" beyond 2^53 − 1.
   */
  private smallUintWithin(limit: number, what: string): number {
    if (this.pos >= limit) fail(`truncated ${what}: no bytes left in the ${limit === this.end ? 'message' : 'stream'}`);
    const first = this.buf[this.pos]!;
    if (first < 0x80) {
      this.pos++;
      return first;
    }
    const n = 256 - first;
    if (n > 6) {
      const big = this.uintWithin(limit, what);
      if (big > MAX_SAFE) fail(`${what} ${big} is too large`);
      return Number(big);
    }
    this.pos++;
    if (this.pos + n > limit) fail(`truncated ${what}: needs ${n} bytes, ${limit - this.pos} left`);
    const x = this.text.readUIntBE(this.pos, n);
    this.pos += n;
    return x;
  }

  /** `n` bytes of the current message as UTF-8 (invalid sequences become U+FFFD). */
  readString(n: number, what: string): string {
    this.need(n, what);
    const s = this.text.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) fail(`${what} of ${n} bytes exceeds the ${this.end - this.pos} bytes left in the message`);
  }

  private uintWithin(limit: number, what: string): bigint {
    if (this.pos >= limit) fail(`truncated ${what}: no bytes left in the ${limit === this.end ? 'message' : 'stream'}`);
    const first = this.buf[this.pos++]!;
    if (first < 0x80) return BigInt(first);
    const n = 256 - first;
    if (n > 8) fail(`invalid ${what}: length byte 0x${first.toString(16)} announces ${n} bytes (max 8)`);
    if (this.pos + n > limit) fail(`truncated ${what}: needs ${n} bytes, ${limit - this.pos} left`);
    let x: bigint;
    if (n <= 6) {
      x = BigInt(this.text.readUIntBE(this.pos, n));
    } else {
      // Two number halves, not a BigInt per byte: peers' uids are 8 random bytes.
      x = (BigInt(this.text.readUIntBE(this.pos, n - 4)) << 32n) | BigInt(this.text.readUInt32BE(this.pos + n - 4));
    }
    this.pos += n;
    return x;
  }
}
