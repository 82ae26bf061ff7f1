// Runs one fuzz target: every corpus input first, then fast-check inputs (random bytes and
// mutations of the pool) under a fixed seed, bounded by a number of runs (make test: the same
// inputs every time) or by time (make fuzz). With `grow`, an input whose outcome — "ok" or the
// decoder's reason, numbers taken out — was not seen before joins the pool, a cheap stand-in for
// the coverage feedback of a native fuzzer. A failing input is returned with the error it caused.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { outcomeOf } from './check.js';
import { inputs } from './mutate.js';
import type { FuzzTarget } from './target.js';

/** Inputs kept for mutation at most (the committed corpus plus what `grow` adds). */
const MAX_POOL = 2000;

export const CORPUS_DIR = new URL('./corpus/', import.meta.url).pathname;

export function loadCorpus(target: string): Buffer[] {
  const dir = join(CORPUS_DIR, target);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((n) => readFileSync(join(dir, n)));
}

export function inputName(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex').slice(0, 16);
}

export interface FuzzOptions {
  seed: number;
  /** Stop after this many generated inputs… */
  runs?: number;
  /** …or after this many milliseconds. */
  timeMs?: number;
  grow?: boolean;
}

export interface FuzzReport {
  target: string;
  executions: number;
  ms: number;
  outcomes: number;
  pool: number;
  failure?: { input: Buffer; error: unknown };
}

export async function fuzz(t: FuzzTarget, corpus: readonly Buffer[], o: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const seen = new Set<string>();
  const pool = [...corpus];
  let executions = 0;
  const once = async (b: Buffer): Promise<void> => {
    executions++;
    const outcome = outcomeOf(await t.run(b));
    if (!seen.has(outcome)) {
      seen.add(outcome);
      if (o.grow && b.length > 0 && pool.length < MAX_POOL) pool.push(b);
    }
  };
  const report = (failure?: FuzzReport['failure']): FuzzReport => ({
    target: t.name, executions, ms: performance.now() - started, outcomes: seen.size, pool: pool.length, ...(failure ? { failure } : {}),
  });

  for (const b of corpus) {
    try {
      await once(b);
    } catch (error) {
      return report({ input: b, error });
    }
  }
  const deadline = o.timeMs === undefined ? Infinity : started + o.timeMs;
  // Time-bounded runs go in rounds of fresh seeds so the pool's new members are used as it grows.
  for (let round = 0; performance.now() < deadline || (round === 0 && o.runs !== undefined); round++) {
    const runs = o.runs ?? 5000;
    const details = await fc.check(
      fc.asyncProperty(inputs(pool, t.dictionary), async (b) => {
        await once(b);
      }),
      { seed: o.seed + round, numRuns: runs, endOnFailure: true, ...(o.timeMs !== undefined ? { interruptAfterTimeLimit: Math.max(1, deadline - performance.now()), markInterruptAsFailure: false } : {}) },
    );
    if (details.failed && details.counterexample) return report({ input: details.counterexample[0], error: details.errorInstance });
    if (o.runs !== undefined && o.timeMs === undefined) break;
  }
  return report();
}
