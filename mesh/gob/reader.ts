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

const INT32_MAX = 2n ** 31n - 1n;
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
    const n = this.uintWithin(this.buf.length, 'message length');
    const avail = this.buf.length - this.pos;
    if (n > BigInt(avail)) fail(`message length ${n} exceeds the ${avail} bytes left in the stream`);
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
    const n = this.uintWithin(this.end, what);
    if (n > MAX_SAFE) fail(`${what} ${n} is too large`);
    return Number(n);
  }

  /** A type id: Go's typeId is an int32. */
  readTypeId(): number {
    const id = this.readInt('type id');
    if (id > INT32_MAX || id < -INT32_MAX) fail(`type id ${id} is out of range`);
    return Number(id);
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
    let x = 0n;
    if (n <= 6) {
      x = BigInt(this.text.readUIntBE(this.pos, n));
    } else {
      for (let i = 0; i < n; i++) x = (x << 8n) | BigInt(this.buf[this.pos + i]!);
    }
    this.pos += n;
    return x;
  }
}
