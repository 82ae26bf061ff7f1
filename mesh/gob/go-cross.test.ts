// Cross-check against real Go 1.19: test/gob-vectors (built here in GOPATH mode) prints Go's
// gob streams for a fixed set of values, which we must decode to the expected values and
// re-encode byte for byte; then it decodes streams we wrote and prints what Go saw.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { canon, stable } from '../../test/gob-vectors/canon.js';
import { comparable, shape } from '../../test/gob-vectors/shape.js';
import { VECTORS } from '../../test/gob-vectors/vectors.js';
import type { GobDecoded, GobValue } from './index.js';
import { GobEncoder, GobTypeIds, gobDecode, gobEncode } from './index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(ROOT, '.cache');
const BIN = join(CACHE, 'gob-vectors', 'gob-vectors');
const hasGo = spawnSync('go', ['version']).status === 0;

interface Emitted {
  name: string;
  hex: string;
  values: unknown[];
}

function run(args: string[], input?: string): string {
  const r = spawnSync(BIN, args, { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`gob-vectors ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** `expected` with its maps' entries put in the order `actual` has them (Go's map order is random). */
function inOrderOf(expected: GobValue | undefined, actual: GobValue | undefined): GobValue | undefined {
  if (expected instanceof Map && actual instanceof Map) {
    const out = new Map<GobValue, GobValue>();
    for (const [k, v] of actual) {
      const hit = [...expected].find(([ek]) => isDeepStrictEqual(ek, k));
      if (hit !== undefined) out.set(hit[0], inOrderOf(hit[1], v) as GobValue);
    }
    return out.size === expected.size ? out : expected;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) return expected.map((e, i) => inOrderOf(e, actual[i]) as GobValue);
  if (expected !== null && typeof expected === 'object' && !(expected instanceof Uint8Array) && actual !== null && typeof actual === 'object') {
    const a = actual as Record<string, GobValue>;
    return Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, inOrderOf(v, a[k])])) as GobValue;
  }
  return expected;
}

const suite = hasGo ? describe : describe.skip;
if (!hasGo) console.warn('gob cross-check skipped: `go` is not on PATH');

suite(hasGo ? 'gob cross-check against Go 1.19' : 'gob cross-check against Go 1.19 (skipped: `go` is not on PATH)', () => {
  const emitted = new Map<string, Emitted>();
  const decoded = new Map<string, GobDecoded[]>();

  beforeAll(() => {
    mkdirSync(join(CACHE, 'gob-vectors'), { recursive: true });
    const build = spawnSync('go', ['build', '-o', BIN, './test/gob-vectors'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPROXY: 'off',
        GOFLAGS: '',
        GOPATH: join(CACHE, 'gopath'),
        GOCACHE: join(CACHE, 'go-build'),
      },
    });
    if (build.status !== 0) throw new Error(`go build test/gob-vectors failed:\n${build.stderr}`);
    for (const line of run(['emit']).trim().split('\n')) {
      const e = JSON.parse(line) as Emitted;
      emitted.set(e.name, e);
    }
  });

  it('Go emits every vector the TypeScript side knows', () => {
    expect([...emitted.keys()]).toEqual(VECTORS.map((v) => v.name));
  });

  it.each(VECTORS.map((v) => [v.name, v] as const))('decodes Go\'s %s stream to the expected values', (name, v) => {
    const r = gobDecode(Buffer.from(emitted.get(name)!.hex, 'hex'));
    if (!r.ok) throw new Error(r.reason);
    decoded.set(name, r.value);
    expect(r.value).toHaveLength(v.items.length);
    r.value.forEach((d, i) => {
      const [type, value] = v.items[i]!;
      expect(shape(d.type)).toBe(shape(type));
      expect(comparable(d.type, d.value)).toEqual(comparable(type, value));
      expect(stable(canon(d.type, d.value))).toBe(stable(emitted.get(name)!.values[i]));
    });
  });

  it('reproduces Go\'s bytes for every vector, type ids continuing across vectors as in one Go process', () => {
    const ids = new GobTypeIds();
    for (const v of VECTORS) {
      const got = decoded.get(v.name);
      expect(got, `${v.name} was decoded`).toBeDefined();
      const enc = new GobEncoder({ typeIds: ids });
      v.items.forEach(([type, value], i) => enc.encode(type, inOrderOf(value, got![i]!.value) as GobValue));
      expect(enc.bytes().toString('hex'), v.name).toBe(emitted.get(v.name)!.hex);
    }
  });

  it('Go decodes the streams we encode (fresh ids per stream) to the same values', () => {
    const input = VECTORS.map((v) => `${v.name} ${gobEncode(...v.items).toString('hex')}\n`).join('');
    const lines = run(['decode'], input).trim().split('\n');
    expect(lines).toHaveLength(VECTORS.length);
    for (const line of lines) {
      const r = JSON.parse(line) as { name: string; values: unknown[]; error: string };
      expect(r.error, r.name).toBe('');
      expect(stable(r.values), r.name).toBe(stable(emitted.get(r.name)!.values));
    }
  });
});
