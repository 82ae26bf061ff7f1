// Code coverage for `make fuzz`, from V8's precise block coverage (node:inspector): the share of
// the code inside the functions of a target's source files that its inputs ran. Each take() resets
// the counters, so a take after each target measures that target alone.
import { Session } from 'node:inspector/promises';

interface Range { startOffset: number; endOffset: number; count: number }
interface FunctionCoverage { functionName: string; ranges: Range[] }
interface ScriptCoverage { url: string; functions: FunctionCoverage[] }

export class BlockCoverage {
  private readonly session = new Session();

  async start(): Promise<void> {
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Covered and total characters of function code in the scripts whose URL ends with a source path. */
  async take(sources: readonly string[]): Promise<{ covered: number; total: number }> {
    const { result } = (await this.session.post('Profiler.takePreciseCoverage')) as { result: ScriptCoverage[] };
    let covered = 0;
    let total = 0;
    for (const s of result) {
      const path = s.url.split('?')[0]!;
      if (!sources.some((src) => path.endsWith(`/${src}`))) continue;
      const c = measure(s.functions);
      covered += c.covered;
      total += c.total;
    }
    return { covered, total };
  }

  async stop(): Promise<void> {
    await this.session.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }
}

/** Innermost range wins; the outermost function (the module body) is left out of the total. */
function measure(functions: FunctionCoverage[]): { covered: number; total: number } {
  const all = functions.flatMap((f) => f.ranges);
  if (all.length === 0) return { covered: 0, total: 0 };
  const end = Math.max(...all.map((r) => r.endOffset));
  const counts = new Int32Array(end).fill(-1);
  for (const r of [...all].sort((a, b) => b.endOffset - b.startOffset - (a.endOffset - a.startOffset))) counts.fill(r.count, r.startOffset, r.endOffset);
  const roots = functions.map((f) => f.ranges[0]!).filter(Boolean);
  const widest = roots.reduce((a, b) => (b.endOffset - b.startOffset > a.endOffset - a.startOffset ? b : a));
  const inFunction = new Uint8Array(end);
  for (const r of roots) if (r !== widest) inFunction.fill(1, r.startOffset, r.endOffset);
  let covered = 0;
  let total = 0;
  for (let i = 0; i < end; i++) {
    if (!inFunction[i]) continue;
    total++;
    if (counts[i]! > 0) covered++;
  }
  return { covered, total };
}
