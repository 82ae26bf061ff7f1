import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileIpamStore, MemoryIpamStore, deserialise, serialise, type Persisted } from './store.js';

const sample = (n: number): Persisted => ({
  self: 0x02_00_00_00_00_01n,
  ring: {
    start: 0x0a200000,
    end: 0x0a300000,
    genesis: 'abc',
    entries: [
      { token: 0x0a200000, owner: 0x02_00_00_00_00_01n, version: 3, free: 100 },
      { token: 0x0a280000, owner: 0xfe_00_00_00_00_02n, version: 1_000_001, free: 0 },
    ],
  },
  allocations: Array.from({ length: n }, (_, i) => ({ container: `/run/netns/c${i}`, ip: 0x0a200001 + i })),
  quarantine: [{ start: 0x0a280000, end: 0x0a300000, until: 1_030_000 }],
  lastMajorityAt: 1_000_000,
  records: [
    { owner: 0x02_00_00_00_00_01n, version: 4, gone: false, used: Array.from({ length: n }, (_, i) => 0x0a200001 + i) },
    { owner: 0xfe_00_00_00_00_02n, version: 1_000_003, gone: true, used: [] },
  ],
});

describe('ipam store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-ipam-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips the state through text', () => {
    expect(deserialise(serialise(sample(3)))).toEqual(sample(3));
    const noRing = { ...sample(0), ring: undefined, lastMajorityAt: undefined };
    expect(deserialise(serialise(noRing))).toEqual(noRing);
  });

  it('a file from before used-address records loads with none; a bad record is refused', () => {
    const old = JSON.parse(serialise(sample(1))) as Record<string, unknown>;
    delete old.records;
    expect(deserialise(JSON.stringify(old))).toMatchObject({ records: [] });
    expect(deserialise(JSON.stringify({ ...old, records: [['02:00:00:00:00:01', 1, 2, []]] }))).toBe('bad used record');
    expect(deserialise(JSON.stringify({ ...old, records: [['02:00:00:00:00:01', 1, 0, [[5, 2 ** 30]]]] }))).toBe('bad used record run');
  });

  it('loads nothing from an empty directory, then what was saved last', async () => {
    const s = new FileIpamStore(join(dir, 'sub'));
    expect(await s.load()).toBeUndefined();
    await Promise.all([s.save(sample(1)), s.save(sample(2)), s.save(sample(5))]);
    expect(await new FileIpamStore(join(dir, 'sub')).load()).toEqual(sample(5));
    expect(existsSync(join(dir, 'sub', 'ipam.json.tmp'))).toBe(false);
  });

  it('saves in call order even when they overlap', async () => {
    const s = new FileIpamStore(dir);
    const all = [];
    for (let i = 0; i < 20; i++) all.push(s.save(sample(i)));
    await Promise.all(all);
    expect(JSON.parse(readFileSync(s.path, 'utf8')).allocations).toHaveLength(19);
  });

  it('reports a corrupt file with what to do', async () => {
    writeFileSync(join(dir, 'ipam.json'), '{"version":1,"self":"nope"');
    await expect(new FileIpamStore(dir).load()).rejects.toThrow(/ipam\.json is corrupt .*move it aside/);
    writeFileSync(join(dir, 'ipam.json'), JSON.stringify({ version: 1, self: '02:00:00:00:00:01', allocations: [['x', -1]] }));
    await expect(new FileIpamStore(dir).load()).rejects.toMatchObject({ code: 'io', message: expect.stringContaining('bad allocation') });
  });

  it('a half-written temporary file does not affect the saved state', async () => {
    const s = new FileIpamStore(dir);
    await s.save(sample(2));
    writeFileSync(join(dir, 'ipam.json.tmp'), '{"trunc');
    expect(await s.load()).toEqual(sample(2));
  });

  it('the memory store snapshots at save time and can be made to fail', async () => {
    const m = new MemoryIpamStore();
    const p = sample(1);
    await m.save(p);
    p.allocations.push({ container: 'late', ip: 1 });
    expect((await m.load())!.allocations).toHaveLength(1);
    m.failWith = new Error('disk full');
    await expect(m.save(p)).rejects.toThrow('disk full');
  });
});
