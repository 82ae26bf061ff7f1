// The endpoints owner against the memory kernel and the real allocator (seeded, one peer): unit
// cases, then a fast-check model of attach, detach, crash and restart interleaved per container
// and across containers — after every step the store, IPAM and the kernel agree.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import { hostCidrProblem, inNetwork } from '../lib/ip.js';
import type { PeerName } from '../mesh/peer-name.js';
import { Allocator } from '../ipam/allocator.js';
import { parseCidr } from '../ipam/space.js';
import { MemoryIpamStore } from '../ipam/store.js';
import type { StoredEndpoints } from './endpoint-store.js';
import { Endpoints, hostIfnameFor, ipForMac, macForIp, type EndpointsStore } from './endpoints.js';
import { MemoryKernel } from './memory-kernel.js';
import type { Kernel } from './kernel.js';
import { MemoryHostNat } from './host-nat.js';

const SELF: PeerName = 0x02_00_00_00_00_01n;
const RANGE = '10.32.0.0/28';
const OWN_NS = '/proc/self/ns/net';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-endpoints-'));
  for (let i = 0; i < 8; i++) writeFileSync(ns(i), '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ns = (i: number): string => join(dir, `ns${i}`);

/** Shared by a "process" and its successor after a crash: what survives a kill -9. */
interface Disk {
  kernel: MemoryKernel;
  ipamStore: MemoryIpamStore;
  endpoints: { text: string | undefined };
}

/** A process's view of the disk and kernel: after crash(), every call hangs and changes nothing. */
class Process {
  dead = false;
  constructor(readonly disk: Disk) {}

  hang<T>(f: () => Promise<T>): Promise<T> {
    return this.dead ? new Promise<T>(() => undefined) : f();
  }

  kernel(): Kernel {
    const k = this.disk.kernel;
    return new Proxy(k, {
      get: (t, p, r) => {
        const v = Reflect.get(t, p, r) as unknown;
        return typeof v === 'function' ? (...args: unknown[]) => this.hang(() => (v as (...a: unknown[]) => Promise<unknown>).apply(t, args)) : v;
      },
    });
  }

  store(): EndpointsStore {
    const e = this.disk.endpoints;
    return {
      load: () => this.hang(async () => (e.text ? (JSON.parse(e.text) as StoredEndpoints) : { attached: [], exposed: [] })),
      save: (s) => this.hang(async () => void (e.text = JSON.stringify(s))),
    };
  }

  ipamStore(): MemoryIpamStore {
    const inner = this.disk.ipamStore;
    const p = new MemoryIpamStore();
    p.load = () => this.hang(() => inner.load());
    p.save = (x) => this.hang(() => inner.save(x));
    return p;
  }
}

async function boot(disk: Disk): Promise<{ proc: Process; eps: Endpoints; alloc: Allocator; clock: ManualClock }> {
  const proc = new Process(disk);
  const clock = new ManualClock();
  const alloc = new Allocator({
    self: SELF,
    range: parseCidr(RANGE)!,
    init: { mode: 'seed', seeds: [SELF] },
    clock,
    random: () => 0.5,
    log: silentLogger(),
    store: proc.ipamStore(),
    mesh: { reachable: () => false, knownPeers: () => [SELF], nickname: () => undefined },
    reclaimAfterMs: 600_000,
  });
  await alloc.start();
  const eps = new Endpoints({
    kernel: proc.kernel(),
    dataplane: { mtu: 1450, remoteIps: () => new Set(), changed: () => undefined, settled: async () => undefined },
    ipam: alloc,
    nat: new MemoryHostNat(),
    overlayRange: RANGE,
    dataDir: dir,
    store: proc.store(),
    clock,
    log: silentLogger(),
    refreshMs: 1000,
    checkNetns: (p) => (p === OWN_NS ? `${p} is this host's own network namespace` : undefined),
    checkCidr: hostCidrProblem,
    inRange: inNetwork(RANGE),
  });
  await eps.load();
  await eps.start();
  return { proc, eps, alloc, clock };
}

async function freshDisk(): Promise<Disk> {
  const kernel = new MemoryKernel();
  await kernel.apply([{ op: 'link-add', link: { name: 'weft', kind: 'bridge', mtu: 1450, up: true } }]);
  return { kernel, ipamStore: new MemoryIpamStore(), endpoints: { text: undefined } };
}

/** The store, IPAM and the kernel say the same thing. */
async function expectAgreement(disk: Disk, eps: Endpoints, alloc: Allocator): Promise<void> {
  const list = eps.list();
  const ports = (await disk.kernel.ports('weft')).sort();
  expect(list.map((e) => e.hostIfname).sort()).toEqual(ports);
  const ips = list.flatMap((e) => e.cidrs.map((c) => c.split('/')[0]!));
  expect(new Set(ips).size).toBe(ips.length);
  const held = alloc.allocations().map((a) => `${a.container}=${a.ip}`).sort();
  expect(held).toEqual(list.map((e) => `${e.id}=${e.cidrs[0]!.split('/')[0]}`).sort());
  for (const e of list) {
    expect(e.state).toBeUndefined();
    const a = disk.kernel.attachment(e.hostIfname)!;
    expect(a.addresses).toEqual(e.cidrs);
    expect(a.netns).toBe(e.netns);
    expect(e.mac).toBe(macForIp(e.cidrs[0]!.split('/')[0]!));
  }
}

describe('Endpoints', () => {
  it('attach is idempotent, detach of something gone succeeds, and both keep store, IPAM and kernel in step', async () => {
    const disk = await freshDisk();
    const { eps, alloc } = await boot(disk);
    const a = await eps.attach({ container: 'c0', netns: ns(0), cidrs: [] });
    expect(a.cidrs).toEqual(['10.32.0.1/28']);
    expect(await eps.attach({ container: 'c0', netns: ns(0), cidrs: [] })).toEqual(a);
    await expectAgreement(disk, eps, alloc);
    expect((await eps.detach(ns(0))).map((e) => e.cidrs)).toEqual([['10.32.0.1/28']]);
    expect(await eps.detach(ns(0))).toEqual([]);
    await expectAgreement(disk, eps, alloc);
    expect(alloc.allocations()).toEqual([]);
  });

  it("refuses the router's own namespace and bad addresses, leaving nothing behind", async () => {
    const disk = await freshDisk();
    const { eps, alloc } = await boot(disk);
    await expect(eps.attach({ container: 'self', netns: OWN_NS, cidrs: [] })).rejects.toThrow(/own network namespace/);
    for (const bad of ['01.32.0.5/12', '0.0.0.0/0', '127.0.0.1/8', '224.0.0.1/4', '10.32.0.5/0']) {
      await expect(eps.attach({ container: 'c1', netns: ns(1), cidrs: [bad] }), bad).rejects.toThrow();
    }
    expect(await disk.kernel.ports('weft')).toEqual([]);
    expect(alloc.allocations()).toEqual([]);
  });

  it('a failed kernel attach leaves no veth, no store entry and no allocation (allocated or claimed)', async () => {
    const disk = await freshDisk();
    const { eps, alloc } = await boot(disk);
    const attach = disk.kernel.attach.bind(disk.kernel);
    disk.kernel.attach = async (spec) => {
      await attach(spec); // the veth exists, then configuring it fails
      throw new Error('configuring eth0: EINVAL');
    };
    await expect(eps.attach({ container: 'c0', netns: ns(0), cidrs: [] })).rejects.toThrow('EINVAL');
    await expect(eps.attach({ container: 'c0', netns: ns(0), cidrs: ['10.32.0.5/28'] })).rejects.toThrow('EINVAL');
    expect(await disk.kernel.ports('weft')).toEqual([]);
    expect(eps.list()).toEqual([]);
    expect(alloc.allocations()).toEqual([]);
  });

  it('two addresses inside the range are refused before anything is claimed', async () => {
    const disk = await freshDisk();
    const { eps, alloc } = await boot(disk);
    await expect(eps.attach({ container: 'c0', netns: ns(0), cidrs: ['10.32.0.5/28', '10.32.0.6/28'] })).rejects.toThrow(/one address inside/);
    expect(alloc.allocations()).toEqual([]);
    expect(await disk.kernel.ports('weft')).toEqual([]);
  });

  it('reset with no peer to take the space detaches every container and releases their addresses', async () => {
    const disk = await freshDisk();
    const { eps, alloc } = await boot(disk);
    await eps.attach({ container: 'c0', netns: ns(0), cidrs: [] });
    await eps.attach({ container: 'c1', netns: ns(1), cidrs: ['10.32.0.9/28'] });
    await eps.reset();
    expect(alloc.allocations()).toEqual([]);
    expect(await disk.kernel.ports('weft')).toEqual([]);
    expect(eps.list()).toEqual([]);
  });

  it('an aborted attach (the client went away) is undone', async () => {
    const disk = await freshDisk();
    const { eps, alloc } = await boot(disk);
    const ac = new AbortController();
    const attach = disk.kernel.attach.bind(disk.kernel);
    disk.kernel.attach = async (spec) => {
      const r = await attach(spec);
      ac.abort();
      return r;
    };
    await expect(eps.attach({ container: 'c0', netns: ns(0), cidrs: [] }, { signal: ac.signal })).rejects.toMatchObject({ code: 'aborted' });
    await expectAgreement(disk, eps, alloc);
    expect(eps.list()).toEqual([]);
  });

  it('50 attaches and 50 detaches of one container, interleaved, end consistent; another container still attaches', async () => {
    const disk = await freshDisk();
    const { eps, alloc } = await boot(disk);
    for (let round = 0; round < 3; round++) {
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        ops.push(eps.attach({ container: 'c0', netns: ns(0), cidrs: [] }));
        ops.push(eps.detach('c0'));
      }
      await Promise.allSettled(ops);
      await expectAgreement(disk, eps, alloc);
    }
    const other = await eps.attach({ container: 'c1', netns: ns(1), cidrs: [] });
    expect(other.cidrs).toHaveLength(1);
    await expectAgreement(disk, eps, alloc);
  });

  it('at start, a veth the store lost is adopted from IPAM, an allocation without a veth is released, a stored entry without its veth is dropped', async () => {
    const disk = await freshDisk();
    let { eps, alloc } = await boot(disk);
    await eps.attach({ container: 'c0', netns: ns(0), cidrs: [] });
    await eps.attach({ container: 'c1', netns: ns(1), cidrs: [] });
    await eps.attach({ container: 'c2', netns: ns(2), cidrs: [] });
    await eps.stop();
    alloc.stop();
    // endpoints.json emptied by hand; c1's veth deleted behind weft's back; an allocation with no container.
    const stored = JSON.parse(disk.endpoints.text!) as StoredEndpoints;
    disk.endpoints.text = JSON.stringify({ attached: stored.attached.filter((e) => e.container === 'c1'), exposed: [] });
    await disk.kernel.detach(hostIfnameFor(ns(1)));
    ({ eps, alloc } = await boot(disk));
    await alloc.allocate('/run/netns/never-attached');
    await eps.stop();
    alloc.stop();
    ({ eps, alloc } = await boot(disk));
    expect(eps.list().map((e) => e.container).sort()).toEqual([ns(0), ns(2)]);
    await expectAgreement(disk, eps, alloc);
    // Every container ps shows can be detached.
    for (const e of eps.list()) expect(await eps.detach(e.container)).toHaveLength(1);
    expect(await disk.kernel.ports('weft')).toEqual([]);
    expect(alloc.allocations()).toEqual([]);
  });

  it('an emptied ipam.json is repaired from the kernel: the attached addresses are adopted, not handed out again', async () => {
    const disk = await freshDisk();
    let { eps, alloc } = await boot(disk);
    await eps.attach({ container: 'c0', netns: ns(0), cidrs: [] });
    await eps.attach({ container: 'c1', netns: ns(1), cidrs: [] });
    await eps.stop();
    alloc.stop();
    disk.ipamStore = new MemoryIpamStore();
    ({ eps, alloc } = await boot(disk));
    await expectAgreement(disk, eps, alloc);
    const next = await eps.attach({ container: 'c2', netns: ns(2), cidrs: [] });
    expect(next.cidrs).toEqual(['10.32.0.3/28']);
  });

  it('a veth unknown to both stores is adopted with the address its MAC carries, and can be detached', async () => {
    const disk = await freshDisk();
    await disk.kernel.attach({ hostIfname: 'vethwe0badc0de', bridge: 'weft', netns: ns(3), ifname: 'eth0', mac: macForIp('10.32.0.9'), mtu: 1450, addresses: ['10.32.0.9/28'], routes: [] });
    disk.kernel.learn('vethwe0badc0de', macForIp('10.32.0.9'));
    const { eps, alloc } = await boot(disk);
    expect(eps.list()).toMatchObject([{ container: 'vethwe0badc0de', cidrs: ['10.32.0.9/28'] }]);
    expect(alloc.lookup('veth:vethwe0badc0de')).toBe('10.32.0.9');
    expect(await eps.detach('vethwe0badc0de')).toHaveLength(1);
    expect(alloc.allocations()).toEqual([]);
    expect(ipForMac(macForIp('10.32.0.9'))).toBe('10.32.0.9');
  });

  it('a container whose veth disappears (deleted with its namespace) is forgotten and its address released', async () => {
    const disk = await freshDisk();
    const { eps, alloc, clock } = await boot(disk);
    const a = await eps.attach({ container: 'c0', netns: ns(0), cidrs: [] });
    await disk.kernel.detach(a.hostIfname);
    clock.advance(1000);
    await eps.sweep();
    expect(eps.list()).toEqual([]);
    expect(alloc.allocations()).toEqual([]);
  });

  // The model: random interleavings of attach and detach over a few containers, with crashes
  // (kill -9: every pending call of the old process hangs for ever and changes nothing) and
  // restarts from what the disk and the kernel hold. After each step the three agree, and
  // every container shown can be detached.
  it('model: attach, detach, crash and restart in any interleaving keep store, IPAM and kernel in agreement', async () => {
    type Cmd = { op: 'attach'; c: number; explicit: boolean } | { op: 'detach'; c: number } | { op: 'tick'; n: number } | { op: 'crash' };
    const cmd: fc.Arbitrary<Cmd> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ op: fc.constant('attach' as const), c: fc.nat(4), explicit: fc.boolean() }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('detach' as const), c: fc.nat(4) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), n: fc.nat(12) }) },
      { weight: 1, arbitrary: fc.constant({ op: 'crash' as const }) },
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 5, maxLength: 40 }), async (cmds) => {
        runs++;
        const disk = await freshDisk();
        let node = await boot(disk);
        let inflight: Promise<unknown>[] = [];
        const settle = async (): Promise<void> => {
          await Promise.allSettled(inflight);
          inflight = [];
          await node.eps.idle();
          await expectAgreement(disk, node.eps, node.alloc);
        };
        for (const c of cmds) {
          if (c.op === 'attach') inflight.push(node.eps.attach({ container: `c${c.c}`, netns: ns(c.c), cidrs: c.explicit ? [`10.32.0.${c.c + 10}/28`] : [] }));
          else if (c.op === 'detach') inflight.push(node.eps.detach(ns(c.c)));
          else if (c.op === 'tick') for (let i = 0; i < c.n; i++) await Promise.resolve();
          else {
            node.proc.dead = true;
            node.alloc.stop();
            inflight = [];
            node = await boot(disk);
            await settle();
          }
        }
        await settle();
        for (const e of node.eps.list()) await node.eps.detach(e.container);
        await expectAgreement(disk, node.eps, node.alloc);
        expect(await disk.kernel.ports('weft')).toEqual([]);
        node.alloc.stop();
      }),
      { numRuns: 150, seed: 20261204 },
    );
    expect(runs).toBeGreaterThanOrEqual(150);
  });
});
