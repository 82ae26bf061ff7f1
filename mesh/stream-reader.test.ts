import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StreamReader } from './stream-reader.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('StreamReader', () => {
  it('pauses the stream once it holds highWater bytes nobody asked for, and resumes for a read', async () => {
    const s = new PassThrough();
    const r = new StreamReader(s, 1024);
    s.write(Buffer.alloc(600));
    s.write(Buffer.alloc(600));
    await tick();
    expect(r.pending).toBe(1200);
    expect(s.isPaused()).toBe(true);
    // A sender that keeps going is held back by the stream, not buffered by us.
    for (let i = 0; i < 100; i++) s.write(Buffer.alloc(1000));
    await tick();
    expect(r.pending).toBe(1200);
    expect((await r.read(1000)).length).toBe(1000);
    expect(s.isPaused()).toBe(true); // 200 left satisfy nothing yet, but nobody waits
    const big = r.read(5000);
    await tick();
    expect((await big).length).toBe(5000);
    expect(r.pending).toBeLessThanOrEqual(1024 + 1000);
  });

  it('fails pending and later reads when the stream ends, and drops what it held', async () => {
    const s = new PassThrough();
    const r = new StreamReader(s);
    s.write(Buffer.alloc(10));
    await tick();
    const p = r.read(20);
    s.end();
    await expect(p).rejects.toThrow(/closed by peer/);
    expect(r.pending).toBe(0);
    await expect(r.read(1)).rejects.toThrow(/closed/);
  });
});
