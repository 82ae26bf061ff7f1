// Type identity for the encoder. Go numbers each distinct reflect.Type once; here two GobTypes
// are the same Go type when they are structurally equal (names included). Recursive types
// (object cycles) are keyed with back-references ("^n" = the type n levels up), so the key of
// a type does not depend on where the walk started.
import type { GobType } from './types.js';
import { isBasic } from './types.js';

const cache = new WeakMap<object, string>();

/** A string equal for two GobTypes exactly when Go would see one type. */
export function typeKey(t: GobType): string {
  return walk(t, []).key;
}

function walk(t: GobType, path: GobType[]): { key: string; escapes: number } {
  if (isBasic(t)) return { key: t.kind, escapes: Infinity };
  const cached = cache.get(t);
  if (cached !== undefined) return { key: cached, escapes: Infinity };
  const at = path.indexOf(t);
  if (at >= 0) return { key: `^${path.length - at}`, escapes: at };
  const depth = path.length;
  path.push(t);
  let escapes = Infinity;
  const sub = (c: GobType): string => {
    const r = walk(c, path);
    escapes = Math.min(escapes, r.escapes);
    return r.key;
  };
  let key: string;
  switch (t.kind) {
    case 'struct':
      key = `s${JSON.stringify(t.name)}{${t.fields.map((f) => `${JSON.stringify(f.name)}:${sub(f.type)}`).join(',')}}`;
      break;
    case 'slice':
      key = `[]${named(t.name)}(${sub(t.elem)})`;
      break;
    case 'array':
      key = `[${t.len}]${named(t.name)}(${sub(t.elem)})`;
      break;
    case 'map':
      key = `m${named(t.name)}(${sub(t.key)};${sub(t.elem)})`;
      break;
    case 'opaque':
      key = `o${JSON.stringify(t.name)}${t.marshal}`;
      break;
    default:
      throw new TypeError(`gob: unknown type kind ${JSON.stringify((t as { kind: unknown }).kind)}`);
  }
  path.pop();
  // Back-references to this type or below it are relative, so the key stands on its own.
  if (escapes >= depth) {
    cache.set(t, key);
    escapes = Infinity;
  }
  return { key, escapes };
}

function named(name: string | undefined): string {
  return name === undefined ? '' : JSON.stringify(name);
}

const GO_BASIC_NAMES: Readonly<Record<string, string>> = {
  bool: 'bool',
  int: 'int',
  uint: 'uint',
  float: 'float64',
  bytes: '[]uint8',
  string: 'string',
  complex: 'complex128',
  interface: 'interface {}',
};

/** Go's reflect.Type.String() for `t`, as well as the GobType tells it (see types.ts on names). */
export function goTypeString(t: GobType, seen: Set<GobType> = new Set()): string {
  if (isBasic(t)) return GO_BASIC_NAMES[t.kind]!;
  if (t.kind === 'struct' || t.kind === 'opaque') return t.name;
  if (t.name !== undefined) return t.name;
  if (seen.has(t)) return '?';
  seen.add(t);
  switch (t.kind) {
    case 'slice':
      return `[]${goTypeString(t.elem, seen)}`;
    case 'array':
      return `[${t.len}]${goTypeString(t.elem, seen)}`;
    case 'map':
      return `map[${goTypeString(t.key, seen)}]${goTypeString(t.elem, seen)}`;
  }
}

/** The name Go's reflect gives the type (Type.Name()): empty for unnamed composites. */
export function goName(t: GobType): string {
  return isBasic(t) ? '' : (t.name ?? '');
}
