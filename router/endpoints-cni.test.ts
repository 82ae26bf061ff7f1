// The endpoints owner as the CNI plugin uses it (src/daemon/cni-control.ts): attachments keyed by
// (container ID, ifname) with a default route through this host's overlay address, hairpin,
// masquerade; CHECK against the kernel; GC of the runtime's forgotten attachments; a restart keeps
// the gateway's address and the NAT. Memory kernel, real allocator, in-memory host NAT.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import { hostCidrProblem, inNetwork } from '../lib/ip.js';
import type { PeerName } from '../mesh/peer-name.js';
import { Allocator } from '../ipam/allocator.js';
import { parseCidr } from '../ipam/space.js';
import { MemoryIpamStore } from '../ipam/store.js';
import type { StoredEndpoints } from './endpoint-store.js';
import { Endpoints, GATEWAY_KEY, type AttachRequest } from './endpoints.js';
import { MemoryKernel } from './memory-kernel.js';
import { MemoryHostNat } from './host-nat.js';

const SELF: PeerName = 0x02_00_00_00_00_01n;
const RANGE = '10.32.0.0/28';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-endpoints-cni-'));
  for (let i = 0; i < 4; i++) writeFileSync(ns(i), '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ns = (i: number): string => join(dir, `ns${i}`);

interface World {
  kernel: MemoryKernel;
  ipamStore: MemoryIpamStore;
  text: { v: string | undefined };
  nat: MemoryHostNat;
}

async function world(): Promise<World> {
  const kernel = new MemoryKernel();
  await kernel.apply([{ op: 'link-add', link: { name: 'weft', kind: 'bridge', mtu: 1450, up: true } }]);
  return { kernel, ipamStore: new MemoryIpamStore(), text: { v: undefined }, nat: new MemoryHostNat() };
}

async function boot(w: World): Promise<{ eps: Endpoints; alloc: Allocator }> {
  const clock = new ManualClock();
  const alloc = new Allocator({
    self: SELF, range: parseCidr(RANGE)!, init: { mode: 'seed', seeds: [SELF] }, clock, random: () => 0.5, log: silentLogger(), store: w.ipamStore,
    mesh: { reachable: () => false, knownPeers: () => [SELF], nickname: () => undefined }, reclaimAfterMs: 600_000,
  });
  await alloc.start();
  const eps = new Endpoints({
    kernel: w.kernel,
    dataplane: { mtu: 1450, remoteIps: () => new Set(), changed: () => undefined, settled: async () => undefined },
    ipam: alloc,
    nat: w.nat,
    overlayRange: RANGE,
    dataDir: dir,
    store: {
      load: async () => (w.text.v ? (JSON.parse(w.text.v) as StoredEndpoints) : { attached: [], exposed: [] }),
      save: async (s) => void (w.text.v = JSON.stringify(s)),
    },
    clock,
    log: silentLogger(),
    refreshMs: 60_000,
    checkNetns: () => undefined,
    checkCidr: hostCidrProblem,
    inRange: inNetwork(RANGE),
  });
  await eps.load();
  await eps.start();
  return { eps, alloc };
}

const cni = (id: string, i: number, extra: Partial<AttachRequest> = {}): AttachRequest => ({
  container: id, netns: ns(i), id, ifname: 'eth0', cidrs: [], origin: 'cni', defaultRoute: true, masquerade: true, hairpin: true, ...extra,
});

describe('CNI attachments', () => {
  it('get a default route through this host\'s overlay address (one address from IPAM, on the bridge), hairpin, and masquerade set up once', async () => {
    const w = await world();
    const { eps, alloc } = await boot(w);
    const a = await eps.attach(cni('aaa', 0));
    const b = await eps.attach(cni('bbb', 1));
    const gw = alloc.lookup(GATEWAY_KEY)!;
    expect(gw).toBeDefined();
    expect(a.gateway).toBe(gw);
    expect(b.gateway).toBe(gw);
    expect(await w.kernel.addresses('weft')).toEqual([`${gw}/28`]);
    expect(w.kernel.attachment(a.hostIfname)).toMatchObject({ gateway: gw, hairpin: true, ifname: 'eth0' });
    expect(w.nat.current).toEqual({ range: RANGE, masquerade: true });
    expect(w.nat.forwarding).toBe(true);
    expect(w.nat.applied).toBe(1);
    expect(new Set([gw, a.cidrs[0], b.cidrs[0]]).size).toBe(3);
    // ADD again: the same answer.
    expect(await eps.attach(cni('aaa', 0))).toEqual(a);
  });

  it('CHECK agrees with what was made and names each difference', async () => {
    const w = await world();
    const { eps } = await boot(w);
    const a = await eps.attach(cni('aaa', 0));
    expect((await eps.check({ id: 'aaa', ifname: 'eth0' }, ns(0))).problems).toEqual([]);
    expect((await eps.check({ id: 'aaa', ifname: 'eth0' }, ns(1))).problems.join('\n')).toMatch(/not .*ns1[\s\S]*has no interface eth0/);
    await w.kernel.detach(a.hostIfname);
    expect((await eps.check({ id: 'aaa', ifname: 'eth0' }, ns(0))).problems.join('\n')).toMatch(/not on bridge weft/);
    await expect(eps.check({ id: 'nope', ifname: 'eth0' }, ns(0))).rejects.toMatchObject({ code: 'not-found' });
  });

  it('GC releases the CNI attachments the runtime no longer lists, and never a `weft attach` one', async () => {
    const w = await world();
    const { eps, alloc } = await boot(w);
    await eps.attach(cni('keep', 0));
    await eps.attach(cni('gone', 1));
    await eps.attach({ container: ns(2), netns: ns(2), cidrs: [] });
    const released = await eps.gc([{ id: 'keep', ifname: 'eth0' }]);
    expect(released).toEqual([{ id: 'gone', ifname: 'eth0' }]);
    expect(eps.list().map((e) => e.id).sort()).toEqual([ns(2), 'keep'].sort());
    expect(alloc.lookup('gone')).toBeUndefined();
    expect(alloc.lookup('keep')).toBeDefined();
    expect(await eps.detachKey({ id: 'gone', ifname: 'eth0' })).toBeUndefined();
  });

  it('a second interface of the same container is its own attachment; a name the container already has is refused and leaves nothing', async () => {
    const w = await world();
    const { eps, alloc } = await boot(w);
    const a = await eps.attach(cni('ccc', 0));
    const b = await eps.attach(cni('ccc', 0, { ifname: 'eth1' }));
    expect(b.hostIfname).not.toBe(a.hostIfname);
    expect(alloc.lookup('ccc#eth1')).toBe(b.cidrs[0]!.split('/')[0]);
    await eps.attach({ container: ns(3), netns: ns(3), cidrs: [] });
    await expect(eps.attach(cni('ddd', 3))).rejects.toThrow(/already has an interface named eth0/);
    expect(alloc.lookup('ddd')).toBeUndefined();
    expect(eps.list().some((e) => e.id === 'ddd')).toBe(false);
  });

  it('a restart keeps the gateway\'s address and the NAT; reset removes the NAT', async () => {
    const w = await world();
    const first = await boot(w);
    const a = await first.eps.attach(cni('aaa', 0));
    await first.eps.stop();
    first.alloc.stop();
    w.nat = new MemoryHostNat();
    const second = await boot(w);
    expect(second.alloc.lookup(GATEWAY_KEY)).toBe(a.gateway);
    expect(second.eps.list()[0]).toMatchObject({ id: 'aaa', origin: 'cni', gateway: a.gateway });
    expect(w.nat.current).toEqual({ range: RANGE, masquerade: true });
    await second.eps.reset();
    expect(w.nat.current).toBeUndefined();
    // The bridge with its address goes with the data plane's reset; the store forgets both.
    expect(JSON.parse(w.text.v!)).toEqual({ attached: [], exposed: [] });
  });
});
