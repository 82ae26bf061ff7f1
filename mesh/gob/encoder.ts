// A gob stream writer that reproduces Go 1.19's bytes (encoding/gob/encoder.go).
//
// encode(type, value):
//   1. type definitions the stream has not sent yet, each its own message (-id, wireType),
//      parent before children (a struct, then its fields' types in field order);
//   2. the value message: type id, then the value.
// Interface values follow Go's writer stack exactly: the concrete type's definitions flush the
// partly built enclosing message as a message of its own (top level) or are written inline
// into the enclosing interface's buffer (nested), then come the type id and the value as a
// counted block. Go's decoder reads across those message boundaries, and so does ours.
import { encodeStruct, encodeTop } from './encode-value.js';
import type { InterfaceWriter } from './encode-value.js';
import type { TypeEntry } from './type-ids.js';
import { GobTypeIds } from './type-ids.js';
import type { GobInterface, GobType, GobValue } from './types.js';
import { BASIC_IDS, isBasic } from './types.js';
import { ByteWriter, isUint64, uintSize } from './wire.js';
import { WIRE_TYPE, wireTypeValue } from './wire-type.js';

export interface GobEncoderOptions {
  /**
   * The type-id table, standing for one Go process. Default: a fresh table, so the stream
   * numbers its types from 65. Share one table between encoders to mimic a long-lived Go
   * process whose later streams continue the numbering.
   */
  typeIds?: GobTypeIds;
  /** Bytes to reserve for the stream up front (a good guess saves the copies of growing). */
  capacity?: number;
}

/** One self-contained gob stream (one mesh message). */
export class GobEncoder implements InterfaceWriter {
  private readonly out: ByteWriter;
  private readonly writers: ByteWriter[];
  private readonly sent = new Set<TypeEntry>();
  private readonly ids: GobTypeIds;
  private readonly top = new ByteWriter();
  private sentNow: TypeEntry[] = [];

  constructor(options: GobEncoderOptions = {}) {
    this.ids = options.typeIds ?? new GobTypeIds();
    this.out = new ByteWriter(options.capacity ?? 512);
    this.writers = [this.out];
  }

  /**
   * Appends one value, preceded by the definitions of types this stream has not sent yet.
   * Throws TypeError/RangeError if `value` does not fit `type`; the stream is then unchanged.
   */
  encode(type: GobType, value: GobValue): this {
    return this.encodeRaw(type, (b) => encodeTop(this, b, type, value));
  }

  /**
   * encode() for a caller that writes the value itself, for a hot type whose layout it knows:
   * `write` must append exactly what encode would for the value (mesh/topology-codec.test.ts
   * holds the topology writers to that).
   */
  encodeRaw(type: GobType, write: (b: ByteWriter) => void): this {
    const mark = this.out.length;
    this.sentNow = [];
    try {
      const b = this.top;
      b.reset();
      const e = this.sendTypeDescriptor(this.out, b, type);
      b.writeInt(e.id);
      write(b);
      this.out.writeMessage(b);
    } catch (err) {
      this.out.truncate(mark);
      this.writers.length = 1;
      for (const e of this.sentNow) this.sent.delete(e);
      if (err instanceof Error) err.message = `gob: ${err.message}`;
      throw err;
    }
    return this;
  }

  /**
   * Appends value messages made earlier as encodeRaw writes them, of types this stream has
   * already sent (the caller's promise: nothing is checked).
   */
  appendMessages(messages: Uint8Array): this {
    this.out.writeRaw(messages);
    return this;
  }

  /** The stream so far (a copy). */
  bytes(): Buffer {
    return this.out.toBuffer();
  }

  /** The stream, without copying: for an encoder that is done (nothing may be encoded after). */
  take(): Buffer {
    return this.out.detach();
  }

  writeInterface(b: ByteWriter, v: GobInterface): void {
    if (v.name === '') throw new TypeError('interface value needs the name its type is registered under');
    if (v.type.kind === 'interface') throw new TypeError('an interface cannot hold an interface type');
    b.writeString(v.name);
    const e = this.sendTypeDescriptor(this.writers[this.writers.length - 1]!, b, v.type);
    b.writeInt(e.id);
    const data = new ByteWriter(64);
    this.writers.push(b);
    try {
      encodeTop(this, data, v.type, v.value);
    } finally {
      this.writers.pop();
    }
    b.writeMessage(data);
  }

  private sendTypeDescriptor(w: ByteWriter, b: ByteWriter, t: GobType): TypeEntry {
    const e = this.ids.entryFor(t);
    if (!this.sent.has(e)) {
      this.sendType(w, b, t);
      this.markSent(e);
    }
    return e;
  }

  /** Go's sendType: define `t` if needed (flushing `b` into `w`), then its component types. */
  private sendType(w: ByteWriter, b: ByteWriter, t: GobType): void {
    if (isBasic(t)) return;
    const e = this.ids.entryFor(t);
    if (this.sent.has(e)) return;
    if (b.length === 0 && e.definitionMessage !== undefined) {
      w.writeRaw(e.definitionMessage);
    } else {
      // A definition that is a message of its own is kept for the next stream on this table.
      const alone = b.length === 0;
      const start = w.length;
      b.writeInt(-e.id);
      encodeStruct(this, b, WIRE_TYPE, wireTypeValue(e.id, this.ids.definition(e)));
      w.writeMessage(b);
      if (alone) e.definitionMessage = Buffer.from(w.view().subarray(start));
    }
    this.markSent(e);
    switch (t.kind) {
      case 'struct':
        for (const f of t.fields) this.sendType(w, b, f.type);
        break;
      case 'slice':
      case 'array':
        this.sendType(w, b, t.elem);
        break;
      case 'map':
        this.sendType(w, b, t.key);
        this.sendType(w, b, t.elem);
        break;
    }
  }

  private markSent(e: TypeEntry): void {
    if (this.sent.has(e)) return;
    this.sent.add(e);
    this.sentNow.push(e);
  }
}

/** A complete stream holding `items` in order. */
export function gobEncode(...items: Array<[GobType, GobValue]>): Buffer {
  const direct = encodeBasics(items);
  if (direct) return direct;
  const enc = new GobEncoder();
  for (const [type, value] of items) enc.encode(type, value);
  return enc.bytes();
}

/**
 * Streams of strings, byte slices and uints only (the gossip envelope: channel, source, payload)
 * written straight into one buffer of the exact size: the general path copies a payload of
 * tens of KB several times over. undefined: another type, or a value the general path must judge.
 */
function encodeBasics(items: Array<[GobType, GobValue]>): Buffer | undefined {
  const bodies: number[] = [];
  let total = 0;
  for (const [t, v] of items) {
    let n: number;
    if (t.kind === 'string' && typeof v === 'string') {
      const len = Buffer.byteLength(v, 'utf8');
      n = uintSize(len) + len;
    } else if (t.kind === 'bytes' && v instanceof Uint8Array) n = uintSize(v.length) + v.length;
    else if (t.kind === 'uint' && ((typeof v === 'bigint' && isUint64(v)) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0))) n = uintSize(v);
    else return undefined;
    const body = 2 + n; // the type id (one byte: a predefined id), the singleton delta 0, the value
    bodies.push(body);
    total += uintSize(body) + body;
  }
  const w = new ByteWriter(total);
  items.forEach(([t, v], i) => {
    w.writeUint(bodies[i]!);
    w.writeInt(BASIC_IDS[t.kind as 'string' | 'bytes' | 'uint']);
    w.writeByte(0);
    if (t.kind === 'string') w.writeString(v as string);
    else if (t.kind === 'bytes') w.writeBytes(v as Uint8Array);
    else w.writeUint(v as number | bigint);
  });
  return w.detach();
}
