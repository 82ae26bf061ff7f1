// Encoder rules that Go's bytes depend on: type-id order, definition order, names, which
// struct fields are left out. (go-cross.test.ts checks the same against Go itself.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GobStruct, GobStructType, GobType } from './index.js';
import { GobEncoder, GobTypeIds, T, gobDecode, gobEncode } from './index.js';
import { Reader } from './reader.js';

/** Each message's leading type id (negative for definitions) and the rest. (Streams without interfaces.) */
function messages(buf: Buffer): Array<{ id: number; rest: string }> {
  const r = new Reader(buf);
  const out: Array<{ id: number; rest: string }> = [];
  while (!r.atStreamEnd()) {
    r.nextMessage();
    const id = r.readTypeId();
    out.push({ id, rest: r.readBytes(r.left, 'rest').toString('hex') });
  }
  return out;
}

const messageIds = (buf: Buffer): number[] => messages(buf).map((m) => m.id);

function decodedType(buf: Buffer): GobType {
  const r = gobDecode(buf);
  if (!r.ok) throw new Error(r.reason);
  return r.value[0]!.type;
}

const fieldType = (t: GobType, name: string): GobType => (t as GobStructType).fields.find((f) => f.name === name)!.type;

describe('type ids and definitions', () => {
  it('numbers a struct before its fields, a slice or map after its elements; sends parents first', () => {
    const inner = T.struct('Inner', { X: T.int });
    const inner2 = T.struct('Inner2', { Y: T.string });
    const outer = T.struct('Outer', { A: T.slice(inner), M: T.map(T.string, inner2), R: T.array(T.float, 2) });
    // Outer 65; Inner 66, []Inner 67; Inner2 68, map 69; [2]float 70.
    expect(messageIds(gobEncode([outer, {}]))).toEqual([-65, -67, -66, -69, -68, -70, 65]);
  });

  it('sends each definition once per stream, and again in a new stream', () => {
    const p = T.struct('P', { X: T.int });
    const enc = new GobEncoder().encode(p, { X: 1n }).encode(p, { X: 2n });
    expect(messageIds(enc.bytes())).toEqual([-65, 65, 65]);
    expect(messageIds(gobEncode([p, {}]))).toEqual([-65, 65]);
  });

  it('treats structurally equal types as one Go type', () => {
    const s = T.struct('S', { A: T.slice(T.string), B: T.slice(T.string), C: T.map(T.string, T.int) });
    const t = T.struct('S', { A: T.slice(T.string), B: T.slice(T.string), C: T.map(T.string, T.int) });
    expect(messageIds(gobEncode([s, {}], [t, {}]))).toEqual([-65, -66, -67, 65, 65]);
  });

  it('continues the numbering across streams that share a GobTypeIds, like one Go process', () => {
    const ids = new GobTypeIds();
    expect(messageIds(new GobEncoder({ typeIds: ids }).encode(T.map(T.string, T.string), new Map()).bytes())).toEqual([-65, 65]);
    const again = new GobEncoder({ typeIds: ids }).encode(T.slice(T.int), []).encode(T.map(T.string, T.string), new Map());
    expect(messageIds(again.bytes())).toEqual([-66, 66, -65, 65]);
  });

  it('names types as Go does: own name, Go type string as a field, nothing as a map element', () => {
    const leaf = T.struct('Leaf', { N: T.int });
    const t = decodedType(gobEncode([T.struct('S', { Tags: T.slice(T.string), ByName: T.map(T.string, leaf), Grid: T.array(T.int, 2, '[2]int64') }), {}]));
    expect(fieldType(t, 'Tags')).toMatchObject({ kind: 'slice', name: '[]string' });
    expect(fieldType(t, 'ByName')).toMatchObject({ kind: 'map', name: 'map[string]Leaf', elem: { kind: 'struct', name: '' } });
    expect(fieldType(t, 'Grid')).toMatchObject({ kind: 'array', name: '[2]int64' });
    expect(decodedType(gobEncode([T.slice(T.string), []]))).toEqual({ kind: 'slice', elem: T.string });
    expect(decodedType(gobEncode([T.slice(leaf), []]))).toMatchObject({ elem: { name: 'Leaf' } });
  });

  it('encodes recursive types (object cycles)', () => {
    const kids = { kind: 'slice', elem: T.int as GobType } as { kind: 'slice'; elem: GobType };
    const node = T.struct('Node', { Val: T.int, Kids: kids });
    kids.elem = node;
    const bytes = gobEncode([node, { Val: 1n, Kids: [{ Val: 2n }, { Kids: [{ Val: 3n }] }] }]);
    expect(messageIds(bytes)).toEqual([-65, -66, 65]);
    const r = gobDecode(bytes);
    expect(r.ok && r.value[0]!.value).toEqual({ Val: 1n, Kids: [{ Val: 2n }, { Kids: [{ Val: 3n }] }] });
  });
});

describe('struct fields', () => {
  const s = T.struct('Z', {
    B: T.bool,
    I: T.int,
    F: T.float,
    S: T.string,
    Y: T.bytes,
    L: T.slice(T.int),
    M: T.map(T.string, T.int),
    A: T.array(T.int, 1),
    N: T.struct('N', {}),
    E: T.interface,
  });
  const body = (v: GobStruct): string => {
    const last = messages(gobEncode([s, v])).at(-1)!;
    expect(last.id).toBe(65);
    return last.rest;
  };

  it('leaves out zero scalars, empty strings, bytes and slices, nil interfaces and absent fields', () => {
    expect(body({ B: false, I: 0n, F: -0, S: '', Y: new Uint8Array(0), L: [], E: null })).toBe('00');
  });

  it('sends present maps (even empty), arrays and structs, with field deltas', () => {
    expect(body({ M: new Map() })).toBe('070000');
    expect(body({ I: 1n, A: [0n] })).toBe('0202' + '06' + '0100' + '00');
    expect(body({ N: {} })).toBe('090000');
  });
});

describe('values that do not fit', () => {
  const p = T.struct('P', { UID: T.uint, Name: T.string });

  it('throw a TypeError naming the field, leaving the stream as it was', () => {
    const enc = new GobEncoder().encode(T.int, 1n);
    const before = enc.bytes();
    expect(() => enc.encode(p, { UID: 'x' })).toThrow(/gob: P.UID: expected a uint value, got string/);
    expect(enc.bytes()).toEqual(before);
    enc.encode(p, { UID: 5 });
    const r = gobDecode(enc.bytes());
    expect(r.ok && r.value.map((v) => v.value)).toEqual([1n, { UID: 5n }]);
  });

  it('reject out-of-range and fractional integers, wrong containers and bad interfaces', () => {
    expect(() => gobEncode([T.uint, -1n])).toThrow(/expected a uint/);
    expect(() => gobEncode([T.int, 1n << 63n])).toThrow(/expected a int/);
    expect(() => gobEncode([T.int, 1.5])).toThrow(/expected a int/);
    expect(() => gobEncode([T.array(T.int, 2), [1n]])).toThrow(/expected a array of 2/);
    expect(() => gobEncode([T.map(T.string, T.int), {}])).toThrow(/expected a map/);
    expect(() => gobEncode([T.slice(T.interface), [{ name: '', type: T.int, value: 1n }]])).toThrow(/registered/);
    expect(() => gobEncode([T.slice(T.interface), [{ name: 'x', type: T.interface, value: null }]])).toThrow(/interface/);
  });
});

describe('a type table shared by many streams', () => {
  const Conn = T.struct('connectionSummary', { NameByte: T.bytes, Outbound: T.bool });
  const Peer = T.struct('peerSummary', { NameByte: T.bytes, Version: T.uint });
  const stream = (typeIds?: GobTypeIds): Buffer =>
    new GobEncoder(typeIds ? { typeIds } : {})
      .encode(Peer, { NameByte: Buffer.from([1]), Version: 3n })
      .encode(T.slice(Conn), [{ NameByte: Buffer.from([2]), Outbound: true }])
      .encode(Peer, { NameByte: Buffer.from([2]), Version: 4n })
      .bytes();

  it('gives every stream the bytes a fresh table gives (definitions are sent again, from stored bytes), and they decode', () => {
    const shared = new GobTypeIds();
    const fresh = stream();
    for (let i = 0; i < 3; i++) expect(stream(shared).equals(fresh)).toBe(true);
    // Decoding the same definitions again (the second time from the decoder's cache) gives the same values.
    const once = gobDecode(fresh);
    const twice = gobDecode(stream(shared));
    expect(twice).toEqual(once);
    expect(once.ok && once.value.length).toBe(3);
  });
});

describe('gobEncode of strings, byte slices and uints (the exact-size path)', () => {
  it('writes the bytes the stream encoder writes, for any such values', () => {
    const item = fc.oneof(
      fc.string({ unit: 'binary' }).map((v) => [T.string, v] as [GobType, string]),
      fc.uint8Array({ maxLength: 3000 }).map((v) => [T.bytes, v] as [GobType, Uint8Array]),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => [T.uint, v] as [GobType, bigint]),
      fc.maxSafeNat().map((v) => [T.uint, v] as [GobType, number]),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 5 }), (items) => {
        const general = new GobEncoder();
        for (const [t, v] of items) general.encode(t, v);
        expect(gobEncode(...items)).toEqual(general.bytes());
      }),
      { seed: 0x9055, numRuns: 500 },
    );
  });

  it('leaves values out of range to the general path, which rejects them', () => {
    expect(() => gobEncode([T.uint, -1n])).toThrow(/uint/);
    expect(() => gobEncode([T.uint, 1n << 64n])).toThrow(/uint/);
    expect(() => gobEncode([T.string, 7 as unknown as string])).toThrow();
  });
});
