// One-at-a-time execution for a single thread of async code: the house's only serial queue and
// latest-wins coalescer (STYLE.md, "One owner per piece of state"). A failed run never blocks
// the ones behind it; its error goes to its own caller.

/** Runs functions one at a time, in the order they were queued. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const run = this.tail.then(fn, fn);
    this.tail = run.then(
      () => this.pending--,
      () => this.pending--,
    );
    return run;
  }

  /** Functions queued or running. */
  get size(): number {
    return this.pending;
  }

  /** Resolves once everything queued so far has finished (whatever its outcome). */
  async idle(): Promise<void> {
    await this.tail;
  }
}

/** Runs functions for the same key one at a time; different keys run concurrently. */
export class KeyedSerialQueue<K> {
  private readonly queues = new Map<K, SerialQueue>();

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    let q = this.queues.get(key);
    if (!q) {
      q = new SerialQueue();
      this.queues.set(key, q);
    }
    const queue = q;
    const done = (): void => {
      if (queue.size === 0 && this.queues.get(key) === queue) this.queues.delete(key);
    };
    const run = queue.run(fn);
    run.then(done, done);
    return run;
  }

  /** Keys with work queued or running. */
  get busy(): number {
    return this.queues.size;
  }

  /** Resolves once every key's queue has drained. */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()].map((q) => q.idle()));
  }
}

/**
 * Latest wins: `run()` resolves once a run of `fn` that *started after the call* has finished.
 * Calls made while a run is in flight share one follow-up run, so a burst of N requests costs
 * at most two runs (saving a file after a burst of changes, recomputing after a burst of events).
 */
export class Coalescer {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly fn: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.next) return this.next;
    const prev = this.running ?? Promise.resolve();
    const p: Promise<void> = prev.catch(() => undefined).then(() => {
      // From here on, a new call must wait for this run and start another.
      if (this.next === p) this.next = undefined;
      this.running = p;
      return this.fn();
    });
    this.next = p;
    const clear = (): void => {
      if (this.running === p) this.running = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** Resolves once no run is in flight or queued (whatever their outcome). */
  async idle(): Promise<void> {
    while (this.next || this.running) await (this.next ?? this.running)!.catch(() => undefined);
  }
}
