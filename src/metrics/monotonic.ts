// Counters from snapshots: the owners keep plain numbers (a prober's counters, the kernel's
// per-SA statistics) that may fall back when what they count goes away (an SA replaced at a
// rekey, a peer that left). A Prometheus counter must only rise, so each scrape adds what a
// source grew by since the last one, and a source that fell is taken as restarted from zero.

export class Monotonic {
  private readonly last = new Map<string, number>();

  /** How much to add to the counter for `key`, whose source now reads `value`. */
  delta(key: string, value: number): number {
    const before = this.last.get(key);
    this.last.set(key, value);
    if (before === undefined || value < before) return value;
    return value - before;
  }
}
