// Comparison helpers for gob tests: a type's structure without names (Go names a type after
// the place it first met it, so decoded names differ from declared ones), and values made
// comparable with the types inside interface values reduced to that structure.
import type { GobInterface, GobStruct, GobType, GobValue } from '../../mesh/gob/index.js';
import { omitted } from '../../mesh/gob/encode-value.js';

export function shape(t: GobType, path: GobType[] = []): string {
  const at = path.indexOf(t);
  if (at >= 0) return `^${path.length - at}`;
  const sub = (c: GobType): string => shape(c, [...path, t]);
  switch (t.kind) {
    case 'struct':
      return `struct{${t.fields.map((f) => `${f.name} ${sub(f.type)}`).join('; ')}}`;
    case 'slice':
      return `[]${sub(t.elem)}`;
    case 'array':
      return `[${t.len}]${sub(t.elem)}`;
    case 'map':
      return `map[${sub(t.key)}]${sub(t.elem)}`;
    case 'opaque':
      return `opaque(${t.marshal})`;
    default:
      return t.kind;
  }
}


/**
 * `v` as a decoder returns it: struct fields Go omits dropped, number ints as bigint, bytes
 * as Buffer, interface types reduced to their shape.
 */
export function comparable(t: GobType, v: GobValue | undefined): unknown {
  if (v === undefined || v === null) return t.kind === 'interface' ? null : v;
  switch (t.kind) {
    case 'int':
    case 'uint':
      return BigInt(v as bigint | number);
    case 'bytes':
    case 'opaque':
      return Buffer.from(v as Uint8Array);
    case 'interface': {
      const i = v as GobInterface;
      return { name: i.name, type: shape(i.type), value: comparable(i.type, i.value) };
    }
    case 'slice':
    case 'array':
      return (v as GobValue[]).map((x) => comparable(t.elem, x));
    case 'map':
      return new Map([...(v as Map<GobValue, GobValue>)].map(([k, x]) => [comparable(t.key, k), comparable(t.elem, x)]));
    case 'struct': {
      const s = v as GobStruct;
      return Object.fromEntries(t.fields.filter((f) => !omitted(f.type, s[f.name])).map((f) => [f.name, comparable(f.type, s[f.name])]));
    }
    default:
      return v;
  }
}
