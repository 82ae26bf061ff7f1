// Randomised runs of ten allocators over the in-memory gossip fabric: allocations, releases,
// message loss and reordering, partitions (some longer than the reclaim period), kill -9 and
// restarts from the store. Checked after every step:
//   - no address is held by two containers (among allocations inside space their peer still
//     owns in the union of every peer's ring; the rest are the reclaimed ones, reported lost);
//   - an address returned by allocate() belongs, in that union, to the peer that returned it;
// and after the network heals, every ring converges to the same state.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { seededRandom } from '../test/harness/memory-mesh.js';
import { Allocator } from './allocator.js';
import { GossipFabric } from './gossip-fabric.js';
import { Ring } from './ring.js';
import { parseCidr, parseIp } from './space.js';
import { MemoryIpamStore } from './store.js';

const N = 10;
const NAMES = Array.from({ length: N }, (_, i) => BigInt(0x02_00_00_00_01_00 + i));
const RECLAIM = 20_000;
const RANGE = '10.32.0.0/24';

interface Slot {
  alloc: Allocator | undefined;
  store: MemoryIpamStore;
}

async function simulate(seed: number, steps: number): Promise<{ allocated: number; reclaims: number }> {
  const rnd = seededRandom(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const fabric = new GossipFabric({ random: seededRandom(seed + 1000), maxDelayMs: 50 });
  const slots: Slot[] = NAMES.map(() => ({ alloc: undefined, store: new MemoryIpamStore() }));
  const containers = new Map<string, number>(); // container → slot, as returned to the caller
  const violations: string[] = [];
  let allocated = 0;
  let next = 0;

  const truth = (): Ring => {
    const states = slots.flatMap((s) => (s.alloc?.ringState() ? [s.alloc.ringState()!] : []));
    const r = Ring.fromState(states[0]!);
    for (const s of states.slice(1)) r.merge(s);
    return r;
  };

  const boot = async (i: number): Promise<void> => {
    const j = fabric.join(NAMES[i]!, `p${i}`);
    const a = new Allocator({
      self: NAMES[i]!,
      range: parseCidr(RANGE)!,
      init: { mode: 'seed', seeds: NAMES.slice(0, 4) },
      clock: fabric.clock,
      random: seededRandom(seed * 100 + i),
      log: silentLogger(),
      store: slots[i]!.store,
      mesh: j.mesh,
      reclaimAfterMs: RECLAIM,
      timings: { waitRingMs: 5_000 },
    });
    a.attach(j.connect(a, () => a.topologyChanged()));
    await a.start();
    slots[i]!.alloc = a;
  };

  const kill = (i: number): void => {
    const s = slots[i]!;
    s.alloc!.stop();
    s.alloc = undefined;
    fabric.crash(NAMES[i]!);
    // kill -9: only what was saved survives, and nothing the dead process does later lands.
    const saved = s.store.saved;
    s.store = new MemoryIpamStore();
    if (saved) void s.store.save(saved);
  };

  const check = (when: string): void => {
    const ring = truth();
    const seen = new Map<string, string>();
    slots.forEach((s, i) => {
      for (const { container, ip } of s.alloc?.allocations() ?? []) {
        if (ring.ownerOf(parseIp(ip)!) !== NAMES[i]) continue;
        const other = seen.get(ip);
        if (other !== undefined) violations.push(`${when}: ${ip} held by ${other} and p${i}:${container}`);
        seen.set(ip, `p${i}:${container}`);
      }
    });
  };

  for (let i = 0; i < N; i++) await boot(i);
  let partitioned = false;
  for (let step = 0; step < steps; step++) {
    const up = slots.map((s, i) => (s.alloc ? i : -1)).filter((i) => i >= 0);
    const r = rnd();
    if (r < 0.45) {
      const i = pick(up);
      const a = slots[i]!.alloc!;
      const name = `c${next++}`;
      a.allocate(name).then(
        (ip) => {
          allocated++;
          containers.set(name, i);
          const owner = truth().ownerOf(parseIp(ip)!);
          if (owner !== NAMES[i]) violations.push(`step ${step}: p${i} handed out ${ip}, owned by ${owner?.toString(16)}`);
        },
        () => undefined,
      );
    } else if (r < 0.65) {
      const held = [...containers].filter(([, i]) => slots[i]!.alloc);
      if (held.length > 0) {
        const [name, i] = pick(held);
        containers.delete(name);
        void slots[i]!.alloc!.release(name).catch(() => undefined);
      }
    } else if (r < 0.72) {
      fabric.loss = pick([0, 0, 0.05, 0.2]);
    } else if (r < 0.8) {
      if (partitioned) {
        fabric.heal();
        partitioned = false;
      } else {
        const shuffled = [...NAMES].sort(() => rnd() - 0.5);
        const cut = 1 + Math.floor(rnd() * (N - 1));
        fabric.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        if (process.env.SIM_DEBUG) console.log('partition', shuffled.slice(0, cut).map((n) => n - NAMES[0]!).join(','), '|', shuffled.slice(cut).map((n) => n - NAMES[0]!).join(','));
        partitioned = true;
      }
    } else if (r < 0.85 && up.length > N / 2) {
      kill(pick(up));
    } else if (r < 0.9) {
      const down = slots.map((s, i) => (s.alloc ? -1 : i)).filter((i) => i >= 0);
      if (down.length > 0) await boot(pick(down));
    } else if (r < 0.95) {
      // A long wait: partitions and crashes outlast the reclaim period.
      await fabric.run(RECLAIM + 5_000, 200);
    }
    if (process.env.SIM_DEBUG) console.log(`t=${fabric.clock.now()} step ${step} r=${r.toFixed(2)} up=${up.join(',')} part=${partitioned} ` + slots.map((s, i) => s.alloc ? `p${i}:${s.alloc.status().fenced ? 'F' : ''}${s.alloc.status().ready ? '' : 'W'}[${s.alloc.status().peers.filter((x) => x.owned > 0).map((x) => x.nickname + '=' + x.owned).join(' ')}]` : `p${i}:down`).join(' '));
    await fabric.run(10 + Math.floor(rnd() * 1500), 50);
    check(`step ${step}`);
    if (violations.length > 0) break;
  }
  expect(violations).toEqual([]);

  // Heal everything and let it converge.
  fabric.heal();
  fabric.loss = 0;
  for (let i = 0; i < N; i++) if (!slots[i]!.alloc) await boot(i);
  const text = (i: number): string => JSON.stringify(slots[i]!.alloc!.ringState(), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
  await fabric.settle(() => slots.every((_s, i) => text(i) === text(0)), 'rings converge', 120_000, 100);
  check('after healing');
  expect(violations).toEqual([]);
  // With everyone back, every address has exactly one owner and the owners hold disjoint space.
  const r0 = Ring.fromState(slots[0]!.alloc!.ringState()!);
  expect(r0.isComplete()).toBe(true);
  const reclaims = r0.entries().filter((e) => e.version > 1_000_000).length;
  for (const s of slots) s.alloc!.stop();
  return { allocated, reclaims };
}

describe('allocator simulation', () => {
  // WEFT_SIM_SEEDS=200 sweeps more seeds.
  const seeds = Number(process.env.WEFT_SIM_SEEDS ?? 8);
  for (let seed = 1; seed <= seeds; seed++) {
    it(`seed ${seed}: no duplicate addresses, rings converge`, async () => {
      const { allocated, reclaims } = await simulate(seed, 300);
      expect(allocated).toBeGreaterThan(20);
      if (seed === 1) expect(reclaims).toBeGreaterThan(0);
    }, 60_000);
  }
});
