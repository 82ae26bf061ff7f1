// Properties over random types and values: decode(encode(x)) = x, and the decoder neither
// throws nor lies on corrupted encodings (bit flips, truncation, insertion, deletion) or on
// random bytes. Seeded, so a failure reproduces.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comparable, shape } from '../../test/gob-vectors/shape.js';
import type { GobType, GobValue } from './index.js';
import { GobEncoder, T, gobDecode } from './index.js';

const SEED = 0x60b;
const BASIC: GobType[] = [T.bool, T.int, T.uint, T.float, T.bytes, T.string, T.complex, T.interface];

const typeArb: fc.Arbitrary<GobType> = fc.letrec<{ type: GobType }>((tie) => ({
  type: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...BASIC),
    fc
      .tuple(
        fc.constantFrom('A', 'B', 'Point', 'peerSummary'),
        fc.uniqueArray(fc.tuple(fc.constantFrom('X', 'Y', 'Name', 'UID', 'Kids', 'Any'), tie('type')), {
          maxLength: 5,
          selector: ([n]) => n,
        }),
      )
      .map(([name, fields]) => T.struct(name, fields)),
    tie('type').map((elem) => T.slice(elem)),
    fc.tuple(tie('type'), fc.nat(3)).map(([elem, len]) => T.array(elem, len)),
    fc.tuple(tie('type'), tie('type')).map(([k, v]) => T.map(k, v)),
    fc.constantFrom(T.opaque('Time'), T.opaque('IP', 'binary'), T.opaque('Addr', 'text')),
  ),
})).type;

const INT64 = { min: -(1n << 63n), max: (1n << 63n) - 1n };

function valueArb(t: GobType, depth = 0): fc.Arbitrary<GobValue> {
  switch (t.kind) {
    case 'bool':
      return fc.boolean();
    case 'int':
      return fc.bigInt(INT64);
    case 'uint':
      return fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    case 'float':
      return fc.double();
    case 'complex':
      return fc.record({ re: fc.double(), im: fc.double() });
    case 'bytes':
    case 'opaque':
      return fc.uint8Array({ maxLength: 8 });
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 8 });
    case 'interface':
      if (depth > 2) return fc.constant(null);
      return fc.oneof(
        fc.constant(null),
        typeArb
          .filter((c) => c.kind !== 'interface')
          .chain((c) =>
            fc.record({ name: fc.constantFrom('main.Leaf', 'int', 'x'), type: fc.constant(c), value: valueArb(c, depth + 1) }),
          ),
      );
    case 'slice':
      return fc.array(valueArb(t.elem, depth + 1), { maxLength: 4 });
    case 'array':
      return fc.array(valueArb(t.elem, depth + 1), { minLength: t.len, maxLength: t.len });
    case 'map':
      return fc
        .array(fc.tuple(valueArb(t.key, depth + 1), valueArb(t.elem, depth + 1)), { maxLength: 3 })
        .map((pairs) => new Map(pairs));
    case 'struct':
      return fc.record(Object.fromEntries(t.fields.map((f) => [f.name, valueArb(f.type, depth + 1)])), { requiredKeys: [] });
  }
}

/** Several (type, value) pairs, as one stream carries them. */
const itemsArb = fc.array(
  typeArb.chain((t) => valueArb(t).map((v) => [t, v] as [GobType, GobValue])),
  { minLength: 1, maxLength: 3 },
);

function encode(items: Array<[GobType, GobValue]>): Buffer {
  const enc = new GobEncoder();
  for (const [t, v] of items) enc.encode(t, v);
  return enc.bytes();
}

function expectWellFormed(r: ReturnType<typeof gobDecode>): void {
  if (!r.ok) {
    expect(typeof r.reason).toBe('string');
    expect(r.reason.length).toBeGreaterThan(0);
    expect(r.reason).not.toMatch(/^internal/);
  }
}

describe('round trip', () => {
  it('decode(encode(items)) gives back the types and values (Go-omitted zero fields aside)', () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        const r = gobDecode(encode(items));
        if (!r.ok) throw new Error(r.reason);
        expect(r.value).toHaveLength(items.length);
        r.value.forEach((d, i) => {
          const [t, v] = items[i]!;
          expect(shape(d.type)).toBe(shape(t));
          expect(comparable(d.type, d.value)).toEqual(comparable(t, v));
        });
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('encoding is deterministic and independent per stream', () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        expect(encode(items).equals(encode(items))).toBe(true);
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});

type Mutation = { op: 'flip'; at: number; bit: number } | { op: 'cut'; at: number } | { op: 'insert'; at: number; byte: number } | { op: 'drop'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }),
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
);

function mutate(buf: Buffer, m: Mutation): Buffer {
  if (buf.length === 0) return buf;
  const at = m.at % buf.length;
  switch (m.op) {
    case 'flip': {
      const out = Buffer.from(buf);
      out[at] = out[at]! ^ (1 << m.bit);
      return out;
    }
    case 'cut':
      return buf.subarray(0, at);
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), Buffer.from([m.byte]), buf.subarray(at)]);
    case 'drop':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
  }
}

describe('fuzz', () => {
  it('never throws on mutated valid encodings', () => {
    fc.assert(
      fc.property(itemsArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (items, mutations) => {
        const bytes = mutations.reduce(mutate, encode(items));
        expectWellFormed(gobDecode(bytes));
        expectWellFormed(gobDecode(bytes, { maxDepth: 3, maxElements: 5, maxValues: 1 }));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('rejects every strict prefix of a stream that ends in a value', () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        const bytes = encode(items);
        const last = gobDecode(bytes);
        expect(last.ok).toBe(true);
        for (let n = 1; n < bytes.length; n++) {
          const r = gobDecode(bytes.subarray(0, n));
          expectWellFormed(r);
          // A prefix can be a complete shorter stream only where a message ends.
          if (r.ok) expect(r.value.length).toBeLessThan(items.length);
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => expectWellFormed(gobDecode(bytes))),
      { seed: SEED, numRuns: 5000 },
    );
  });

  it('never throws on random bytes after a valid type definition', () => {
    const prefix = encode([[T.struct('A', { X: T.slice(T.interface), M: T.map(T.string, T.int) }), {}]]).subarray(0, -4);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (tail) => expectWellFormed(gobDecode(Buffer.concat([prefix, tail])))),
      { seed: SEED, numRuns: 5000 },
    );
  });
});
