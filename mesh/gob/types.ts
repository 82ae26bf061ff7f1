// The gob type model: what a Go type looks like on the wire, and how its values look in
// TypeScript. Treat GobType objects as immutable once used (encoders cache by identity).
//
// Names: `name` on struct/opaque is the Go type's name (reflect.Type.Name(), e.g.
// "peerSummary"); on slice/array/map it is the Go type's name if it is a named type
// (`type Names []string`). Go sends names in type definitions only for people; decoders match
// by structure. For unnamed types met first as a struct field, Go sends the Go type string
// (e.g. "[]string"): the encoder derives it from the element types; give `name` where that
// derivation cannot know the Go spelling (int widths, package qualifiers: "[]mesh.PeerName").

export type GobType =
  | { readonly kind: 'bool' }
  | { readonly kind: 'int' }
  | { readonly kind: 'uint' }
  | { readonly kind: 'float' }
  | { readonly kind: 'bytes' }
  | { readonly kind: 'string' }
  | { readonly kind: 'complex' }
  | { readonly kind: 'interface' }
  | GobStructType
  | { readonly kind: 'slice'; readonly name?: string; readonly elem: GobType }
  | { readonly kind: 'array'; readonly name?: string; readonly elem: GobType; readonly len: number }
  | { readonly kind: 'map'; readonly name?: string; readonly key: GobType; readonly elem: GobType }
  /** A GobEncoder / BinaryMarshaler / TextMarshaler: the value travels as its marshalled bytes. */
  | { readonly kind: 'opaque'; readonly name: string; readonly marshal: 'gob' | 'binary' | 'text' };

export interface GobStructType {
  readonly kind: 'struct';
  readonly name: string;
  readonly fields: ReadonlyArray<{ readonly name: string; readonly type: GobType }>;
}

export type GobKind = GobType['kind'];

export interface GobComplex {
  re: number;
  im: number;
}

/** A non-nil interface value: the name the concrete type was registered under, and the value. */
export interface GobInterface {
  name: string;
  type: GobType;
  value: GobValue;
}

/** A struct value keyed by Go field name. Decoded structs hold only the fields sent (Go omits zeros). */
export interface GobStruct {
  [field: string]: GobValue | undefined;
}

/**
 * bool→boolean, int/uint→bigint, float→number, bytes/opaque→Uint8Array, string→string,
 * slice/array→array, map→Map, struct→GobStruct, complex→{re,im}, interface→GobInterface or
 * null (nil). Strings travel as UTF-8 (invalid bytes from the wire decode to U+FFFD). The
 * encoder also takes a safe-integer number for int/uint.
 */
export type GobValue =
  | boolean
  | bigint
  | number
  | string
  | Uint8Array
  | GobValue[]
  | Map<GobValue, GobValue>
  | GobStruct
  | GobComplex
  | GobInterface
  | null;

export type BasicKind = 'bool' | 'int' | 'uint' | 'float' | 'bytes' | 'string' | 'complex' | 'interface';

/** Go's predefined type ids (encoding/gob/type.go). */
export const BASIC_IDS: Readonly<Record<BasicKind, number>> = {
  bool: 1,
  int: 2,
  uint: 3,
  float: 4,
  bytes: 5,
  string: 6,
  complex: 7,
  interface: 8,
};

/** Ids below this are Go's own; user types are numbered from FIRST_USER_ID + 1. */
export const FIRST_USER_ID = 64;

export function isBasic(t: GobType): t is Extract<GobType, { kind: BasicKind }> {
  return Object.hasOwn(BASIC_IDS, t.kind);
}

type FieldList = Readonly<Record<string, GobType>> | ReadonlyArray<readonly [string, GobType]>;

function fieldList(fields: FieldList): GobStructType['fields'] {
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields as Record<string, GobType>);
  return pairs.map(([name, type]) => ({ name, type }));
}

/** Basic types and constructors for the composite ones. */
export const T = {
  bool: { kind: 'bool' },
  int: { kind: 'int' },
  uint: { kind: 'uint' },
  float: { kind: 'float' },
  bytes: { kind: 'bytes' },
  string: { kind: 'string' },
  complex: { kind: 'complex' },
  interface: { kind: 'interface' },
  struct(name: string, fields: FieldList): GobStructType {
    return { kind: 'struct', name, fields: fieldList(fields) };
  },
  slice(elem: GobType, name?: string): GobType {
    return name === undefined ? { kind: 'slice', elem } : { kind: 'slice', name, elem };
  },
  array(elem: GobType, len: number, name?: string): GobType {
    return name === undefined ? { kind: 'array', elem, len } : { kind: 'array', name, elem, len };
  },
  map(key: GobType, elem: GobType, name?: string): GobType {
    return name === undefined ? { kind: 'map', key, elem } : { kind: 'map', name, key, elem };
  },
  opaque(name: string, marshal: 'gob' | 'binary' | 'text' = 'gob'): GobType {
    return { kind: 'opaque', name, marshal };
  },
} as const satisfies Record<BasicKind, GobType> & Record<string, unknown>;

const BY_ID: readonly GobType[] = [T.bool, T.int, T.uint, T.float, T.bytes, T.string, T.complex, T.interface];

/** The GobType for a predefined id (1..8), or undefined. */
export function basicById(id: number): GobType | undefined {
  return id >= 1 && id <= BY_ID.length ? BY_ID[id - 1] : undefined;
}

/**
 * Whether two types have the same wire layout: kinds, struct field names and order, element
 * types (type names aside: Go and we may name them differently). Deeper than `depth`: no.
 */
export function sameShape(a: GobType, b: GobType, depth = 8): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind || depth === 0) return false;
  switch (a.kind) {
    case 'struct': {
      const bf = (b as GobStructType).fields;
      return a.fields.length === bf.length && a.fields.every((f, i) => f.name === bf[i]!.name && sameShape(f.type, bf[i]!.type, depth - 1));
    }
    case 'slice':
      return sameShape(a.elem, (b as typeof a).elem, depth - 1);
    case 'array':
      return a.len === (b as typeof a).len && sameShape(a.elem, (b as typeof a).elem, depth - 1);
    case 'map':
      return sameShape(a.key, (b as typeof a).key, depth - 1) && sameShape(a.elem, (b as typeof a).elem, depth - 1);
    case 'opaque':
      return a.name === (b as typeof a).name && a.marshal === (b as typeof a).marshal;
    default:
      return true;
  }
}
