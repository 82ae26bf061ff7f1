// Type definitions as they travel: Go's wireType struct (encoding/gob/type.go), sent as the
// pair (-id, wireType) before the first value that needs the type. wireType itself is
// predefined (id 16) and encoded like any struct, so both directions reuse the value codec
// with the GobType below. Exactly one of its fields is set.
import { fail } from './reader.js';
import type { GobStruct, GobValue } from './types.js';
import { T } from './types.js';

const commonType = T.struct('CommonType', { Name: T.string, Id: T.int });
const gobEncoderType = T.struct('gobEncoderType', { CommonType: commonType });
const fieldType = T.struct('fieldType', { Name: T.string, Id: T.int });

export const WIRE_TYPE = T.struct('wireType', {
  ArrayT: T.struct('arrayType', { CommonType: commonType, Elem: T.int, Len: T.int }),
  SliceT: T.struct('sliceType', { CommonType: commonType, Elem: T.int }),
  StructT: T.struct('structType', { CommonType: commonType, Field: T.slice(fieldType) }),
  MapT: T.struct('mapType', { CommonType: commonType, Key: T.int, Elem: T.int }),
  GobEncoderT: gobEncoderType,
  BinaryMarshalerT: gobEncoderType,
  TextMarshalerT: gobEncoderType,
});

export type Marshal = 'gob' | 'binary' | 'text';

/** A type definition with its component types as ids. */
export type WireDef =
  | { kind: 'array'; name: string; elem: number; len: number }
  | { kind: 'slice'; name: string; elem: number }
  | { kind: 'struct'; name: string; fields: Array<{ name: string; id: number }> }
  | { kind: 'map'; name: string; key: number; elem: number }
  | { kind: 'opaque'; name: string; marshal: Marshal };

const MARSHAL_FIELD: Record<Marshal, string> = { gob: 'GobEncoderT', binary: 'BinaryMarshalerT', text: 'TextMarshalerT' };

/** The wireType value Go sends for definition `def` with id `id`. */
export function wireTypeValue(id: number, def: WireDef): GobStruct {
  const common = { Name: def.name, Id: BigInt(id) };
  switch (def.kind) {
    case 'array':
      return { ArrayT: { CommonType: common, Elem: BigInt(def.elem), Len: BigInt(def.len) } };
    case 'slice':
      return { SliceT: { CommonType: common, Elem: BigInt(def.elem) } };
    case 'struct':
      return {
        StructT: { CommonType: common, Field: def.fields.map((f) => ({ Name: f.name, Id: BigInt(f.id) })) },
      };
    case 'map':
      return { MapT: { CommonType: common, Key: BigInt(def.key), Elem: BigInt(def.elem) } };
    case 'opaque':
      return { [MARSHAL_FIELD[def.marshal]]: { CommonType: common } };
  }
}

const INT32_MAX = 2 ** 31 - 1;

/** Checks a decoded wireType value and turns it into a WireDef; fails on anything malformed. */
export function wireDefFrom(id: number, w: GobStruct): WireDef {
  const set = Object.keys(w);
  if (set.length !== 1) {
    fail(set.length === 0 ? `type ${id}: empty definition` : `type ${id}: definition sets ${set.join(' and ')}`);
  }
  const which = set[0]!;
  const body = w[which] as GobStruct;
  const name = typeName(body);
  const ref = (field: string): number => typeRef(id, body[field], `${which}.${field}`);
  switch (which) {
    case 'ArrayT': {
      const len = (body.Len as bigint | undefined) ?? 0n;
      if (len < 0n || len > BigInt(INT32_MAX)) fail(`type ${id}: array length ${len} out of range`);
      return { kind: 'array', name, elem: ref('Elem'), len: Number(len) };
    }
    case 'SliceT':
      return { kind: 'slice', name, elem: ref('Elem') };
    case 'MapT':
      return { kind: 'map', name, key: ref('Key'), elem: ref('Elem') };
    case 'StructT': {
      const seen = new Set<string>();
      const fields = ((body.Field as GobStruct[] | undefined) ?? []).map((f, i) => {
        const fname = (f.Name as string | undefined) ?? '';
        if (fname === '') fail(`type ${id}: struct ${name} field ${i} has no name`);
        if (seen.has(fname)) fail(`type ${id}: struct ${name} has two fields named ${fname}`);
        seen.add(fname);
        return { name: fname, id: typeRef(id, f.Id, `field ${fname}`) };
      });
      return { kind: 'struct', name, fields };
    }
    case 'GobEncoderT':
      return { kind: 'opaque', name, marshal: 'gob' };
    case 'BinaryMarshalerT':
      return { kind: 'opaque', name, marshal: 'binary' };
    default:
      return { kind: 'opaque', name, marshal: 'text' };
  }
}

function typeName(body: GobStruct): string {
  const common = body.CommonType as GobStruct | undefined;
  return (common?.Name as string | undefined) ?? '';
}

function typeRef(id: number, v: GobValue | undefined, what: string): number {
  const n = (v as bigint | undefined) ?? 0n;
  if (n <= 0n || n > BigInt(INT32_MAX)) fail(`type ${id}: ${what} refers to type id ${n}`);
  return Number(n);
}
