// The allocator API the endpoints owner uses (issue 10): cancelling allocate/claim with an
// AbortSignal, adopt() of addresses found in the kernel, conflicts(). One ManualClock, the
// in-memory gossip fabric, seeded randomness.
//
//   a 02:..:01 ── b 02:..:02 ── c 02:..:03   seeds a, b, c over 10.32.0.0/28: a .0–.3, b .4–.7, c .8–.15
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { seededRandom } from '../test/harness/memory-mesh.js';
import { Allocator } from './allocator.js';
import { AllocationTable } from './allocation-table.js';
import { GossipFabric } from './gossip-fabric.js';
import { parseCidr } from './space.js';
import { MemoryIpamStore } from './store.js';

const NAMES = [1, 2, 3].map((i) => BigInt(0x02_00_00_00_00_00 + i));

async function cluster(n = 3): Promise<{ fabric: GossipFabric; peers: { alloc: Allocator; store: MemoryIpamStore }[] }> {
  const fabric = new GossipFabric({ random: seededRandom(3) });
  const peers = [];
  for (let i = 0; i < n; i++) {
    const j = fabric.join(NAMES[i]!, 'abc'[i]!);
    const store = new MemoryIpamStore();
    const alloc = new Allocator({
      self: NAMES[i]!,
      range: parseCidr('10.32.0.0/28')!,
      init: { mode: 'seed', seeds: NAMES },
      clock: fabric.clock,
      random: seededRandom(10 + i),
      log: silentLogger(),
      store,
      mesh: j.mesh,
      reclaimAfterMs: 60_000,
    });
    alloc.attach(j.connect(alloc, () => alloc.topologyChanged()));
    await alloc.start();
    peers.push({ alloc, store });
  }
  await fabric.run(100);
  return { fabric, peers };
}

async function drive<T>(fabric: GossipFabric, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  const watched = p.finally(() => (done = true));
  watched.catch(() => undefined);
  await fabric.settle(() => done, 'operation to finish', maxMs);
  return watched;
}

describe('allocator API', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('an aborted allocate (waiting for the heal) rejects with "aborted" and records nothing', async () => {
    const { fabric, peers } = await cluster();
    stop = () => peers.forEach((p) => p.alloc.stop());
    const a = peers[0]!.alloc;
    fabric.partition([[NAMES[0]!], [NAMES[1]!, NAMES[2]!]]);
    await fabric.run(100);
    const ac = new AbortController();
    const p = a.allocate('x', { signal: ac.signal });
    p.catch(() => undefined);
    await fabric.run(2_000);
    ac.abort();
    await expect(drive(fabric, p)).rejects.toMatchObject({ code: 'aborted' });
    expect(a.lookup('x')).toBeUndefined();
    expect(peers[0]!.store.saved!.allocations).toEqual([]);
    await expect(a.allocate('y', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
  });

  it('an aborted claim (waiting for the owner to answer) rejects with "aborted" and records nothing', async () => {
    const { fabric, peers } = await cluster();
    stop = () => peers.forEach((p) => p.alloc.stop());
    const ac = new AbortController();
    fabric.loss = 1; // b never hears the request
    const p = peers[0]!.alloc.claim('x', '10.32.0.5', { signal: ac.signal });
    p.catch(() => undefined);
    await fabric.run(500);
    ac.abort();
    await expect(drive(fabric, p)).rejects.toMatchObject({ code: 'aborted' });
    expect(peers[0]!.alloc.lookup('x')).toBeUndefined();
  });

  it('allocate waits a bounded time for a partition to heal, and succeeds if it does', async () => {
    const { fabric, peers } = await cluster();
    stop = () => peers.forEach((p) => p.alloc.stop());
    fabric.partition([[NAMES[0]!], [NAMES[1]!, NAMES[2]!]]);
    await fabric.run(100);
    expect(peers[0]!.alloc.status().fenced).toBe(true);
    const p = peers[0]!.alloc.allocate('x');
    await fabric.run(3_000);
    fabric.heal();
    expect(await drive(fabric, p)).toBe('10.32.0.1');
  });

  it("adopt: in our space an allocation, in another peer's space held by that peer, a second holder a conflict", async () => {
    const { fabric, peers } = await cluster();
    stop = () => peers.forEach((p) => p.alloc.stop());
    const [a, b] = [peers[0]!.alloc, peers[1]!.alloc];
    expect(await a.adopt('k1', '10.32.0.2')).toBeUndefined();
    expect(peers[0]!.store.saved!.allocations).toEqual([{ container: 'k1', ip: 0x0a200002 }]);
    expect(await drive(fabric, a.allocate('k2'))).toBe('10.32.0.1');
    expect(await drive(fabric, a.allocate('k3'))).toBe('10.32.0.3');
    // In b's space: recorded here, and b never hands it out.
    expect(await a.adopt('k4', '10.32.0.4')).toBeUndefined();
    expect(a.status().foreign).toEqual([{ container: 'k4', ip: '10.32.0.4', owner: '02:00:00:00:00:02' }]);
    await fabric.run(100);
    expect(await drive(fabric, b.allocate('m'))).toBe('10.32.0.5');
    await fabric.run(100);
    await expect(drive(fabric, b.claim('m2', '10.32.0.4'))).rejects.toThrow(/in use by a container on 02:00:00:00:00:01\(a\)/);
    // b's container found holding b's own address .5 on a too: a conflict, said at once and listed on both.
    expect(await a.adopt('k5', '10.32.0.5')).toMatch(/10\.32\.0\.5 of k5 is also in use by a container on 02:00:00:00:00:02\(b\)/);
    expect(a.conflicts()).toEqual([{ ip: '10.32.0.5', holders: ['02:00:00:00:00:01(a) k5', '02:00:00:00:00:02(b)'] }]);
    await fabric.run(2_000);
    expect(b.status().conflicts).toEqual([{ ip: '10.32.0.5', holders: ['02:00:00:00:00:02(b) m', '02:00:00:00:00:01(a)'] }]);
    // Two containers here on one address: a conflict too; the address stays taken until both go.
    expect(await a.adopt('k6', '10.32.0.2')).toMatch(/also in use by k1/);
    await drive(fabric, a.release('k1'));
    expect(await drive(fabric, a.allocate('k7'))).not.toBe('10.32.0.2');
    expect(await a.adopt('k8', '192.168.1.1')).toBeUndefined();
    expect(a.lookup('k8')).toBeUndefined();
  });

  it('adopt before any ring records the address as ours', async () => {
    const fabric = new GossipFabric({ random: seededRandom(4) });
    const j = fabric.join(NAMES[0]!, 'a');
    const store = new MemoryIpamStore();
    const alloc = new Allocator({ self: NAMES[0]!, range: parseCidr('10.32.0.0/28')!, init: { mode: 'consensus', quorum: 2 }, clock: fabric.clock, random: seededRandom(1), log: silentLogger(), store, mesh: j.mesh, reclaimAfterMs: 60_000 });
    alloc.attach(j.connect(alloc));
    await alloc.start();
    stop = () => alloc.stop();
    expect(await alloc.adopt('k', '10.32.0.9')).toBeUndefined();
    expect(store.saved!.allocations).toEqual([{ container: 'k', ip: 0x0a200009 }]);
    expect(store.saved!.records).toEqual([{ owner: NAMES[0], version: 1, gone: false, used: [0x0a200009] }]);
  });

  it('a failed save fails the allocation and records nothing', async () => {
    const { fabric, peers } = await cluster();
    stop = () => peers.forEach((p) => p.alloc.stop());
    peers[0]!.store.failWith = new Error('disk full');
    await expect(drive(fabric, peers[0]!.alloc.allocate('x'))).rejects.toThrow(/cannot save the allocation of 10\.32\.0\.1: disk full/);
    expect(peers[0]!.alloc.lookup('x')).toBeUndefined();
  });
});

describe('allocation table', () => {
  it('an address held by two containers stays taken until both are gone', () => {
    const t = new AllocationTable();
    t.record('a', 5);
    t.record('b', 5);
    t.record('c', 7);
    expect(t.ips()).toEqual([5, 7]);
    expect(t.holdersOf(5)).toEqual(['a', 'b']);
    expect(t.unrecord('a')).toBe(5);
    expect(t.ips()).toEqual([5, 7]);
    t.record('b', 6);
    expect(t.ips()).toEqual([6, 7]);
    expect(t.unrecord('zz')).toBeUndefined();
  });
});
