// N allocators started at once over the in-memory gossip fabric (ipam/gossip-fabric.ts): every
// peer knows every other, messages take 1–3 ms (uniform, so they reorder) and may be lost, time
// is simulated. Measures the simulated time until every allocator can allocate (its first
// allocate() resolves and status().ready holds), the IPAM messages and bytes sent meanwhile,
// and the real time the simulation took.
import { silentLogger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import type { GossipChannel, GossipData } from '../mesh/gossip.js';
import { Allocator } from '../ipam/allocator.js';
import { decodeConsensus } from '../ipam/consensus-codec.js';
import { GossipFabric } from '../ipam/gossip-fabric.js';
import { decodeMessage } from '../ipam/messages.js';
import { parseCidr } from '../ipam/space.js';
import { MemoryIpamStore } from '../ipam/store.js';
import { seededRandom } from '../test/harness/memory-mesh.js';
import { HeapClock } from './ipam-heap-clock.js';

export interface FormationResult {
  n: number;
  mode: 'seed' | 'consensus';
  loss: number;
  /** Simulated ms from the start until the last peer's first allocation; undefined if some never could. */
  simulatedMs: number | undefined;
  /** Simulated ms until half the peers had allocated. */
  medianMs: number | undefined;
  /** Simulated ms until every allocating peer's allocate() had settled and its status().ready held (it may have given up before). */
  readyMs: number | undefined;
  /** Peers whose first allocation failed (no ring before waitRingMs). */
  failed: number;
  /** Every message the fabric carried (a broadcast counts once per receiver), lost ones included. */
  messages: number;
  lostMessages: number;
  /** Bytes the allocators sent (a broadcast counts once per receiver). */
  bytes: number;
  /** Messages and bytes by kind ("consensus prepare", "ring-delta", …), as the allocators sent them. */
  byKind: Record<string, { messages: number; bytes: number }>;
  /** Real ms to create and connect the N allocators. */
  setupMs: number;
  /** Real ms the simulated run took. */
  realMs: number;
}

export interface FormationOptions {
  seed?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Give up after this much simulated time. */
  maxMs?: number;
  /**
   * The allocators' free-count report interval (default: the allocator's own, 1 s). Each
   * report is a broadcast, so once every peer has allocated they cost N(N−1) deliveries per
   * interval; a longer interval keeps that wave out of the measured window.
   */
  reportFreeMs?: number;
  /**
   * Who allocates at the start: every peer (default), or only the highest-named one, the
   * others idle (consensus then waits for that peer's rank timer). With 'highest' the result's
   * times are that one allocation's.
   */
  allocating?: 'all' | 'highest';
  /** Simulated time step (default 1 ms). */
  stepMs?: number;
}

const RANGE = '10.32.0.0/12';

type Tally = Record<string, { messages: number; bytes: number }>;

function kindOf(msg: Buffer): string {
  const d = decodeMessage(msg);
  if (!d.ok) return 'undecodable';
  if (d.value.type !== 'consensus') return d.value.type;
  const c = decodeConsensus(d.value.payload);
  return c.ok ? `consensus ${c.value.kind}` : 'consensus ?';
}

function add(t: Tally, msg: Buffer, copies: number): void {
  const k = (t[kindOf(msg)] ??= { messages: 0, bytes: 0 });
  k.messages += copies;
  k.bytes += msg.length * copies;
}

/** Tallies what an allocator sends: a broadcast counts once per peer it reaches. */
function counted(ch: GossipChannel, others: number, t: { kinds: Tally }): GossipChannel {
  const each = (d: GossipData, copies: number): void => d.encode().forEach((m) => add(t.kinds, m, copies));
  return {
    name: ch.name,
    gossipUnicast: (dst, msg) => {
      add(t.kinds, msg, 1);
      ch.gossipUnicast(dst, msg);
    },
    gossipBroadcast: (data) => {
      each(data, others);
      ch.gossipBroadcast(data);
    },
    gossipNeighbourSubset: (data) => {
      each(data, others);
      ch.gossipNeighbourSubset(data);
    },
  };
}

/**
 * The shared fabric re-derives every pair's reachability on each join (O(N²) per peer, hours
 * for 1,000 peers joined one by one). While `joining`, no one reaches anyone, which makes each
 * join cheap; the one topology change after it (heal) sees the whole mesh at once.
 */
class BulkJoinFabric extends GossipFabric {
  joining = true;
  override reachable(a: PeerName, b: PeerName): boolean {
    return !this.joining && super.reachable(a, b);
  }
}

export async function simulateFormation(n: number, mode: 'seed' | 'consensus', loss: number, opts: FormationOptions = {}): Promise<FormationResult> {
  const seed = opts.seed ?? 1;
  const clock = new HeapClock();
  // Mesh gossips whole state every 30 s; the runs measured here end well before that.
  const fabric = new BulkJoinFabric({ random: seededRandom(seed), clock, minDelayMs: opts.minDelayMs ?? 1, maxDelayMs: opts.maxDelayMs ?? 3, gossipIntervalMs: 30_000 });
  const names: PeerName[] = Array.from({ length: n }, (_, i) => 0x0f_00_00_00_00_00n + BigInt(i + 1));
  const range = parseCidr(RANGE)!;
  const quorum = Math.floor(n / 2) + 1;
  const tally: { kinds: Tally } = { kinds: {} };
  const allocs: Allocator[] = [];
  const s0 = performance.now();
  try {
    const joins = names.map((name, i) => fabric.join(name, `sim${i + 1}`));
    for (let i = 0; i < n; i++) {
      const a = new Allocator({
        self: names[i]!,
        range,
        init: mode === 'seed' ? { mode: 'seed', seeds: names } : { mode: 'consensus', quorum },
        clock,
        random: seededRandom(seed * 10_000 + i),
        log: silentLogger(),
        store: new MemoryIpamStore(),
        mesh: joins[i]!.mesh,
        reclaimAfterMs: 600_000,
        ...(opts.reportFreeMs === undefined ? {} : { timings: { reportFreeMs: opts.reportFreeMs } }),
      });
      a.attach(counted(joins[i]!.connect(a, () => a.topologyChanged()), n - 1, tally));
      allocs.push(a);
    }
    fabric.joining = false;
    fabric.heal();
    for (const a of allocs) await a.start();
    const setupMs = performance.now() - s0;
    fabric.loss = loss;
    fabric.sent.messages = 0;
    fabric.sent.lost = 0;
    tally.kinds = {};

    const t0 = clock.now();
    const doneAt: (number | undefined)[] = new Array<number | undefined>(n).fill(undefined);
    let finished = 0;
    let failed = 0;
    const who = opts.allocating === 'highest' ? [n - 1] : allocs.map((_, i) => i);
    who.forEach((i) =>
      allocs[i]!.allocate('/run/netns/first').then(
        () => {
          doneAt[i] = clock.now() - t0;
          finished++;
        },
        () => {
          failed++;
          finished++;
        },
      ),
    );
    const r0 = performance.now();
    let readyMs: number | undefined;
    const allReady = (): boolean => {
      readyMs ??= who.every((i) => allocs[i]!.status().ready) ? clock.now() - t0 : undefined;
      return readyMs !== undefined;
    };
    // status() walks the whole ring: only asked once every allocate() has settled.
    await fabric.settle(() => finished === who.length && allReady(), `${who.length} peers allocate`, opts.maxMs ?? 120_000, opts.stepMs ?? 1);
    const realMs = performance.now() - r0;
    const times = doneAt.filter((t): t is number => t !== undefined).sort((a, b) => a - b);
    return {
      n,
      mode,
      loss,
      simulatedMs: failed === 0 ? times[times.length - 1] : undefined,
      readyMs,
      medianMs: times.length >= who.length / 2 ? times[Math.floor((who.length - 1) / 2)] : undefined,
      failed,
      messages: fabric.sent.messages,
      lostMessages: fabric.sent.lost,
      bytes: Object.values(tally.kinds).reduce((x, k) => x + k.bytes, 0),
      byKind: tally.kinds,
      setupMs,
      realMs,
    };
  } finally {
    for (const a of allocs) a.stop();
  }
}
