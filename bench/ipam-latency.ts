// Allocation latency on a real mesh: 3 MeshRouters in this process over loopback TCP
// (127.0.1.201–203, real clock), an Allocator on each with a FileIpamStore in a temporary
// directory (so every allocation waits for its fsyncs), consensus bootstrap with quorum 2.
//
//   mesh A, 10.32.0.0/12: first allocation on the lowest-named peer (it proposes at once), then
//     1,000 sequential allocations on it, then 100 concurrent ones
//   mesh B, 10.40.0.0/24: first allocation on the highest-named peer (it waits for its rank or
//     the lowest peer's proposal), then that peer's share is used up and the allocation that has
//     to ask another peer for space is timed, a few times over
//   disk: FileIpamStore.save of mesh A's final state, alone
//
// Every save the allocators make is timed through a wrapper store, so the table can say how
// much of an allocation is the disk.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import { formatPeerName, type PeerName } from '../mesh/peer-name.js';
import { MeshRouter } from '../mesh/router.js';
import { tcpTransport } from '../mesh/transport.js';
import { Allocator, IPAM_CHANNEL } from '../ipam/allocator.js';
import { parseCidr, parseIp } from '../ipam/space.js';
import { FileIpamStore, type IpamStore, type Persisted } from '../ipam/store.js';
import { seededRandom } from '../test/harness/memory-mesh.js';

/** Latency summary in ms. */
export interface Stats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

export interface LatencyResult {
  /** Where the stores lived (the disk being measured). */
  dir: string;
  firstOnLowestMs: number;
  firstOnHighestMs: number;
  sequential: Stats;
  /** The allocator's saves (write, fsync, rename, fsync dir) during the sequential run. */
  sequentialSaves: Stats;
  concurrent: { n: number; wallMs: number; perSecond: number; saves: number };
  /** Allocations that had to get space from another peer first. */
  withDonation: Stats;
  /** Saves on both sides (requester and donor) during those allocations, per allocation. */
  donationSavesPerAlloc: number;
  /** FileIpamStore.save of mesh A's final ring and allocations, timed alone. */
  saveAlone: Stats & { stateBytes: number };
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / (s.length || 1), max: s[s.length - 1] ?? NaN };
}

/** A store that times every save of the store it wraps. */
class TimedStore implements IpamStore {
  readonly saves: number[] = [];
  constructor(private readonly inner: IpamStore) {}
  load(): Promise<Persisted | undefined> {
    return this.inner.load();
  }
  async save(p: Persisted): Promise<void> {
    const t = performance.now();
    await this.inner.save(p);
    this.saves.push(performance.now() - t);
  }
}

interface Mesh3 {
  routers: MeshRouter[];
  allocs: Allocator[];
  stores: TimedStore[];
}

const NAMES: PeerName[] = [1, 2, 3].map((i) => 0x0e_1a_00_00_00_00n + BigInt(i));
const BASE = '127.0.1.';
const FIRST_HOST = 201;

async function until(pred: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) throw new Error(`ipam bench: ${what} not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts 3 routers and allocators; everything started is pushed to `m` at once so the caller can stop it. */
async function startMesh(m: Mesh3, range: string, root: string, tag: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    m.routers.push(
      new MeshRouter({
        name: NAMES[i]!,
        nickname: `ipambench${i + 1}`,
        host: `${BASE}${FIRST_HOST + i}`,
        port: 6783,
        connLimit: 100,
        discovery: true,
        transport: tcpTransport,
        clock: realClock,
        log: silentLogger(),
        timings: { fastHeartbeatMs: 0 }, // one event loop for three routers: no fast deadline
      }),
    );
  }
  await Promise.all(m.routers.map((r, i) => r.start(i === 0 ? [] : [`${BASE}${FIRST_HOST}:6783`])));
  await until(() => m.routers.every((r) => r.peers.size === 3 && NAMES.every((n) => n === r.name || r.routes.unicastAll.has(n))), 'the 3-router mesh', 20_000);
  for (let i = 0; i < 3; i++) {
    const r = m.routers[i]!;
    const store = new TimedStore(new FileIpamStore(join(root, `${tag}-${i + 1}`)));
    const a = new Allocator({
      self: r.name,
      range: parseCidr(range)!,
      init: { mode: 'consensus', quorum: 2 },
      clock: realClock,
      random: seededRandom(i + 1),
      log: silentLogger(),
      store,
      mesh: { reachable: (n) => r.routes.unicastAll.has(n), knownPeers: () => [...r.peers.all()].map((p) => p.name), nickname: (n) => r.peers.get(n)?.nickname },
      reclaimAfterMs: 600_000,
    });
    a.attach(r.newGossip(IPAM_CHANNEL, a));
    r.on('topology', () => a.topologyChanged());
    m.allocs.push(a);
    m.stores.push(store);
    await a.start();
  }
}

async function stopMesh(m: Mesh3): Promise<void> {
  for (const a of m.allocs) a.stop();
  await Promise.all(m.routers.map((r) => r.stop().catch(() => undefined)));
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function selfFree(a: Allocator, self: PeerName): number {
  const name = formatPeerName(self);
  return a.status().peers.find((p) => p.name === name)?.free ?? 0;
}

async function meshA(root: string): Promise<Pick<LatencyResult, 'firstOnLowestMs' | 'sequential' | 'sequentialSaves' | 'concurrent' | 'saveAlone'>> {
  const m: Mesh3 = { routers: [], allocs: [], stores: [] };
  try {
    await startMesh(m, '10.32.0.0/12', root, 'a');
    const a = m.allocs[0]!;
    const firstOnLowestMs = await timed(() => a.allocate('/run/netns/first'));
    await until(() => m.allocs.every((x) => x.status().ready), 'every peer has the ring', 10_000);

    const savesBefore = m.stores[0]!.saves.length;
    const seq: number[] = [];
    for (let i = 0; i < 1000; i++) seq.push(await timed(() => a.allocate(`/run/netns/seq-${i}`)));
    const sequentialSaves = stats(m.stores[0]!.saves.slice(savesBefore));

    const before = m.stores[0]!.saves.length;
    const wallMs = await timed(() => Promise.all(Array.from({ length: 100 }, (_, i) => a.allocate(`/run/netns/par-${i}`))));
    const concurrent = { n: 100, wallMs, perSecond: (100 / wallMs) * 1000, saves: m.stores[0]!.saves.length - before };

    const state: Persisted = {
      self: NAMES[0]!,
      ring: a.ringState(),
      allocations: a.allocations().map((x) => ({ container: x.container, ip: parseIp(x.ip)! })),
      quarantine: [],
      lastMajorityAt: Date.now(),
    };
    const alone = new FileIpamStore(join(root, 'save-alone'));
    await alone.save(state);
    const saves: number[] = [];
    for (let i = 0; i < 200; i++) saves.push(await timed(() => alone.save(state)));
    return { firstOnLowestMs, sequential: stats(seq), sequentialSaves, concurrent, saveAlone: { ...stats(saves), stateBytes: (await stat(alone.path)).size } };
  } finally {
    await stopMesh(m);
  }
}

async function meshB(root: string): Promise<Pick<LatencyResult, 'firstOnHighestMs' | 'withDonation' | 'donationSavesPerAlloc'>> {
  const m: Mesh3 = { routers: [], allocs: [], stores: [] };
  try {
    await startMesh(m, '10.40.0.0/24', root, 'b');
    const a = m.allocs[2]!;
    const firstOnHighestMs = await timed(() => a.allocate('/run/netns/first'));
    await until(() => m.allocs.every((x) => x.status().ready), 'every peer has the ring', 10_000);
    const donations: number[] = [];
    let saves = 0;
    const allSaves = (): number => m.stores.reduce((s, x) => s + x.saves.length, 0);
    for (let k = 0, i = 0; k < 5; k++) {
      while (selfFree(a, NAMES[2]!) > 0) await a.allocate(`/run/netns/fill-${i++}`);
      const s0 = allSaves();
      donations.push(await timed(() => a.allocate(`/run/netns/fill-${i++}`)));
      saves += allSaves() - s0;
    }
    return { firstOnHighestMs, withDonation: stats(donations), donationSavesPerAlloc: saves / donations.length };
  } finally {
    await stopMesh(m);
  }
}

/** Runs both meshes; temporary directories are removed even on failure. */
export async function measureAllocationLatency(): Promise<LatencyResult> {
  const root = await mkdtemp(join(process.env.WEFT_BENCH_DIR ?? tmpdir(), 'weft-ipam-bench-'));
  try {
    const a = await meshA(root);
    const b = await meshB(root);
    return { dir: root, ...a, ...b };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
