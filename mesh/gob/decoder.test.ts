import { describe, expect, it } from 'vitest';
import { encodeStruct } from './encode-value.js';
import type { GobStruct, GobType, GobValue } from './index.js';
import { GobEncoder, T, asArray, asBigint, asBool, asBytes, asMap, asNumber, asString, field, gobDecode, gobEncode } from './index.js';
import { ByteWriter } from './wire.js';
import type { WireDef } from './wire-type.js';
import { WIRE_TYPE, wireTypeValue } from './wire-type.js';

const noInterfaces = {
  writeInterface(): void {
    throw new Error('not used');
  },
};

function message(body: (b: ByteWriter) => void): Buffer {
  const b = new ByteWriter();
  body(b);
  const out = new ByteWriter();
  out.writeMessage(b);
  return out.toBuffer();
}

/** A definition message: (-id, wireType). */
function define(id: number, def: WireDef | GobStruct): Buffer {
  const wire = 'kind' in def && typeof def.kind === 'string' ? wireTypeValue(id, def as WireDef) : (def as GobStruct);
  return message((b) => {
    b.writeInt(-id);
    encodeStruct(noInterfaces, b, WIRE_TYPE, wire);
  });
}

/** A value message: id, then whatever `body` writes. */
function value(id: number, body: (b: ByteWriter) => void): Buffer {
  return message((b) => {
    b.writeInt(id);
    body(b);
  });
}

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const structA = define(65, { kind: 'struct', name: 'A', fields: [{ name: 'X', id: 2 }] });
const sliceOfInt = define(65, { kind: 'slice', name: '', elem: 2 });

function reason(input: Uint8Array, limits?: Parameters<typeof gobDecode>[1]): string {
  const r = gobDecode(input, limits);
  if (r.ok) throw new Error(`expected a failure, got ${r.value.length} values`);
  return r.reason;
}

function decoded(input: Uint8Array): GobValue[] {
  const r = gobDecode(input);
  if (!r.ok) throw new Error(r.reason);
  return r.value.map((v) => v.value);
}

describe('streams Go accepts', () => {
  it('an empty stream and zero-length messages hold no values', () => {
    expect(decoded(h(''))).toEqual([]);
    expect(decoded(h('00 00'))).toEqual([]);
    expect(decoded(h('00 03 04 00 06 00'))).toEqual([3n]);
  });

  it('non-minimal uints and any non-zero bool, as Go reads them', () => {
    expect(decoded(h('05 04 00 fe 00 06'))).toEqual([3n]);
    expect(decoded(h('03 02 00 05'))).toEqual([true]);
  });

  it('a recursive type definition (type S []S) comes out as a cyclic GobType', () => {
    const input = Buffer.concat([define(65, { kind: 'slice', name: 'S', elem: 65 }), value(65, (b) => b.writeRaw(h('00 02 00 01 00')))]);
    const r = gobDecode(input);
    if (!r.ok) throw new Error(r.reason);
    const t = r.value[0]!.type as { kind: 'slice'; elem: GobType };
    expect(t.elem).toBe(t);
    expect(r.value[0]!.value).toEqual([[], [[]]]);
  });

  it('keeps a field named __proto__ as data, not as the prototype', () => {
    const input = Buffer.concat([
      define(65, { kind: 'struct', name: 'P', fields: [{ name: '__proto__', id: 6 }] }),
      value(65, (b) => {
        b.writeUint(1);
        b.writeString('x');
        b.writeUint(0);
      }),
    ]);
    const v = decoded(input)[0] as GobStruct;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toBe('x');
  });
});

describe('malformed input gives a reason, never an exception', () => {
  const slice = (count: number | bigint): Buffer =>
    Buffer.concat([sliceOfInt, value(65, (b) => (b.writeUint(0), b.writeUint(count)))]);
  it.each<[string, Buffer, RegExp]>([
    ['truncated varint', h('03 04 00 fe'), /truncated int: needs 2 bytes, 0 left/],
    ['varint length byte over 8', h('03 04 00 80'), /announces 128 bytes/],
    ['truncated message count', h('fe 01'), /truncated message length/],
    ['message longer than the stream', h('05 04 00'), /message length 5 exceeds the 2 bytes left/],
    ['huge message length', h('f8 ff ff ff ff ff ff ff ff 00'), /exceeds the 1 bytes left/],
    ['count beyond the message', slice(1000), /slice of 1000 elements cannot fit in the 0 bytes left/],
    ['count of 2^40', slice(2n ** 40n), /slice of 1099511627776 elements cannot fit/],
    ['count of 2^63', slice(2n ** 63n), /slice length 9223372036854775808 is too large/],
    ['string longer than the message', h('05 0c 00 fe ff ff'), /string of 65535 bytes exceeds the 0 bytes left/],
    ['undefined type id', value(99, (b) => b.writeUint(0)), /^undefined type id 99$/],
    ['reserved type id as a value', h('02 12 00'), /type id 9 is reserved/],
    ['type definition with a reserved id', define(20, { kind: 'slice', name: '', elem: 2 }), /reserved id 20/],
    ['duplicate type definition', Buffer.concat([structA, structA]), /duplicate definition of type id 65/],
    ['field number out of range', Buffer.concat([structA, value(65, (b) => b.writeRaw(h('02 02 00')))]), /field number 1 out of range for struct A \(1 fields\)/],
    ['unterminated struct', Buffer.concat([structA, value(65, (b) => b.writeRaw(h('01 02')))]), /struct A is not terminated/],
    ['trailing garbage inside a message', h('04 04 00 06 07'), /1 bytes of trailing garbage after value 0/],
    [
      'data after a definition in its message',
      message((b) => {
        b.writeInt(-65);
        encodeStruct(noInterfaces, b, WIRE_TYPE, wireTypeValue(65, { kind: 'slice', name: '', elem: 2 }));
        b.writeByte(7);
      }),
      /1 bytes of extra data after the definition of type 65/,
    ],
    ['definitions without a value', structA, /stream ends after type definitions without a value/],
    ['non-zero singleton delta', h('03 04 01 06'), /non-zero delta 1 before a int value/],
    ['array length mismatch', Buffer.concat([define(65, { kind: 'array', name: '', elem: 2, len: 2 }), value(65, (b) => b.writeRaw(h('00 01 02')))]), /array length 1 does not match its type's length 2/],
    ['value before its type is defined', Buffer.concat([value(65, (b) => b.writeRaw(h('00'))), structA]), /undefined type id 65/],
    ['definition setting two kinds', define(65, { SliceT: { Elem: 2n }, MapT: { Key: 2n, Elem: 2n } }), /sets SliceT and MapT/],
    ['empty definition', define(65, {}), /type 65: empty definition/],
    ['struct field without a name', define(65, { StructT: { Field: [{ Id: 2n }] } }), /field 0 has no name/],
    ['struct with two fields of one name', define(65, { StructT: { Field: [{ Name: 'X', Id: 2n }, { Name: 'X', Id: 6n }] } }), /two fields named X/],
    ['element type id 0', define(65, { SliceT: { CommonType: { Name: 'S' } } }), /SliceT.Elem refers to type id 0/],
    ['negative array length', define(65, { ArrayT: { Elem: 2n, Len: -1n } }), /array length -1 out of range/],
    ['interface name over 1024 bytes', value(8, (b) => (b.writeUint(0), b.writeString('x'.repeat(1025)))), /interface type name of 1025 bytes is too long/],
    ['interface holding an interface', value(8, (b) => (b.writeUint(0), b.writeString('x'), b.writeInt(8))), /concrete type is an interface/],
    ['stream ends inside an interface', value(8, (b) => (b.writeUint(0), b.writeString('x'))), /stream ends inside an interface value/],
    ['type id beyond int32', h('07 fb 01 00 00 00 00 00'), /type id 2147483648 is out of range/],
  ])('%s', (_name, input, want) => {
    expect(reason(input)).toMatch(want);
  });
});

describe('limits', () => {
  /** type S []S, and a value nested `depth` levels deep. */
  function deepSlices(depth: number): Buffer {
    return Buffer.concat([
      define(65, { kind: 'slice', name: 'S', elem: 65 }),
      value(65, (b) => {
        b.writeUint(0);
        for (let i = 0; i < depth; i++) b.writeUint(1);
        b.writeUint(0);
      }),
    ]);
  }

  it('refuses values nested deeper than maxDepth', () => {
    expect(reason(deepSlices(150))).toMatch(/slice nested deeper than 100 levels/);
    expect(gobDecode(deepSlices(150), { maxDepth: 200 }).ok).toBe(true);
    expect(reason(deepSlices(100_000), { maxDepth: 1e9 })).toMatch(/nests too deeply|nested deeper/);
  });

  it('refuses chains of type definitions deeper than maxDepth', () => {
    const defs = Array.from({ length: 150 }, (_, i) => define(65 + i, { kind: 'slice', name: '', elem: i === 149 ? 2 : 66 + i }));
    const input = Buffer.concat([...defs, value(65, (b) => b.writeRaw(h('00 00')))]);
    expect(reason(input)).toMatch(/type definitions nested deeper than 100 levels/);
    expect(gobDecode(input, { maxDepth: 200 }).ok).toBe(true);
  });

  it('refuses interfaces nested deeper than maxDepth', () => {
    let v: GobValue = null;
    for (let i = 0; i < 60; i++) v = { name: 'x', type: T.slice(T.interface), value: [v] };
    const input = gobEncode([T.slice(T.interface), [v]]);
    expect(gobDecode(input).ok).toBe(false);
    expect(gobDecode(input, { maxDepth: 1000 }).ok).toBe(true);
  });

  it('counts values and elements', () => {
    const three = gobEncode([T.int, 1n], [T.int, 2n], [T.int, 3n]);
    expect(reason(three, { maxValues: 2 })).toMatch(/more than 2 values/);
    const ten = gobEncode([T.slice(T.int), Array.from({ length: 10 }, () => 0n)]);
    expect(reason(ten, { maxElements: 5 })).toMatch(/more than 5 elements/);
    expect(gobDecode(ten, { maxElements: 10 }).ok).toBe(true);
  });
});

describe('accessors', () => {
  const v = decoded(gobEncode([T.struct('S', { A: T.int, B: T.string, C: T.bytes, D: T.bool, E: T.slice(T.int), F: T.float, G: T.map(T.string, T.int) }), { A: 5n, F: 1.5, G: new Map([['k', 1n]]) }]))[0]!;

  it('read present fields and default absent (zero) ones', () => {
    expect(asBigint(field(v, 'A'))).toBe(5n);
    expect(asNumber(field(v, 'F'))).toBe(1.5);
    expect(asMap(field(v, 'G')).get('k')).toBe(1n);
    expect(asString(field(v, 'B'))).toBe('');
    expect(asBytes(field(v, 'C'))).toHaveLength(0);
    expect(asBool(field(v, 'D'))).toBe(false);
    expect(asArray(field(v, 'E'))).toEqual([]);
    expect(asBigint(field(v, 'Missing'), 7n)).toBe(7n);
  });

  it('return defaults for values of another kind', () => {
    expect(field('not a struct', 'A')).toBeUndefined();
    expect(field([1n], '0')).toBeUndefined();
    expect(asBigint('5')).toBe(0n);
    expect(asString(5n, 'd')).toBe('d');
    expect(field({ constructor: 1n }, 'toString')).toBeUndefined();
  });
});

describe('interface values across message boundaries', () => {
  it('reads type definitions flushed mid-value, top level and nested', () => {
    const leaf = T.struct('Leaf', { N: T.int });
    const wrap = T.struct('Wrap', { In: T.interface });
    const input = new GobEncoder()
      .encode(T.struct('Outer', { Any: T.interface, Tail: T.string }), {
        Any: { name: 'main.Wrap', type: wrap, value: { In: { name: 'main.Leaf', type: leaf, value: { N: 3n } } } },
        Tail: 'end',
      })
      .bytes();
    const out = decoded(input)[0] as GobStruct;
    expect(out.Tail).toBe('end');
    expect(field(field(field(out.Any as GobStruct, 'value'), 'In'), 'value')).toEqual({ N: 3n });
  });
});

describe('types resolved once for streams that define them alike', () => {
  const structB = define(65, { kind: 'struct', name: 'B', fields: [{ name: 'Y', id: 2 }] });
  const withX = Buffer.concat([structA, value(65, (b) => b.writeRaw(h('01 06 00')))]);
  const withY = Buffer.concat([structB, value(65, (b) => b.writeRaw(h('01 06 00')))]);
  const typeOf = (input: Uint8Array, limits?: Parameters<typeof gobDecode>[1]): GobType => {
    const r = gobDecode(input, limits);
    if (!r.ok) throw new Error(r.reason);
    return r.value[0]!.type;
  };

  it('share the type; the same id defined otherwise gets its own', () => {
    expect(typeOf(withX)).toBe(typeOf(withX));
    // Id 65 again, another struct: decoded by its own definition even after the first was cached.
    expect(decoded(withY)).toEqual([{ Y: 3n }]);
    expect(decoded(withX)).toEqual([{ X: 3n }]);
    expect(typeOf(withY)).not.toBe(typeOf(withX));
  });

  it('a type defined alike over other definitions is not shared', () => {
    // 65 is a slice of 66 in both streams; only 66 differs, and it comes first.
    const over = (elem: string): Buffer =>
      Buffer.concat([
        define(66, { kind: 'struct', name: elem, fields: [{ name: elem, id: 2 }] }),
        define(65, { kind: 'slice', name: '', elem: 66 }),
        value(65, (b) => b.writeRaw(h('00 01 01 06 00'))),
      ]);
    expect(decoded(over('X'))).toEqual([[{ X: 3n }]]);
    expect(decoded(over('Y'))).toEqual([[{ Y: 3n }]]);
  });

  it('a stricter depth limit still refuses deep types after a looser stream resolved them', () => {
    // A slice of slices of int: three levels to resolve.
    const nested = Buffer.concat([
      define(65, { kind: 'slice', name: '', elem: 66 }),
      define(66, { kind: 'slice', name: '', elem: 2 }),
      value(65, (b) => b.writeRaw(h('00 01 01 06'))),
    ]);
    expect(decoded(nested)).toEqual([[[3n]]]);
    expect(reason(nested, { maxDepth: 1 })).toMatch(/nested deeper than 1/);
  });
});

describe('definitions too long to cache', () => {
  it('decode as any other, again and again', () => {
    // A struct with 60 long field names: a definition of ~2 KB, beyond what the caches keep.
    const fields = Array.from({ length: 60 }, (_, i) => ({ name: `Field${i}_${'x'.repeat(24)}`, id: 2 }));
    const big = Buffer.concat([define(65, { kind: 'struct', name: 'Big', fields }), value(65, (b) => b.writeRaw(h('01 06 00')))]);
    expect(big.length).toBeGreaterThan(2_000);
    for (let i = 0; i < 3; i++) expect(decoded(big)).toEqual([{ Field0_xxxxxxxxxxxxxxxxxxxxxxxx: 3n }]);
  });
});
