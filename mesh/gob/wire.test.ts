import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeFailure, Reader } from './reader.js';
import { ByteWriter, floatFromWire, floatToWire, unzigzag, zigzag } from './wire.js';

const hex = (w: ByteWriter): string => Buffer.from(w.view()).toString('hex');

function written(f: (w: ByteWriter) => void): string {
  const w = new ByteWriter(16);
  f(w);
  return hex(w);
}

/** A reader positioned inside one message holding `bytes`. */
function inMessage(bytes: number[]): Reader {
  const r = new Reader(Uint8Array.from([bytes.length, ...bytes]));
  r.nextMessage();
  return r;
}

function failure(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof DecodeFailure) return e.reason;
    throw e;
  }
  throw new Error('expected a DecodeFailure');
}

describe('uint', () => {
  it.each([
    [0, '00'],
    [7, '07'],
    [0x7f, '7f'],
    [0x80, 'ff80'],
    [256, 'fe0100'], // Go's doc.go example
    [0xffffff, 'fdffffff'],
    [2 ** 48 - 1, 'faffffffffffff'],
    [2 ** 48, 'f901000000000000'],
  ])('%d is %s', (n, want) => {
    expect(written((w) => w.writeUint(n))).toBe(want);
    expect(written((w) => w.writeUint(BigInt(n)))).toBe(want);
  });

  it('uint64 max is f8 then eight ff bytes', () => {
    expect(written((w) => w.writeUint((1n << 64n) - 1n))).toBe('f8ffffffffffffffff');
  });

  it('refuses values outside uint64', () => {
    expect(() => written((w) => w.writeUint(-1n))).toThrow(RangeError);
    expect(() => written((w) => w.writeUint(1n << 64n))).toThrow(RangeError);
  });

  it('round-trips every uint64', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (x) => {
        const w = new ByteWriter(4);
        w.writeUint(x);
        expect(inMessage([...w.view()]).readUint()).toBe(x);
      }),
    );
  });
});

describe('int', () => {
  it.each([
    [0n, '00'],
    [3n, '06'], // doc.go: Encode(3) → 03 04 00 06
    [-1n, '01'],
    [22n, '2c'],
    [33n, '42'],
    [-129n, 'fe0101'],
    [-(1n << 63n), 'f8ffffffffffffffff'],
    [(1n << 63n) - 1n, 'f8fffffffffffffffe'],
  ])('%d is %s', (n, want) => {
    expect(written((w) => w.writeInt(n))).toBe(want);
    if (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) {
      expect(written((w) => w.writeInt(Number(n)))).toBe(want);
    }
  });

  it('zig-zag is a bijection on int64', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (i) => {
        const u = zigzag(i);
        expect(u >= 0n && u < 1n << 64n).toBe(true);
        expect(unzigzag(u)).toBe(i);
        const w = new ByteWriter(4);
        w.writeInt(i);
        expect(inMessage([...w.view()]).readInt()).toBe(i);
      }),
    );
  });

  it('refuses values outside int64', () => {
    expect(() => written((w) => w.writeInt(1n << 63n))).toThrow(RangeError);
  });
});

describe('float', () => {
  it('17.0 travels as fe 31 40 (byte-reversed IEEE bits, Go doc.go)', () => {
    expect(written((w) => w.writeUint(floatToWire(17)))).toBe('fe3140');
  });

  it('keeps every float64 bit pattern, including -0 and infinities', () => {
    fc.assert(
      fc.property(fc.double(), (f) => {
        expect(Object.is(floatFromWire(floatToWire(f)), f)).toBe(true);
      }),
    );
    expect(floatToWire(-0)).toBe(0x80n);
    expect(floatFromWire(0xf0ffn)).toBe(-Infinity);
  });
});

describe('strings, bytes and messages', () => {
  it('length-prefixes UTF-8 by bytes, not characters', () => {
    expect(written((w) => w.writeString('é'))).toBe('02c3a9');
    expect(written((w) => w.writeBytes(Buffer.from([1, 2])))).toBe('020102');
  });

  it('writeMessage prefixes the count and empties the body', () => {
    const body = new ByteWriter(4);
    body.writeString('hello');
    const out = new ByteWriter(4);
    out.writeMessage(body);
    expect(hex(out)).toBe('060568656c6c6f');
    expect(body.length).toBe(0);
  });

  it('grows without losing bytes', () => {
    const w = new ByteWriter(1);
    for (let i = 0; i < 1000; i++) w.writeByte(i & 0xff);
    expect(w.view()[999]).toBe(999 & 0xff);
    expect(w.length).toBe(1000);
  });
});

describe('Reader', () => {
  it('rejects a uint announcing more than 8 bytes', () => {
    expect(failure(() => inMessage([0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9]).readUint())).toMatch(/announces 9 bytes/);
  });

  it('rejects a uint cut off by the end of the message, even if the stream goes on', () => {
    const r = new Reader(Uint8Array.from([2, 0xfe, 0x01, 0x00]));
    r.nextMessage();
    expect(failure(() => r.readUint())).toMatch(/truncated uint/);
  });

  it('rejects a message longer than the stream', () => {
    expect(failure(() => new Reader(Uint8Array.from([5, 1, 2])).nextMessage())).toMatch(/exceeds the 2 bytes left/);
  });

  it('rejects strings and counts beyond the message', () => {
    expect(failure(() => inMessage([1, 2]).readString(9, 'string'))).toMatch(/string of 9 bytes exceeds/);
    expect(failure(() => inMessage([0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).readCount('slice length'))).toMatch(
      /too large/,
    );
  });

  it('reads type ids as int32 only', () => {
    expect(inMessage([0xff, 0x82]).readTypeId()).toBe(65);
    expect(failure(() => inMessage([0xfb, 0x02, 0x00, 0x00, 0x00, 0x00]).readTypeId())).toMatch(/out of range/);
  });

  it('reads counts, type ids and message lengths without BigInt exactly as through BigInt, for any encoding', () => {
    // Any value in any length its bytes fit (Go writes the shortest; a stream may pad), cut short or not.
    const encoded = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).chain((u) => {
      const min = u < 0x80n ? 0 : Math.ceil(u.toString(16).length / 2);
      return fc.record({ u: fc.constant(u), len: fc.integer({ min, max: 8 }), cut: fc.boolean() });
    });
    const bytesOf = ({ u, len, cut }: { u: bigint; len: number; cut: boolean }): number[] => {
      const be = Array.from({ length: len }, (_, i) => Number((u >> BigInt(8 * (len - 1 - i))) & 0xffn));
      const out = len === 0 ? [Number(u)] : [256 - len, ...be];
      return cut && out.length > 1 ? out.slice(0, -1) : out;
    };
    const outcome = (f: () => unknown): string => {
      try {
        return `ok ${String(f())}`;
      } catch (err) {
        return `fail ${(err as DecodeFailure).reason}`;
      }
    };
    fc.assert(
      fc.property(encoded, (e) => {
        const bytes = bytesOf(e);
        if (bytes.length === 1 + e.len || e.len === 0) expect(inMessage(bytes).readUint()).toBe(e.u);
        // The reference: the BigInt uint, then the checks the callers make.
        const ref = (what: string, then: (u: bigint) => unknown): string => outcome(() => then(inMessage(bytes).readUint(what)));
        expect(outcome(() => inMessage(bytes).readCount('slice length'))).toBe(
          ref('slice length', (u) => {
            if (u > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeFailure(`slice length ${u} is too large`);
            return Number(u);
          }),
        );
        expect(outcome(() => inMessage(bytes).readTypeId())).toBe(
          ref('type id', (u) => {
            const id = unzigzag(u);
            if (id > 2n ** 31n - 1n || id < -(2n ** 31n - 1n)) throw new DecodeFailure(`type id ${id} is out of range`);
            return Number(id);
          }),
        );
        // As a message length, with 3 bytes after it in the stream.
        const cut = bytes.length < 1 + e.len;
        const length = outcome(() => (new Reader(Uint8Array.from(cut ? bytes : [...bytes, 1, 2, 3])).nextMessage(), 'read'));
        if (cut) expect(length).toMatch(/^fail truncated message length: needs \d bytes, \d left$/);
        else expect(length).toBe(e.u <= 3n ? 'ok read' : `fail message length ${e.u} exceeds the 3 bytes left in the stream`);
      }),
      { numRuns: 2_000 },
    );
  });

  it('copies bytes out of the input', () => {
    const input = Uint8Array.from([2, 0xaa, 0xbb]);
    const r = new Reader(input);
    r.nextMessage();
    const b = r.readBytes(2, 'bytes');
    input[1] = 0;
    expect([...b]).toEqual([0xaa, 0xbb]);
  });
});
