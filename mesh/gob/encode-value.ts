// Value encoding, rule for rule as Go's encoder (encoding/gob/encode.go):
// - a struct is (field delta, value) pairs then 0; a field is omitted when it is zero: false,
//   0, 0.0, "", empty []byte or slice, nil interface. Maps, arrays, structs and opaque values
//   are sent whenever present (Go sends non-nil empty maps and non-pointer structs); an absent
//   (undefined) field stands for a nil pointer/map and is omitted.
// - a top-level non-struct value is preceded by a 0 "singleton" delta.
// - elements of slices, arrays and maps are always sent, zero or not.
import type { GobComplex, GobInterface, GobStruct, GobStructType, GobType } from './types.js';
import { ByteWriter, floatToWire, isInt64, isUint64 } from './wire.js';

/** Encodes interface values; needs the stream (type definitions, nested writers). */
export interface InterfaceWriter {
  writeInterface(b: ByteWriter, v: GobInterface): void;
}

/** A whole value as Encoder.encode and interface values send it. */
export function encodeTop(w: InterfaceWriter, b: ByteWriter, t: GobType, v: unknown): void {
  if (t.kind === 'struct') {
    encodeStruct(w, b, t, v);
  } else {
    b.writeByte(0);
    writeBody(w, b, t, v);
  }
}

export function encodeStruct(w: InterfaceWriter, b: ByteWriter, t: GobStructType, v: unknown): void {
  const s = (v ?? {}) as GobStruct;
  if (!isPlainObject(s)) bad(t, v);
  let last = -1;
  const fields = t.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const fv = Object.hasOwn(s, f.name) ? s[f.name] : undefined;
    if (omitted(f.type, fv)) continue;
    b.writeUint(i - last);
    last = i;
    try {
      writeBody(w, b, f.type, fv);
    } catch (err) {
      throw located(err, `${t.name}.${f.name}`);
    }
  }
  b.writeByte(0);
}

/** Would Go leave this struct field out? (Zero scalars, empty strings/bytes/slices, nil.) */
export function omitted(t: GobType, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  switch (t.kind) {
    case 'bool':
      return v === false;
    case 'int':
    case 'uint':
      return v === 0n || v === 0;
    case 'float':
      return v === 0;
    case 'complex':
      return (v as GobComplex).re === 0 && (v as GobComplex).im === 0;
    case 'string':
    case 'bytes':
    case 'slice':
      return (v as { length?: unknown }).length === 0;
    default:
      return false;
  }
}

function writeBody(w: InterfaceWriter, b: ByteWriter, t: GobType, v: unknown): void {
  switch (t.kind) {
    case 'bool':
      if (v !== true && v !== false && !isNil(v)) bad(t, v);
      b.writeUint(v === true ? 1 : 0);
      return;
    case 'int':
      b.writeInt(integer(t, v, isInt64));
      return;
    case 'uint':
      b.writeUint(integer(t, v, isUint64));
      return;
    case 'float':
      b.writeUint(floatToWire(float(t, v)));
      return;
    case 'complex': {
      const c = (v ?? { re: 0, im: 0 }) as GobComplex;
      if (typeof c !== 'object') bad(t, v);
      b.writeUint(floatToWire(float(t, c.re)));
      b.writeUint(floatToWire(float(t, c.im)));
      return;
    }
    case 'string':
      if (typeof v !== 'string' && !isNil(v)) bad(t, v);
      b.writeString((v as string | undefined) ?? '');
      return;
    case 'bytes':
    case 'opaque':
      if (!(v instanceof Uint8Array) && !isNil(v)) bad(t, v);
      b.writeBytes((v as Uint8Array | undefined) ?? new Uint8Array(0));
      return;
    case 'slice': {
      const items = (v ?? []) as unknown[];
      if (!Array.isArray(items)) bad(t, v);
      b.writeUint(items.length);
      for (const item of items) writeBody(w, b, t.elem, item);
      return;
    }
    case 'array': {
      const items = v as unknown[] | undefined | null;
      if (!isNil(items) && (!Array.isArray(items) || items.length !== t.len)) bad(t, v);
      b.writeUint(t.len);
      for (let i = 0; i < t.len; i++) writeBody(w, b, t.elem, items?.[i]);
      return;
    }
    case 'map': {
      const m = (v ?? new Map()) as Map<unknown, unknown>;
      if (!(m instanceof Map)) bad(t, v);
      b.writeUint(m.size);
      for (const [k, x] of m) {
        writeBody(w, b, t.key, k);
        writeBody(w, b, t.elem, x);
      }
      return;
    }
    case 'struct':
      encodeStruct(w, b, t, v);
      return;
    case 'interface':
      if (isNil(v)) {
        b.writeUint(0);
        return;
      }
      if (!isPlainObject(v) || typeof v.name !== 'string' || typeof v.type !== 'object') bad(t, v);
      w.writeInterface(b, v as unknown as GobInterface);
      return;
    default:
      throw new TypeError(`unknown type kind ${JSON.stringify((t as { kind: unknown }).kind)}`);
  }
}

function integer(t: GobType, v: unknown, inRange: (x: bigint) => boolean): bigint | number {
  if (isNil(v)) return 0;
  if (typeof v === 'bigint' ? inRange(v) : Number.isSafeInteger(v) && inRange(BigInt(v as number))) {
    return v as bigint | number;
  }
  return bad(t, v);
}

function float(t: GobType, v: unknown): number {
  if (isNil(v)) return 0;
  if (typeof v !== 'number') bad(t, v);
  return v;
}

function isNil(v: unknown): v is null | undefined {
  return v === undefined || v === null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Map) return 'a Map';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'bigint' || typeof v === 'number') return `${typeof v} ${v}`;
  return typeof v;
}

function bad(t: GobType, v: unknown): never {
  const want = t.kind === 'array' ? `array of ${t.len}` : t.kind;
  throw new TypeError(`expected a ${want} value, got ${describe(v)}`);
}

function located(err: unknown, where: string): unknown {
  if (err instanceof TypeError || err instanceof RangeError) err.message = `${where}: ${err.message}`;
  return err;
}
