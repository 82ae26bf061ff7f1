// Typed reads of decoded values, for callers that pick struct fields by name. Go omits
// zero-valued fields, so a missing field reads as the zero value (or the given default).
import type { GobStruct, GobValue } from './types.js';

export function isStruct(v: GobValue | undefined): v is GobStruct {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array);
}

/** Field `name` of a decoded struct, or undefined if absent or `s` is not a struct. */
export function field(s: GobValue | undefined, name: string): GobValue | undefined {
  return isStruct(s) && Object.hasOwn(s, name) ? s[name] : undefined;
}

export function asBigint(v: GobValue | undefined, def = 0n): bigint {
  return typeof v === 'bigint' ? v : def;
}

export function asNumber(v: GobValue | undefined, def = 0): number {
  return typeof v === 'number' ? v : def;
}

export function asString(v: GobValue | undefined, def = ''): string {
  return typeof v === 'string' ? v : def;
}

export function asBool(v: GobValue | undefined, def = false): boolean {
  return typeof v === 'boolean' ? v : def;
}

export function asBytes(v: GobValue | undefined): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(0);
}

export function asArray(v: GobValue | undefined): readonly GobValue[] {
  return Array.isArray(v) ? v : [];
}

export function asMap(v: GobValue | undefined): ReadonlyMap<GobValue, GobValue> {
  return v instanceof Map ? v : new Map();
}
