// The ring formation of ipam-simulated, but over real MeshRouters on the in-memory transport
// (test/harness/memory-mesh.ts): IPAM messages travel as mesh gossip (unicast hop by hop,
// broadcast along spanning trees) instead of the fabric's direct delivery. The mesh forms
// first (a launch chain, as bench/mesh-simulated.ts); then every allocator starts and allocates
// at once, consensus with quorum N/2+1. Memory transport delivers at once, so simulated time
// here is only the protocol's timers.
import { silentLogger } from '../lib/log.js';
import { Allocator, IPAM_CHANNEL } from '../ipam/allocator.js';
import { parseCidr } from '../ipam/space.js';
import { MemoryIpamStore } from '../ipam/store.js';
import { MemoryMesh, converged, seededRandom } from '../test/harness/memory-mesh.js';
import type { MeshRouter } from '../mesh/router.js';

export interface MeshFormationResult {
  n: number;
  /** Simulated ms to form the mesh (not counted below). */
  meshMs: number;
  /** Simulated ms from the allocations' start until every peer has allocated; undefined if some could not. */
  simulatedMs: number | undefined;
  failed: number;
  /** Control-plane bytes all routers sent during the allocations (all channels, framing included). */
  bytes: number;
  /** Real ms the allocation phase took. */
  realMs: number;
}

export async function meshFormation(n: number): Promise<MeshFormationResult> {
  const mesh = new MemoryMesh();
  const allocs: Allocator[] = [];
  try {
    const rs: MeshRouter[] = [];
    for (let i = 0; i < n; i++) rs.push(await mesh.add({ name: 0x0d_00_00_00_00_00n + BigInt(i + 1), peers: i ? [`198.18.0.${i}`] : [] }));
    const meshMs = await mesh.settle(() => converged(rs), `${n} routers converge`, { stepMs: 50, maxMs: 600_000 });
    const quorum = Math.floor(n / 2) + 1;
    for (const [i, r] of rs.entries()) {
      const a = new Allocator({
        self: r.name,
        range: parseCidr('10.32.0.0/12')!,
        init: { mode: 'consensus', quorum },
        clock: mesh.clock,
        random: seededRandom(i + 1),
        log: silentLogger(),
        store: new MemoryIpamStore(),
        mesh: { reachable: (x) => r.routes.unicastAll.has(x), knownPeers: () => [...r.peers.all()].map((p) => p.name), nickname: (x) => r.peers.get(x)?.nickname },
        reclaimAfterMs: 600_000,
      });
      a.attach(r.newGossip(IPAM_CHANNEL, a));
      r.on('topology', () => a.topologyChanged());
      await a.start();
      allocs.push(a);
    }
    const sent0 = rs.reduce((s, r) => s + r.traffic.sent, 0);
    const t0 = mesh.clock.now();
    let finished = 0;
    let failed = 0;
    let last = 0;
    for (const a of allocs) {
      a.allocate('/run/netns/first').then(
        () => {
          finished++;
          last = mesh.clock.now() - t0;
        },
        () => {
          finished++;
          failed++;
        },
      );
    }
    const r0 = performance.now();
    await mesh.settle(() => finished === n, `${n} allocators allocate`, { stepMs: 5, maxMs: 120_000 });
    const realMs = performance.now() - r0;
    const bytes = rs.reduce((s, r) => s + r.traffic.sent, 0) - sent0;
    return { n, meshMs, simulatedMs: failed === 0 ? last : undefined, failed, bytes, realMs };
  } finally {
    for (const a of allocs) a.stop();
    await mesh.stop();
  }
}
