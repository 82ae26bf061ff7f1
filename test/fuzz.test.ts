// Fuzzing of every decoder that reads untrusted bytes (test/fuzz/targets/): each target runs its
// committed corpus (test/fuzz/corpus/<target>/: seeds from the encoders, and crash-* inputs that
// once failed, kept as regression tests), then a fixed number of random and mutated inputs from a
// fixed seed — the same inputs on every run, so it cannot flake.
//
// `make fuzz` runs the same targets for WEFT_FUZZ_SECONDS each (time-bounded, the pool growing
// with inputs that give new outcomes) and prints executions, distinct outcomes and the block
// coverage of each target's source files; a failing input is saved under .cache/fuzz/crashes/.
// Why fast-check and not @jazzer.js/core: see docs/testing.md (its prebuilt native fuzzer needs
// glibc 2.38; Debian 12 has 2.36, and older releases fetch their binary from GitHub at install).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlockCoverage } from './fuzz/coverage.js';
import { fuzz, inputName, loadCorpus, type FuzzReport } from './fuzz/engine.js';

const seconds = Number(process.env.WEFT_FUZZ_SECONDS ?? 0);
const long = seconds > 0;
/** Generated inputs per target in `make test` (on top of the corpus). */
const RUNS = 3000;
const SEED = 0x5eb1;

// In `make fuzz` coverage must be on before the decoders are compiled, so the targets load after it.
const coverage = long ? new BlockCoverage() : undefined;
await coverage?.start();
const { TARGETS } = await import('./fuzz/targets/index.js');

const lines: string[] = [];

function describeFailure(r: FuzzReport): string {
  const f = r.failure!;
  const dir = join(process.cwd(), '.cache', 'fuzz', 'crashes');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${r.target}-${inputName(f.input)}`);
  writeFileSync(file, f.input);
  const e = f.error instanceof Error ? (f.error.stack ?? f.error.message) : String(f.error);
  return `${r.target}: input ${f.input.toString('hex').slice(0, 400)} (saved as ${file}) failed:\n${e}`;
}

describe('fuzz targets (decoders of untrusted bytes never throw; what they accept re-encodes stably)', () => {
  it('every target has a committed corpus', () => {
    expect(TARGETS.filter((t) => loadCorpus(t.name).length === 0).map((t) => t.name)).toEqual([]);
  });

  for (const t of TARGETS) {
    it(t.name, { timeout: long ? (seconds + 120) * 1000 : 60_000 }, async () => {
      await coverage?.take([]); // reset the counters: what follows is this target's alone
      const r = await fuzz(t, loadCorpus(t.name), long ? { seed: SEED, timeMs: seconds * 1000, grow: true } : { seed: SEED, runs: RUNS });
      if (coverage) {
        const c = await coverage.take(t.sources);
        const pct = c.total === 0 ? 'n/a' : `${((100 * c.covered) / c.total).toFixed(1)}%`;
        lines.push(
          `${t.name.padEnd(15)} ${String(r.executions).padStart(9)} execs  ${String(Math.round(r.executions / (r.ms / 1000))).padStart(7)}/s  ` +
            `${String(r.outcomes).padStart(5)} outcomes  pool ${String(r.pool).padStart(5)}  coverage ${pct.padStart(6)} of ${c.total} chars in ${t.sources.length} files` +
            (r.failure ? '  FAILED' : ''),
        );
      }
      if (r.failure) expect.fail(describeFailure(r));
      expect(r.executions).toBeGreaterThan(long ? 0 : RUNS);
    });
  }

  afterAll(async () => {
    if (!coverage) return;
    await coverage.stop();
    const report = [`fuzzing, ${seconds} s per target (fast-check, seed ${SEED}):`, ...lines].join('\n');
    mkdirSync(join(process.cwd(), '.cache', 'fuzz'), { recursive: true });
    writeFileSync(join(process.cwd(), '.cache', 'fuzz', 'report.txt'), `${report}\n`);
    console.log(report);
  });
});
