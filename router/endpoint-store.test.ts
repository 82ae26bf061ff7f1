import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EndpointStore, type StoredEndpoints } from './endpoint-store.js';

const state: StoredEndpoints = {
  attached: [{ id: '/run/netns/web', ifname: 'eth0', container: 'web', netns: '/run/netns/web', hostIfname: 'vethwe0123abcd', mac: '0a:58:0a:20:00:05', cidrs: ['10.32.0.5/12'] }],
  exposed: ['10.32.0.1/12'],
};

describe('EndpointStore', () => {
  let root: string;
  let dir: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'weft-store-'));
    dir = join(root, 'data', 'nested');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('loads empty state when there is no file (or no directory)', async () => {
    expect(await new EndpointStore(dir).load()).toEqual({ attached: [], exposed: [] });
  });

  it('saves and loads back, creating the directory, readable only by the owner, no temp file left', async () => {
    const s = new EndpointStore(dir);
    await s.save(state);
    expect(await new EndpointStore(dir).load()).toEqual(state);
    expect(readdirSync(dir)).toEqual(['endpoints.json']);
    expect(statSync(join(dir, 'endpoints.json')).mode & 0o777).toBe(0o600);
  });

  it('replaces the previous content', async () => {
    const s = new EndpointStore(dir);
    await s.save(state);
    await s.save({ attached: [], exposed: ['10.32.0.2/12'] });
    expect(await s.load()).toEqual({ attached: [], exposed: ['10.32.0.2/12'] });
  });

  it('ignores a temporary file left by a crash, and overwrites it on the next save', async () => {
    const s = new EndpointStore(dir);
    await s.save(state);
    writeFileSync(join(dir, 'endpoints.json.tmp'), '{"attached": [ {"trunc');
    expect(await s.load()).toEqual(state);
    await s.save({ attached: [], exposed: [] });
    expect(readdirSync(dir)).toEqual(['endpoints.json']);
    expect(JSON.parse(readFileSync(join(dir, 'endpoints.json'), 'utf8'))).toEqual({ attached: [], exposed: [] });
  });

  it('loads a leftover temporary file alone as empty state', async () => {
    await new EndpointStore(dir).save(state);
    rmSync(join(dir, 'endpoints.json'));
    writeFileSync(join(dir, 'endpoints.json.tmp'), JSON.stringify(state));
    expect(await new EndpointStore(dir).load()).toEqual({ attached: [], exposed: [] });
  });

  it('treats missing or non-array fields as empty', async () => {
    await new EndpointStore(dir).save(state);
    writeFileSync(join(dir, 'endpoints.json'), JSON.stringify({ attached: 'x' }));
    expect(await new EndpointStore(dir).load()).toEqual({ attached: [], exposed: [] });
  });
});
