// Decodes one self-contained gob stream (encoding/gob/decoder.go) into self-describing values.
//
// stream   = { typeSequence value }
// typeSeq  = { message(-id wireType) } then the value's id, at the start of a message;
//            zero-length messages are skipped.
// Type definitions are kept by id as sent and resolved into GobTypes when a value needs them
// (a slice's definition arrives before its element's). Struct fields are named by the
// definitions, so values come out keyed by field name whatever ids the sender used.
// Anything malformed yields { ok: false, reason }, never an exception.
import { decodeStruct, decodeTop } from './decode-value.js';
import type { DecodeLimits, ValueSource } from './decode-value.js';
import { DecodeFailure, Reader, fail } from './reader.js';
import type { GobType, GobValue } from './types.js';
import { FIRST_USER_ID, basicById } from './types.js';
import type { WireDef } from './wire-type.js';
import { WIRE_TYPE, wireDefFrom } from './wire-type.js';
import type { Result } from '../../lib/result.js';

export type { DecodeLimits } from './decode-value.js';
export type GobDecoded = { type: GobType; value: GobValue };
export type GobResult = Result<GobDecoded[]>;

export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = {
  maxValues: 1 << 20,
  maxDepth: 100,
  maxElements: 1 << 24,
};

const INTERFACE_ID = 8;

/**
 * Decoded type definitions by id and bytes, shared by all streams (a WireDef is never changed
 * once made). Bounded: a peer sending endless new definitions only empties it now and then.
 */
const definitionCache = new Map<string, WireDef>();
const DEFINITION_CACHE_SIZE = 256;
/**
 * Only definitions this short are cached, and types resolved only while a stream's definitions
 * add up to at most SIGNATURE_MAX characters: mesh's are ~100 bytes each, and a peer sending huge
 * definitions must not make the caches hold hundreds of copies of them.
 */
const CACHED_DEFINITION_MAX = 1_024;
const SIGNATURE_MAX = 4_096;

/**
 * Resolved top-level types, by the definitions a stream had made when it asked (and the depth
 * limit): every mesh message defines the same few types with the same bytes, and building their
 * GobTypes again for each message was 4 % of all the memory a mesh allocated. Bounded as above.
 */
const resolvedCache = new Map<string, Map<number, GobType>>();

/** Reads one top-level value (a struct, or the singleton delta and the value) of a type it was made for. */
export type ValueReader = (src: ValueSource) => unknown;

/** A value gobDecodeWith gave to a reader (`read`), or decoded as gobDecode would. */
export type GobDecodedWith = { type: GobType; value: unknown; read?: true };

export function gobDecode(buf: Uint8Array, limits: Partial<DecodeLimits> = {}): GobResult {
  return guarded(() => new StreamDecoder(buf, { ...DEFAULT_DECODE_LIMITS, ...limits }).run() as GobDecoded[]);
}

/**
 * gobDecode, except that top-level values of the types `readerFor` recognises (asked once per
 * type in the stream) are read by the reader it returns: a hot, fixed layout without the general
 * decoder's self-describing values. Its failures (`fail`) become { ok: false } as any other.
 */
export function gobDecodeWith(buf: Uint8Array, readerFor: (t: GobType) => ValueReader | undefined, limits: Partial<DecodeLimits> = {}): Result<GobDecodedWith[]> {
  return guarded(() => new StreamDecoder(buf, { ...DEFAULT_DECODE_LIMITS, ...limits }, readerFor).run());
}

function guarded<T>(run: () => T): Result<T> {
  try {
    return { ok: true, value: run() };
  } catch (err) {
    if (err instanceof DecodeFailure) return { ok: false, reason: err.reason };
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      return { ok: false, reason: 'input nests too deeply for the stack (lower maxDepth)' };
    }
    return { ok: false, reason: `internal decoder error: ${err instanceof Error ? err.message : String(err)}` };
  }
}

class StreamDecoder implements ValueSource {
  readonly r: Reader;
  private readonly defs = new Map<number, WireDef>();
  private readonly resolved = new Map<number, GobType>();
  private elements = 0;
  private readonly readers = new Map<number, ValueReader | undefined>();
  /** The depth limit and the cache keys of the definitions so far; null once one was not cacheable. */
  private signature: string | null;

  constructor(
    buf: Uint8Array,
    readonly limits: DecodeLimits,
    private readonly readerFor?: (t: GobType) => ValueReader | undefined,
  ) {
    this.r = new Reader(buf);
    this.signature = `${limits.maxDepth}`;
  }

  run(): GobDecodedWith[] {
    const out: GobDecodedWith[] = [];
    for (;;) {
      const id = this.typeSequence(false);
      if (id === undefined) return out;
      if (out.length >= this.limits.maxValues) fail(`more than ${this.limits.maxValues} values in one stream`);
      const type = this.resolveTop(id);
      let reader: ValueReader | undefined;
      if (this.readerFor !== undefined) {
        if (!this.readers.has(id)) this.readers.set(id, this.readerFor(type));
        reader = this.readers.get(id);
      }
      const value = reader !== undefined ? reader(this) : decodeTop(this, type, 0);
      if (this.r.left > 0) fail(`${this.r.left} bytes of trailing garbage after value ${out.length} in its message`);
      out.push(reader !== undefined ? { type, value, read: true } : { type, value });
    }
  }

  concreteType(): GobType {
    const id = this.typeSequence(true);
    if (id === undefined) fail('stream ends inside an interface value');
    if (id === INTERFACE_ID) fail('interface value whose concrete type is an interface');
    return this.resolveTop(id);
  }

  spend(n: number): void {
    this.elements += n;
    if (this.elements > this.limits.maxElements) fail(`more than ${this.limits.maxElements} elements in one stream`);
  }

  /** Go's decodeTypeSequence: definitions, then the id of the value that follows. */
  private typeSequence(inInterface: boolean): number | undefined {
    const r = this.r;
    let sawDefinition = false;
    for (;;) {
      if (r.left === 0) {
        if (r.atStreamEnd()) {
          if (!inInterface && !sawDefinition) return undefined;
          fail(sawDefinition ? 'stream ends after type definitions without a value' : 'stream ends inside an interface value');
        }
        r.nextMessage();
        continue;
      }
      const id = r.readTypeId();
      if (id >= 0) return id;
      this.define(-id, !inInterface);
      sawDefinition = true;
      if (r.left > 0) {
        if (!inInterface) fail(`${r.left} bytes of extra data after the definition of type ${-id}`);
        r.readUint('delimiter'); // inside an interface value, the next block's count
      }
    }
  }

  /**
   * A definition at top level fills the rest of its message: those bytes are the cache key, so a
   * stream that defines its types as the last one did (every mesh message defines the same few)
   * skips decoding them.
   */
  private define(id: number, wholeMessage: boolean): void {
    if (id < FIRST_USER_ID) fail(`type definition uses reserved id ${id}`);
    if (this.defs.has(id)) fail(`duplicate definition of type id ${id}`);
    const key = wholeMessage && this.r.left <= CACHED_DEFINITION_MAX ? `${id} ${this.r.peekRest()}` : undefined;
    this.signature = key === undefined || this.signature === null || this.signature.length + key.length >= SIGNATURE_MAX ? null : `${this.signature}\0${key}`;
    const cached = key === undefined ? undefined : definitionCache.get(key);
    if (cached !== undefined) {
      this.r.skipRest();
      this.defs.set(id, cached);
      return;
    }
    const def = wireDefFrom(id, decodeStruct(this, WIRE_TYPE, 0));
    this.defs.set(id, def);
    if (key !== undefined && this.r.left === 0) {
      if (definitionCache.size >= DEFINITION_CACHE_SIZE) definitionCache.clear();
      definitionCache.set(key, def);
    }
  }

  /** The GobType of a value's `id`, as an earlier stream with the same definitions resolved it if one did. */
  private resolveTop(id: number): GobType {
    if (this.signature === null || basicById(id) !== undefined) return this.resolve(id, 0);
    let known = resolvedCache.get(this.signature);
    const hit = known?.get(id);
    if (hit !== undefined) return hit;
    const t = this.resolve(id, 0);
    if (known === undefined) {
      if (resolvedCache.size >= DEFINITION_CACHE_SIZE) resolvedCache.clear();
      known = new Map();
      resolvedCache.set(this.signature, known);
    }
    known.set(id, t);
    return t;
  }

  /** The GobType of `id`; recursive types come out as object cycles. */
  private resolve(id: number, depth: number): GobType {
    const basic = basicById(id);
    if (basic !== undefined) return basic;
    const known = this.resolved.get(id);
    if (known !== undefined) return known;
    const def = this.defs.get(id);
    if (def === undefined) fail(id > 0 && id < FIRST_USER_ID ? `type id ${id} is reserved` : `undefined type id ${id}`);
    if (depth >= this.limits.maxDepth) fail(`type definitions nested deeper than ${this.limits.maxDepth} levels`);
    const name = def.name === '' ? {} : { name: def.name };
    const sub = (ref: number): GobType => this.resolve(ref, depth + 1);
    switch (def.kind) {
      case 'opaque': {
        const t: GobType = { kind: 'opaque', name: def.name, marshal: def.marshal };
        this.resolved.set(id, t);
        return t;
      }
      case 'struct': {
        const fields: Array<{ name: string; type: GobType }> = [];
        const t: GobType = { kind: 'struct', name: def.name, fields };
        this.resolved.set(id, t);
        for (const f of def.fields) fields.push({ name: f.name, type: sub(f.id) });
        return t;
      }
      case 'slice': {
        const t = { kind: 'slice', ...name, elem: T_PENDING } as { kind: 'slice'; elem: GobType };
        this.resolved.set(id, t);
        t.elem = sub(def.elem);
        return t;
      }
      case 'array': {
        const t = { kind: 'array', ...name, elem: T_PENDING, len: def.len } as { kind: 'array'; elem: GobType; len: number };
        this.resolved.set(id, t);
        t.elem = sub(def.elem);
        return t;
      }
      case 'map': {
        const t = { kind: 'map', ...name, key: T_PENDING, elem: T_PENDING } as { kind: 'map'; key: GobType; elem: GobType };
        this.resolved.set(id, t);
        t.key = sub(def.key);
        t.elem = sub(def.elem);
        return t;
      }
    }
  }
}

/** Stands in for a component type while a recursive definition is being resolved. */
const T_PENDING: GobType = { kind: 'interface' };
