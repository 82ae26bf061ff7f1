// Canonical JSON of a gob value, the same form main.go prints for Go values: ints as decimal
// strings, floats as their IEEE bits in hex, bytes as hex, maps as {"map": [[k, v], ...]},
// structs with every field (absent = zero), interfaces as null or {type, value}.
import type { GobComplex, GobInterface, GobStruct, GobType, GobValue } from '../../mesh/gob/index.js';

type Json = null | boolean | string | Json[] | { [k: string]: Json };

const bits = new DataView(new ArrayBuffer(8));

function floatHex(f: number): string {
  bits.setFloat64(0, f);
  return bits.getBigUint64(0).toString(16).padStart(16, '0');
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export function canon(t: GobType, v: GobValue | undefined): Json {
  switch (t.kind) {
    case 'bool':
      return v === true;
    case 'int':
    case 'uint':
      return String(v ?? 0n);
    case 'float':
      return floatHex((v as number | undefined) ?? 0);
    case 'complex': {
      const c = (v as GobComplex | undefined) ?? { re: 0, im: 0 };
      return [floatHex(c.re), floatHex(c.im)];
    }
    case 'string':
      return (v as string | undefined) ?? '';
    case 'bytes':
    case 'opaque':
      return hex((v as Uint8Array | undefined) ?? new Uint8Array(0));
    case 'slice':
      return ((v as GobValue[] | undefined) ?? []).map((x) => canon(t.elem, x));
    case 'array': {
      const items = (v as GobValue[] | undefined) ?? [];
      return Array.from({ length: t.len }, (_, i) => canon(t.elem, items[i]));
    }
    case 'map': {
      const m = (v as Map<GobValue, GobValue> | undefined) ?? new Map<GobValue, GobValue>();
      return { map: [...m].map(([k, x]) => [canon(t.key, k), canon(t.elem, x)]) };
    }
    case 'struct': {
      const s = (v as GobStruct | undefined) ?? {};
      return Object.fromEntries(t.fields.map((f) => [f.name, canon(f.type, s[f.name])]));
    }
    case 'interface': {
      if (v === undefined || v === null) return null;
      const i = v as GobInterface;
      return { type: i.name, value: canon(i.type, i.value) };
    }
  }
}

/** JSON text with object keys sorted and map pairs sorted by key, so equal values print equal. */
export function stable(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stable).join(',')}]`;
  if (x !== null && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    if (keys.length === 1 && keys[0] === 'map' && Array.isArray(o.map)) {
      const pairs = (o.map as unknown[][]).map(([k, v]) => [stable(k), stable(v)] as const);
      pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return `{"map":[${pairs.map(([k, v]) => `[${k},${v}]`).join(',')}]}`;
    }
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(x);
}
