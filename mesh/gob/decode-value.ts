// Value decoding against a resolved GobType (the mirror of encode-value.ts). Counts are
// checked against the bytes left in the message before anything is allocated: every
// element takes at least one byte, every map entry two.
import { fail } from './reader.js';
import type { Reader } from './reader.js';
import type { GobStruct, GobStructType, GobType, GobValue } from './types.js';
import { floatFromWire } from './wire.js';

export interface DecodeLimits {
  /** Most top-level values in one stream. */
  maxValues: number;
  /** Deepest nesting of composite values and of type definitions. */
  maxDepth: number;
  /** Most slice/array/map elements in one stream, all collections together. */
  maxElements: number;
}

/** What value decoding needs from the stream decoder. */
export interface ValueSource {
  readonly r: Reader;
  readonly limits: DecodeLimits;
  /** Reads an interface value's type sequence (maybe with definitions) and returns the concrete type. */
  concreteType(): GobType;
  /** Counts `n` more elements against maxElements. */
  spend(n: number): void;
}

const MAX_INTERFACE_NAME = 1024; // Go's decoder rejects longer names

/** A value as sent at top level or inside an interface: a struct, or a 0 delta then the value. */
export function decodeTop(src: ValueSource, t: GobType, depth: number): GobValue {
  if (t.kind === 'struct') return decodeStruct(src, t, depth);
  const delta = src.r.readUint('singleton delta');
  if (delta !== 0n) fail(`non-zero delta ${delta} before a ${t.kind} value`);
  return decodeValue(src, t, depth);
}

export function decodeStruct(src: ValueSource, t: GobStructType, depth: number): GobStruct {
  enter(src, depth, t);
  const r = src.r;
  const out: GobStruct = {};
  const fields = t.fields;
  let num = -1;
  for (;;) {
    if (r.left === 0) fail(`struct ${t.name} is not terminated before the end of its message`);
    const delta = r.readCount('field delta');
    if (delta === 0) return out;
    num += delta;
    if (num >= fields.length) fail(`field number ${num} out of range for struct ${t.name} (${fields.length} fields)`);
    const f = fields[num]!;
    const v = decodeValue(src, f.type, depth + 1);
    if (f.name === '__proto__') Object.defineProperty(out, f.name, { value: v, enumerable: true, writable: true, configurable: true });
    else out[f.name] = v;
  }
}

export function decodeValue(src: ValueSource, t: GobType, depth: number): GobValue {
  const r = src.r;
  switch (t.kind) {
    case 'bool':
      return r.readUint('bool') !== 0n;
    case 'int':
      return r.readInt();
    case 'uint':
      return r.readUint();
    case 'float':
      return floatFromWire(r.readUint('float'));
    case 'complex': {
      const re = floatFromWire(r.readUint('complex'));
      return { re, im: floatFromWire(r.readUint('complex')) };
    }
    case 'string':
      return r.readString(r.readCount('string length'), 'string');
    case 'bytes':
      return r.readBytes(r.readCount('[]byte length'), '[]byte');
    case 'opaque':
      return r.readBytes(r.readCount(`${t.name} length`), `${t.name} data`);
    case 'slice':
    case 'array': {
      enter(src, depth, t);
      const n = r.readCount(`${t.kind} length`);
      if (t.kind === 'array' && n !== t.len) fail(`array length ${n} does not match its type's length ${t.len}`);
      room(src, n, 1, t.kind);
      const out = new Array<GobValue>(n);
      for (let i = 0; i < n; i++) out[i] = decodeValue(src, t.elem, depth + 1);
      return out;
    }
    case 'map': {
      enter(src, depth, t);
      const n = r.readCount('map length');
      room(src, n, 2, 'map');
      const out = new Map<GobValue, GobValue>();
      for (let i = 0; i < n; i++) {
        const k = decodeValue(src, t.key, depth + 1);
        out.set(k, decodeValue(src, t.elem, depth + 1));
      }
      return out;
    }
    case 'struct':
      return decodeStruct(src, t, depth);
    case 'interface':
      return decodeInterface(src, depth);
  }
}

function decodeInterface(src: ValueSource, depth: number): GobValue {
  enter(src, depth, { kind: 'interface' });
  const r = src.r;
  const n = r.readCount('interface type name length');
  if (n === 0) return null;
  if (n > MAX_INTERFACE_NAME) fail(`interface type name of ${n} bytes is too long (max ${MAX_INTERFACE_NAME})`);
  const name = r.readString(n, 'interface type name');
  const type = src.concreteType();
  r.readUint('interface value length'); // Go skips it too: it is not always the value's length
  return { name, type, value: decodeTop(src, type, depth + 1) };
}

function enter(src: ValueSource, depth: number, t: GobType): void {
  if (depth >= src.limits.maxDepth) fail(`${t.kind} nested deeper than ${src.limits.maxDepth} levels`);
}

function room(src: ValueSource, n: number, bytesEach: number, what: string): void {
  const left = src.r.left;
  if (n * bytesEach > left) fail(`${what} of ${n} elements cannot fit in the ${left} bytes left in the message`);
  src.spend(n);
}
