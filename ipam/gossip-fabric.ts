// An in-memory gossip network for IPAM tests and simulations: every peer reaches every other
// peer of its partition directly, messages arrive after a random delay (so they reorder) and
// may be lost; peers crash and come back; partitions split and heal. Periodic gossip() and the
// exchange of gossip() between peers that become reachable stand in for mesh's anti-entropy.
import { ManualClock } from '../lib/clock.js';
import type { PeerName } from '../mesh/peer-name.js';
import type { GossipChannel, GossipData, Gossiper } from '../mesh/gossip.js';
import type { IpamMeshView } from './allocator.js';

interface Node {
  name: PeerName;
  nickname: string;
  gossiper: Gossiper | undefined;
  up: boolean;
  group: number;
  onTopology: (() => void) | undefined;
}

export interface FabricOptions {
  random: () => number;
  clock?: ManualClock;
  /** Messages take between these many ms to arrive. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Every peer sends its whole state to every reachable peer this often. */
  gossipIntervalMs?: number;
}

export class GossipFabric {
  readonly clock: ManualClock;
  /** Probability that a message is lost. */
  loss = 0;
  readonly sent = { messages: 0, lost: 0 };
  private readonly nodes = new Map<PeerName, Node>();
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private reach = new Set<string>();

  constructor(private readonly o: FabricOptions) {
    this.clock = o.clock ?? new ManualClock();
    this.minDelay = o.minDelayMs ?? 1;
    this.maxDelay = o.maxDelayMs ?? 20;
    const interval = o.gossipIntervalMs ?? 5_000;
    const periodic = (): void => {
      for (const n of this.nodes.values()) if (n.up) this.sendState(n);
      this.clock.setTimeout(periodic, interval);
    };
    this.clock.setTimeout(periodic, interval);
  }

  /** Adds (or brings back) a peer; returns its view of the mesh and a function to register its gossiper. */
  join(name: PeerName, nickname: string): { mesh: IpamMeshView; connect(g: Gossiper, onTopology?: () => void): GossipChannel } {
    const node: Node = this.nodes.get(name) ?? { name, nickname, gossiper: undefined, up: false, group: 0, onTopology: undefined };
    this.nodes.set(name, node);
    const mesh: IpamMeshView = {
      reachable: (n) => this.reachable(name, n),
      knownPeers: () => [...this.nodes.values()].filter((p) => p.name === name || this.reachable(name, p.name)).map((p) => p.name),
      nickname: (n) => this.nodes.get(n)?.nickname,
    };
    return {
      mesh,
      connect: (g, onTopology) => {
        node.gossiper = g;
        node.onTopology = onTopology;
        node.up = true;
        this.topologyChanged();
        return this.channel(node);
      },
    };
  }

  crash(name: PeerName): void {
    const n = this.nodes.get(name)!;
    n.up = false;
    n.gossiper = undefined;
    n.onTopology = undefined;
    this.topologyChanged();
  }

  /** Splits the peers into groups that reach only each other (unlisted peers form their own group). */
  partition(groups: PeerName[][]): void {
    for (const n of this.nodes.values()) n.group = -1;
    groups.forEach((g, i) => g.forEach((name) => (this.nodes.get(name)!.group = i + 1)));
    this.topologyChanged();
  }

  heal(): void {
    for (const n of this.nodes.values()) n.group = 0;
    this.topologyChanged();
  }

  reachable(a: PeerName, b: PeerName): boolean {
    if (a === b) return true;
    const x = this.nodes.get(a);
    const y = this.nodes.get(b);
    return !!x && !!y && x.up && y.up && x.group === y.group && x.group !== -1;
  }

  /** Drains promise callbacks (no simulated time passes). */
  async flush(rounds = 10): Promise<void> {
    for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
  }

  async run(ms: number, stepMs = 10): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      await this.flush(3);
      this.clock.advance(stepMs);
    }
    await this.flush();
  }

  /** Runs until pred() holds; throws after maxMs simulated. Returns the simulated time taken. */
  async settle(pred: () => boolean, what: string, maxMs = 60_000, stepMs = 10): Promise<number> {
    for (let t = 0; ; t += stepMs) {
      await this.flush(3);
      if (pred()) return t;
      if (t >= maxMs) throw new Error(`not settled after ${maxMs} ms simulated: ${what}`);
      this.clock.advance(stepMs);
    }
  }

  private topologyChanged(): void {
    const now = new Set<string>();
    const ups = [...this.nodes.values()].filter((n) => n.up);
    for (const a of ups) for (const b of ups) if (a !== b && this.reachable(a.name, b.name)) now.add(`${a.name}-${b.name}`);
    const fresh = [...now].filter((k) => !this.reach.has(k));
    this.reach = now;
    for (const n of ups) n.onTopology?.();
    // New neighbours exchange their whole state, as mesh does.
    for (const k of fresh) {
      const [a, b] = k.split('-').map((x) => BigInt(x));
      const from = this.nodes.get(a!)!;
      const data = from.gossiper?.gossip();
      if (data) for (const m of data.encode()) this.deliver(from.name, b!, (g) => g.onGossip(m));
    }
  }

  private sendState(n: Node): void {
    const data = n.gossiper?.gossip();
    if (!data) return;
    const msgs = data.encode();
    for (const p of this.nodes.values()) if (p !== n && this.reachable(n.name, p.name)) for (const m of msgs) this.deliver(n.name, p.name, (g) => g.onGossip(m));
  }

  private channel(node: Node): GossipChannel {
    const others = (): Node[] => [...this.nodes.values()].filter((p) => p !== node && this.reachable(node.name, p.name));
    return {
      name: 'weft-ipam',
      gossipUnicast: (dst, msg) => this.deliver(node.name, dst, (g) => g.onGossipUnicast(node.name, msg)),
      gossipBroadcast: (data: GossipData) => {
        const msgs = data.encode();
        for (const p of others()) for (const m of msgs) this.deliver(node.name, p.name, (g) => void g.onGossipBroadcast(node.name, m));
      },
      gossipNeighbourSubset: (data: GossipData) => {
        const msgs = data.encode();
        for (const p of others()) for (const m of msgs) this.deliver(node.name, p.name, (g) => void g.onGossip(m));
      },
    };
  }

  private deliver(from: PeerName, to: PeerName, fn: (g: Gossiper) => void): void {
    this.sent.messages++;
    if (!this.reachable(from, to) || this.o.random() < this.loss) {
      this.sent.lost++;
      return;
    }
    const delay = this.minDelay + Math.floor(this.o.random() * (this.maxDelay - this.minDelay + 1));
    this.clock.setTimeout(() => {
      const n = this.nodes.get(to);
      if (n?.gossiper && this.reachable(from, to)) fn(n.gossiper);
    }, delay);
  }
}
