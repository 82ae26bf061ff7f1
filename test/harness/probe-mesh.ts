// One host's real Prober among N peers, in memory (MemoryProbeNetwork, one ManualClock): each peer
// is a real Prober too that answers the host's probes (and, with `probeBack`, probes the host with
// the same budget, as its own router would). Used by the schedule tests (router/prober-budget.test.ts)
// and the data-plane scale benchmark (bench/dataplane-scale.ts).
//
//   host 198.18.0.1 ──┬── peer 0   198.18.1.0
//                     ├── peer 1   198.18.1.1
//                     └── …        198.18.x.y, 198.19.x.y (up to 65,024 peers)
import { ManualClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/log.js';
import type { PeerName } from '../../mesh/peer-name.js';
import { MemoryProbeNetwork, type ProbeTransport } from '../../router/probe-transport.js';
import { Prober, type ProberOptions } from '../../router/prober.js';

export const HOST_ADDR = '198.18.0.1';
export const HOST_NAME: PeerName = 0x02_00_00_00_00_01n;
const VNI = 0x5eb1;
const PORT = 6784;

export interface ProbeMeshOptions {
  peers: number;
  /** Prober settings of the host (and of the peers with probeBack). */
  prober: Partial<ProberOptions>;
  /** Peers probe the host too (their own schedule), so the host's answers are counted. */
  probeBack?: boolean;
}

export interface ProbeMesh {
  clock: ManualClock;
  net: MemoryProbeNetwork;
  host: Prober;
  peers: { name: PeerName; addr: string; prober: Prober }[];
  /** Datagrams the host sent (probes and acks), each with its time. */
  sentAt: number[];
  /** Probe datagrams the host sent to each peer address, with their times. */
  probesTo: Map<string, number[]>;
  /** Peer i's name and address. */
  peer(i: number): { name: PeerName; addr: string };
  stop(): void;
}

export const peerName = (i: number): PeerName => 0x02_00_00_10_00_00n + BigInt(i);
/** Inside 198.18.0.0/15 for i < 65,024. */
export const peerAddr = (i: number): string => `198.${18 + ((1 + (i >> 8)) >> 8)}.${(1 + (i >> 8)) & 0xff}.${i & 0xff}`;
const macOf = (name: PeerName): string => name.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');

/** Deterministic nonces (fast, and runs repeat exactly). */
function counterRandom(): (n: number) => Buffer {
  let i = 0;
  return (n) => {
    const b = Buffer.alloc(n);
    b.writeUInt32BE(++i >>> 0, 0);
    return b;
  };
}

export function probeMesh(o: ProbeMeshOptions): ProbeMesh {
  const clock = new ManualClock();
  const net = new MemoryProbeNetwork();
  const random = counterRandom();
  const sentAt: number[] = [];
  const probesTo = new Map<string, number[]>();
  const base = { vni: VNI, port: PORT, mtu: 1450, clock, log: silentLogger(), intervalMs: 300, failAfterMs: 1200, random, onChange: () => undefined };

  const hostMac = macOf(HOST_NAME);
  const raw = net.host(HOST_ADDR, { vni: VNI, port: PORT, mac: hostMac });
  const counting: ProbeTransport = {
    send: (addr, port, d) => {
      sentAt.push(clock.now());
      // A probe (not an ack): kind in the low nibble of the byte after "WFTP" (VXLAN 8 + Ethernet 14 + magic 4).
      if ((d[26]! & 0x0f) === 1) {
        let list = probesTo.get(addr);
        if (!list) probesTo.set(addr, (list = []));
        list.push(clock.now());
      }
      raw.send(addr, port, d);
    },
    receive: (cb) => raw.receive(cb),
    close: () => raw.close(),
  };
  const host = new Prober({ ...base, ...o.prober, self: HOST_NAME, bridgeMac: hostMac, replyTo: () => HOST_ADDR, transport: counting });

  const peers: ProbeMesh['peers'] = [];
  for (let i = 0; i < o.peers; i++) {
    const name = peerName(i);
    const addr = peerAddr(i);
    const mac = macOf(name);
    const t = net.host(addr, { vni: VNI, port: PORT, mac });
    const prober = new Prober({ ...base, ...(o.probeBack ? o.prober : {}), self: name, bridgeMac: mac, replyTo: () => addr, transport: t });
    prober.setTargets([{ name: HOST_NAME, addresses: [HOST_ADDR], bridgeMac: hostMac }]);
    if (o.probeBack) prober.start();
    peers.push({ name, addr, prober });
  }
  host.setTargets(peers.map((p) => ({ name: p.name, addresses: [p.addr], bridgeMac: macOf(p.name) })));
  host.start();
  return {
    clock,
    net,
    host,
    peers,
    sentAt,
    probesTo,
    peer: (i) => ({ name: peerName(i), addr: peerAddr(i) }),
    stop: () => {
      host.stop();
      for (const p of peers) p.prober.stop();
    },
  };
}

/** The most datagrams in any window of windowMs among sorted times in [from, to). */
export function maxInWindow(times: readonly number[], from: number, to: number, windowMs: number): number {
  let best = 0;
  let lo = 0;
  const t = times.filter((x) => x >= from && x < to);
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi]! - t[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** Datagrams per second among times in [from, to). */
export function ratePerSecond(times: readonly number[], from: number, to: number): number {
  return (times.filter((x) => x >= from && x < to).length * 1000) / (to - from);
}
