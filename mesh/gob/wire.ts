// Gob's primitive encodings and the growable buffer the encoder writes into.
// - uint: < 128 is one byte; otherwise a byte holding the negated byte count, then the
//   value big-endian with leading zero bytes dropped.
// - int: zig-zag into a uint (bit 0 says "complement the rest").
// - float64: the IEEE bits byte-reversed, then sent as a uint (so small integers are short).
// - string/[]byte: uint length, then the bytes.
// - message: uint byte count, then the message.

const MAX_UINT64 = (1n << 64n) - 1n;
const MIN_INT64 = -(1n << 63n);
const MAX_INT64 = (1n << 63n) - 1n;
const SMALL_LIMIT = 0xffff_ffff_ffff; // largest value Buffer.writeUIntBE takes (6 bytes)
const SMALL_LIMIT_BIG = BigInt(SMALL_LIMIT);
const SMALL_HALF = BigInt(Math.floor(SMALL_LIMIT / 2));

const scratch = new DataView(new ArrayBuffer(8));

/** The uint gob sends for a float64: its IEEE bits with the bytes reversed. */
export function floatToWire(f: number): bigint {
  scratch.setFloat64(0, f, true);
  return scratch.getBigUint64(0, false);
}

export function floatFromWire(u: bigint): number {
  scratch.setBigUint64(0, u, false);
  return scratch.getFloat64(0, true);
}

/** Zig-zag: the uint gob sends for a signed integer. */
export function zigzag(i: bigint): bigint {
  return i < 0n ? ((-i - 1n) << 1n) | 1n : i << 1n;
}

export function unzigzag(u: bigint): bigint {
  return (u & 1n) === 1n ? -(u >> 1n) - 1n : u >> 1n;
}

export function isUint64(x: bigint): boolean {
  return x >= 0n && x <= MAX_UINT64;
}

export function isInt64(x: bigint): boolean {
  return x >= MIN_INT64 && x <= MAX_INT64;
}

/** How many bytes writeUint takes for `x` (an integer in [0, 2^64)). */
export function uintSize(x: number | bigint): number {
  if (x < 0x80) return 1;
  let n = 1;
  if (typeof x === 'number') {
    while (n < 8 && x >= 2 ** (8 * n)) n++;
  } else {
    while (n < 8 && x >> BigInt(8 * n) > 0n) n++;
  }
  return n + 1;
}

/** An append-only byte buffer that doubles its capacity, so building a message is linear. */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialCapacity = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  writeByte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  writeRaw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Writes a gob uint; `x` must be an integer in [0, 2^64). */
  writeUint(x: number | bigint): void {
    if (typeof x === 'number' && x >= 0 && x <= SMALL_LIMIT) {
      if (x < 0x80) {
        this.writeByte(x);
        return;
      }
      let n = 1;
      while (n < 6 && x >= 2 ** (8 * n)) n++;
      this.reserve(n + 1);
      this.buf[this.len++] = 256 - n;
      this.buf.writeUIntBE(x, this.len, n);
      this.len += n;
      return;
    }
    const big = BigInt(x);
    if (!isUint64(big)) throw new RangeError(`gob: ${big} is not a uint64`);
    if (big <= SMALL_LIMIT_BIG) {
      this.writeUint(Number(big));
      return;
    }
    scratch.setBigUint64(0, big, false);
    let skip = 0;
    while (scratch.getUint8(skip) === 0) skip++;
    const n = 8 - skip;
    this.reserve(n + 1);
    this.buf[this.len++] = 256 - n;
    for (let i = skip; i < 8; i++) this.buf[this.len++] = scratch.getUint8(i);
  }

  /** Writes a gob int; `x` must be an integer in the int64 range. */
  writeInt(x: number | bigint): void {
    if (typeof x === 'number' && Number.isSafeInteger(x) && Math.abs(x) <= SMALL_LIMIT / 2) {
      this.writeUint(x < 0 ? -x * 2 - 1 : x * 2);
      return;
    }
    const big = BigInt(x);
    if (!isInt64(big)) throw new RangeError(`gob: ${big} is not an int64`);
    if (big >= -SMALL_HALF && big <= SMALL_HALF) {
      this.writeInt(Number(big));
      return;
    }
    this.writeUint(zigzag(big));
  }

  /** Length-prefixed bytes. */
  writeBytes(bytes: Uint8Array): void {
    this.writeUint(bytes.length);
    this.writeRaw(bytes);
  }

  /** Length-prefixed UTF-8. */
  writeString(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.writeUint(n);
    this.reserve(n);
    this.len += this.buf.write(s, this.len, n, 'utf8');
  }

  /** Appends `body` as one message (byte count, then the bytes) and empties `body`. */
  writeMessage(body: ByteWriter): void {
    this.writeUint(body.len);
    this.writeRaw(body.view());
    body.reset();
  }

  /** The bytes written so far, without copying; valid until the next write. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** The bytes written so far, without copying; the writer must not be written to again. */
  detach(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.view());
  }

  truncate(length: number): void {
    if (length < this.len) this.len = length;
  }

  reset(): void {
    this.len = 0;
  }
}
