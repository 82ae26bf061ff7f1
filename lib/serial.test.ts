import { describe, expect, it } from 'vitest';
import { Coalescer, KeyedSerialQueue, SerialQueue } from './serial.js';

/** A promise resolved by hand. */
function gate(): { p: Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('SerialQueue', () => {
  it('runs one at a time in order, and a failure does not block the next', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    const g = gate();
    const a = q.run(async () => {
      log.push('a start');
      await g.p;
      log.push('a end');
      throw new Error('a failed');
    });
    const b = q.run(async () => {
      log.push('b');
      return 2;
    });
    await Promise.resolve();
    expect(log).toEqual(['a start']);
    expect(q.size).toBe(2);
    g.open();
    await expect(a).rejects.toThrow('a failed');
    await expect(b).resolves.toBe(2);
    expect(log).toEqual(['a start', 'a end', 'b']);
    await q.idle();
    expect(q.size).toBe(0);
  });
});

describe('KeyedSerialQueue', () => {
  it('serialises one key and lets other keys run concurrently; drained keys are forgotten', async () => {
    const q = new KeyedSerialQueue<string>();
    const log: string[] = [];
    const g = gate();
    const a1 = q.run('a', async () => {
      log.push('a1');
      await g.p;
      log.push('a1 end');
    });
    const a2 = q.run('a', async () => void log.push('a2'));
    const b = q.run('b', async () => void log.push('b'));
    await b;
    expect(log).toEqual(['a1', 'b']);
    expect(q.busy).toBe(1);
    g.open();
    await Promise.all([a1, a2]);
    expect(log).toEqual(['a1', 'b', 'a1 end', 'a2']);
    await q.idle();
    expect(q.busy).toBe(0);
  });
});

describe('Coalescer', () => {
  it('a burst during a run costs one more run, and each caller waits for a run that started after it', async () => {
    let runs = 0;
    const gates: ReturnType<typeof gate>[] = [];
    const c = new Coalescer(async () => {
      runs++;
      const g = gate();
      gates.push(g);
      await g.p;
    });
    const first = c.run();
    await Promise.resolve();
    await Promise.resolve();
    expect(runs).toBe(1);
    const burst = [c.run(), c.run(), c.run()];
    expect(burst[0]).toBe(burst[1]);
    let burstDone = false;
    void Promise.all(burst).then(() => (burstDone = true));
    gates[0]!.open();
    await first;
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(2);
    expect(burstDone).toBe(false);
    gates[1]!.open();
    await Promise.all(burst);
    expect(runs).toBe(2);
    await c.idle();
  });

  it('a failed run rejects its callers and does not stop the next', async () => {
    let fail = true;
    const c = new Coalescer(async () => {
      if (fail) throw new Error('disk full');
    });
    await expect(c.run()).rejects.toThrow('disk full');
    fail = false;
    await expect(c.run()).resolves.toBeUndefined();
  });
});
