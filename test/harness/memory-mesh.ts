// In-memory multi-router fixture: routers on a MemoryNetwork with one ManualClock, so
// scenarios run deterministically and fast. `settle` lets I/O drain and time move on until a
// condition holds.
import { ManualClock } from '../../lib/clock.js';
import { silentLogger, createLogger } from '../../lib/log.js';
import { MemoryNetwork } from '../../mesh/memory-transport.js';
import { MeshRouter, type RouterTimings } from '../../mesh/router.js';
import type { PeerName } from '../../mesh/peer-name.js';

export interface NodeSpec {
  name: PeerName;
  nickname?: string;
  host?: string;
  password?: string;
  peers?: string[];
  connLimit?: number;
  discovery?: boolean;
  /** Discovery's target degree (0 or unset: every peer). */
  degree?: number;
  uid?: bigint;
}

/** A deterministic pseudo-random source (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class MemoryMesh {
  readonly clock = new ManualClock();
  readonly net = new MemoryNetwork();
  readonly routers: MeshRouter[] = [];
  private seed = 1;

  constructor(private readonly timings: RouterTimings = {}) {}

  async add(spec: NodeSpec): Promise<MeshRouter> {
    const host = spec.host ?? `198.18.0.${this.routers.length + 1}`;
    const r = new MeshRouter({
      name: spec.name,
      nickname: spec.nickname ?? `n${this.routers.length + 1}`,
      uid: spec.uid,
      host,
      port: 6783,
      password: spec.password === undefined ? undefined : Buffer.from(spec.password),
      connLimit: spec.connLimit ?? 100,
      discovery: spec.discovery ?? true,
      degree: spec.degree ?? 0,
      transport: this.net.host(host),
      clock: this.clock,
      random: seededRandom(this.seed++),
      log: process.env.WEFT_TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger(),
      timings: this.timings,
    });
    await r.start(spec.peers ?? []);
    this.routers.push(r);
    return r;
  }

  /** Lets pending I/O run (no time passes). */
  async flush(rounds = 20): Promise<void> {
    for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
  }

  /**
   * Alternates draining I/O and advancing time by stepMs until pred() holds; throws after
   * maxMs of simulated time with the description.
   */
  async settle(pred: () => boolean, what: string, opts: { stepMs?: number; maxMs?: number } = {}): Promise<number> {
    const step = opts.stepMs ?? 100;
    const max = opts.maxMs ?? 120_000;
    let elapsed = 0;
    for (;;) {
      await this.flush();
      if (pred()) return elapsed;
      if (elapsed >= max) throw new Error(`not settled after ${max} ms simulated: ${what}`);
      this.clock.advance(step);
      elapsed += step;
    }
  }

  /** Advances simulated time by ms, draining I/O along the way. */
  async run(ms: number, stepMs = 100): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      await this.flush();
      this.clock.advance(stepMs);
    }
    await this.flush();
  }

  async stop(): Promise<void> {
    for (const r of this.routers) await r.stop();
    await this.flush();
  }
}

/** True if every router knows every other one and has an established route to it. */
export function converged(routers: MeshRouter[]): boolean {
  const alive = routers;
  return alive.every((r) => alive.every((o) => o === r || (r.peers.get(o.name) !== undefined && r.routes.unicast.has(o.name))) && r.peers.size === alive.length);
}
