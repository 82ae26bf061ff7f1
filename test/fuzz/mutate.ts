// Inputs for a fuzz target, as fast-check arbitraries: random bytes, and mutations of a pool of
// known inputs (the committed corpus, plus — in `make fuzz` — every input that produced an outcome
// not seen before). The mutations are libFuzzer's usual ones: bit flips, interesting bytes and
// 16/32-bit values (both byte orders), inserted, deleted, duplicated and truncated runs, splices.
import fc from 'fast-check';

const INTERESTING_8 = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

type Op =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'byte'; at: number; v: number }
  | { k: 'word'; at: number; v: number; size: 2 | 4; le: boolean }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; len: number }
  | { k: 'dup'; at: number; len: number; to: number }
  | { k: 'truncate'; at: number }
  | { k: 'splice'; at: number; from: number; other: number }
  | { k: 'token'; at: number; len: number; token: number; whole: boolean };

const at = fc.nat();
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), at, bit: fc.nat(7) }),
  fc.record({ k: fc.constant('byte' as const), at, v: fc.oneof(fc.constantFrom(...INTERESTING_8), fc.nat(255)) }),
  fc.record({ k: fc.constant('word' as const), at, v: fc.oneof(fc.constantFrom(...INTERESTING_32), fc.nat(0xffffffff)), size: fc.constantFrom(2 as const, 4 as const), le: fc.boolean() }),
  fc.record({ k: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ k: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ k: fc.constant('dup' as const), at, len: fc.integer({ min: 1, max: 32 }), to: fc.nat() }),
  fc.record({ k: fc.constant('truncate' as const), at }),
  fc.record({ k: fc.constant('splice' as const), at, from: fc.nat(), other: fc.nat() }),
);
// Only with a dictionary: replace a run (or, 1 in 4, the whole input) with a token.
const tokenOp: fc.Arbitrary<Op> = fc.record({ k: fc.constant('token' as const), at, len: fc.nat(8), token: fc.nat(), whole: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))) });

function apply(b: Buffer, o: Op, pool: readonly Buffer[], dictionary: readonly Buffer[]): Buffer {
  const n = b.length;
  const pos = n === 0 ? 0 : o.at % n;
  switch (o.k) {
    case 'flip':
      if (n > 0) b[pos] = b[pos]! ^ (1 << o.bit);
      return b;
    case 'byte':
      if (n > 0) b[pos] = o.v;
      return b;
    case 'word': {
      if (n < o.size) return b;
      const p = o.at % (n - o.size + 1);
      const v = o.size === 2 ? o.v & 0xffff : o.v >>> 0;
      if (o.size === 2 && o.le) b.writeUInt16LE(v, p);
      else if (o.size === 2) b.writeUInt16BE(v, p);
      else if (o.le) b.writeUInt32LE(v, p);
      else b.writeUInt32BE(v, p);
      return b;
    }
    case 'insert':
      return Buffer.concat([b.subarray(0, pos), o.bytes, b.subarray(pos)]);
    case 'delete':
      return Buffer.concat([b.subarray(0, pos), b.subarray(pos + o.len)]);
    case 'dup': {
      const run = b.subarray(pos, pos + o.len);
      const to = n === 0 ? 0 : o.to % (n + 1);
      return Buffer.concat([b.subarray(0, to), run, b.subarray(to)]);
    }
    case 'truncate':
      return b.subarray(0, pos);
    case 'splice': {
      const other = pool[o.other % pool.length]!;
      return Buffer.concat([b.subarray(0, pos), other.subarray(other.length === 0 ? 0 : o.from % other.length)]);
    }
    case 'token': {
      const token = dictionary[o.token % dictionary.length]!;
      return o.whole ? token : Buffer.concat([b.subarray(0, pos), token, b.subarray(pos + o.len)]);
    }
  }
}

/** Random bytes (1 in 5, or 1 in 6 with a dictionary), dictionary tokens (1 in 6), or 1–8 mutations of an input from `pool`, which may grow while it is used. */
export function inputs(pool: readonly Buffer[], words: readonly string[] = [], maxLength = 4096): fc.Arbitrary<Buffer> {
  const dictionary = words.map((w) => Buffer.from(w, 'utf8'));
  const ops = dictionary.length === 0 ? op : fc.oneof({ weight: 8, arbitrary: op }, { weight: 3, arbitrary: tokenOp });
  const random = fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u));
  const mutated = fc.tuple(fc.nat(), fc.array(ops, { minLength: 1, maxLength: 8 })).map(([i, list]) => {
    let b: Buffer = Buffer.from(pool[i % pool.length]!);
    for (const o of list) b = apply(b, o, pool, dictionary);
    return b.length > maxLength ? b.subarray(0, maxLength) : b;
  });
  // With a dictionary, 1 in 6 inputs is one to three tokens alone (a bare `null` is a whole file).
  const tokens = fc.oneof(fc.nat(), fc.array(fc.nat(), { minLength: 2, maxLength: 3 })).map((is) => Buffer.concat([is].flat().map((i) => dictionary[i % dictionary.length]!)));
  const arbitraries = [{ weight: 2, arbitrary: random }, ...(pool.length > 0 ? [{ weight: 8, arbitrary: mutated }] : []), ...(dictionary.length > 0 ? [{ weight: 2, arbitrary: tokens }] : [])];
  return fc.oneof(...arbitraries);
}
