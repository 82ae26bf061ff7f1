// The router's CNI operations over the endpoints owner (memory kernel, real allocator): an ADD
// while the address ring cannot form answers "try again later" with the reason, within its bound,
// and leaves nothing behind; /readyz says the same once consensus has started (before, the first
// ADD is what starts it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/log.js';
import { hostCidrProblem, inNetwork } from '../../lib/ip.js';
import { Allocator } from '../../ipam/allocator.js';
import { parseCidr } from '../../ipam/space.js';
import { MemoryIpamStore } from '../../ipam/store.js';
import type { DataplaneStatus } from '../../router/status.js';
import type { StoredEndpoints } from '../../router/endpoint-store.js';
import { Endpoints } from '../../router/endpoints.js';
import { MemoryKernel } from '../../router/memory-kernel.js';
import { MemoryHostNat } from '../../router/host-nat.js';
import { cniControl } from './cni-control.js';

const RANGE = '10.32.0.0/28';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-cni-control-'));
  writeFileSync(join(dir, 'ns0'), '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function setup(): Promise<{ cni: ReturnType<typeof cniControl>; kernel: MemoryKernel; alloc: Allocator }> {
  const kernel = new MemoryKernel();
  await kernel.apply([{ op: 'link-add', link: { name: 'weft', kind: 'bridge', mtu: 1450, up: true } }]);
  const clock = new ManualClock();
  // A ring that needs two peers' consent, with no one else around: it never forms.
  const alloc = new Allocator({
    self: 0x02_00_00_00_00_01n, range: parseCidr(RANGE)!, init: { mode: 'consensus', quorum: 2 }, clock, random: () => 0.5, log: silentLogger(),
    store: new MemoryIpamStore(), mesh: { reachable: () => false, knownPeers: () => [0x02_00_00_00_00_01n], nickname: () => undefined }, reclaimAfterMs: 600_000,
  });
  await alloc.start();
  let text: string | undefined;
  const endpoints = new Endpoints({
    kernel, dataplane: { mtu: 1450, remoteIps: () => new Set(), changed: () => undefined, settled: async () => undefined }, ipam: alloc, nat: new MemoryHostNat(),
    overlayRange: RANGE, dataDir: dir, clock, log: silentLogger(), refreshMs: 60_000,
    store: { load: async () => (text ? (JSON.parse(text) as StoredEndpoints) : { attached: [], exposed: [] }), save: async (s) => void (text = JSON.stringify(s)) },
    checkNetns: () => undefined,
    checkCidr: hostCidrProblem,
    inRange: inNetwork(RANGE),
  });
  await endpoints.load();
  await endpoints.start();
  const status = { lastError: null } as DataplaneStatus;
  return { cni: cniControl({ endpoints, dataplane: { mtu: 1450, status: () => status }, ipam: alloc, overlayRange: RANGE, addWaitMs: 300 }), kernel, alloc };
}

describe('CNI control', () => {
  it('an ADD while the ring cannot form is "unavailable" with the reason, after its bound, and leaves nothing', async () => {
    const { cni, kernel, alloc } = await setup();
    // Before anything asked for an address the first ADD is what forms the ring: ready.
    expect(cni.ready()).toEqual({ ready: true, reasons: [] });
    const t0 = Date.now();
    const err = await cni.add({ id: 'c1', ifname: 'eth0', netns: join(dir, 'ns0') }, {}).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(err).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/address ring is not formed.*try again later/) });
    expect(cni.ready()).toMatchObject({ ready: false, reasons: [expect.stringMatching(/address ring is not formed yet \(consensus on the initial ring/)] });
    expect(await kernel.ports('weft')).toEqual([]);
    expect(alloc.allocations()).toEqual([]);
    alloc.stop();
  });

  it('a namespace that does not exist is "not-found"', async () => {
    const { cni, alloc } = await setup();
    await expect(cni.add({ id: 'c1', ifname: 'eth0', netns: join(dir, 'nope') }, {})).rejects.toMatchObject({ code: 'not-found' });
    alloc.stop();
  });
});
