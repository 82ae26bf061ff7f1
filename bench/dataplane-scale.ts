// The data plane at scale (issue 12), two parts:
//
//   probes     one host's real Prober among 100 and 1,000 real peer Probers in memory
//              (test/harness/probe-mesh.ts, manual clock): probe datagrams per second per host with
//              the old fixed schedule (every peer every 300 ms) and with the budget; how long a peer
//              carrying traffic among 1,000 idle ones takes to fail over to a relay and back
//              (router/paths.ts choosePaths on the prober's verdicts, the relay already serving),
//              one that starts carrying traffic over a broken path (activity from the memory
//              kernel's FDB, read every second), and an idle one's path to be corrected.
//   install    1,000 peers × 100 endpoints (100,000 FDB + 100,000 neighbour entries, plus 1,000
//              head-end entries) into a fresh namespace by the reconciler over weft's rtnetlink,
//              against `bridge -batch` + `ip -batch` of the same entries in another namespace in the
//              same run; then a no-op reconcile (read and diff) and the activity read (fdbUse) at
//              that size, against `bridge fdb show`.
import { performance } from 'node:perf_hooks';
import { VXLAN_PORT, VXLAN_VNI } from '../lib/constants.js';
import { silentLogger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { PeerActivity } from '../router/activity.js';
import { computeDesired, VXLAN_DEV } from '../router/forwarding.js';
import { MemoryKernel } from '../router/memory-kernel.js';
import { NetlinkKernel } from '../router/netlink-kernel.js';
import { choosePaths, type Path } from '../router/paths.js';
import type { PeerRecord } from '../router/peer-record.js';
import { Reconciler } from '../router/reconciler.js';
import { createLan, type Host } from '../test/harness/netns.js';
import { HOST_ADDR, HOST_NAME, probeMesh, ratePerSecond, type ProbeMesh } from '../test/harness/probe-mesh.js';
import type { ProberOptions } from '../router/prober.js';
import * as C from '../lib/constants.js';
import { measureSocketRates, type SocketRates } from './dataplane-scale-sockets.js';

const BUDGETED: Partial<ProberOptions> = { idleRate: C.PROBE_IDLE_RATE, budget: C.PROBE_BUDGET };

export interface ProbeRates {
  peers: number;
  /** Probe datagrams per second the host sends, settled, with every peer idle. */
  fixed: number;
  budgeted: number;
  /** Budgeted, with 10 of the peers carrying traffic. */
  budgetedActive10: number;
  idlePeriodMs: number;
  /** From start until every peer is up (budgeted). */
  allUpMs: number;
}

export interface FailoverSim {
  peers: number;
  /** An active peer's direct path breaks: until its path is the relay; and back once healed. */
  activeToRelayMs: number;
  activeBackMs: number;
  /** An idle peer's direct path broke long ago; traffic starts: until its path is the relay. */
  startsOverBrokenMs: number;
  /** An idle peer's path breaks: until its path is the relay (no traffic). */
  idleToRelayMs: number;
  idleBackMs: number;
}

export interface InstallBench {
  endpoints: number;
  fdb: number;
  neigh: number;
  weftMs: number;
  weftFailed: number;
  referenceMs: number;
  againMs: number;
  fdbUseMs: number;
  fdbShowMs: number;
}

export interface ScaleBench {
  rates: ProbeRates[];
  failover: FailoverSim;
  /** 10,000 and 100,000 endpoints. */
  install?: InstallBench[];
  /** The 1,000-peer rates again over real UDP sockets on loopback, real clock. */
  sockets: SocketRates;
}

function settledRate(peers: number, prober: Partial<ProberOptions>, active = 0): { rate: number; m: ProbeMesh; allUpMs: number } {
  const m = probeMesh({ peers, prober });
  let allUpMs = Infinity;
  for (let t = 100; t <= 30_000; t += 100) {
    m.clock.advance(100);
    if (allUpMs === Infinity && m.peers.every((p) => m.host.status(p.name).state === 'up')) allUpMs = t;
  }
  if (active > 0) m.host.setActive(new Set(m.peers.slice(0, active).map((p) => p.name)));
  m.clock.advance(10_000);
  const t0 = m.clock.now();
  m.clock.advance(60_000);
  return { rate: ratePerSecond(m.sentAt, t0, m.clock.now()), m, allUpMs };
}

export function simulateRates(peers: number): ProbeRates {
  const fixed = settledRate(peers, {});
  fixed.m.stop();
  const b = settledRate(peers, BUDGETED);
  const idlePeriodMs = b.m.host.probing().idlePeriodMs;
  b.m.stop();
  const a = settledRate(peers, BUDGETED, 10);
  a.m.stop();
  return { peers, fixed: fixed.rate, budgeted: b.rate, budgetedActive10: a.rate, idlePeriodMs, allUpMs: b.allUpMs };
}

/**
 * Failover among `peers` peers: peer 0 is the relay R (it reaches everyone, and serves everyone),
 * X carries traffic. Paths come from router/paths.ts on the host prober's verdicts, recomputed
 * every 10 ms of simulated time (the data plane recomputes 20 ms after a verdict changes).
 */
export async function simulateFailover(peers: number): Promise<FailoverSim> {
  const m = probeMesh({ peers, prober: BUDGETED });
  const kernel = new MemoryKernel({ clock: m.clock });
  const names = m.peers.map((p) => p.name);
  const R = names[0]!;
  const records = new Map<PeerName, PeerRecord>();
  const mac = (i: number): string => `02:aa:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
  m.peers.forEach((p, i) => {
    records.set(p.name, {
      name: p.name, version: 1n, gone: false, mtu: 1450, addresses: [p.addr], bridgeMac: '02:00:00:00:00:00',
      direct: p.name === R ? names.filter((n) => n !== R) : [], relays: [], serving: p.name === R ? names.filter((n) => n !== R) : [],
      endpoints: [{ mac: mac(i), ips: [] }],
    });
  });
  await kernel.apply([
    { op: 'link-add', link: { name: VXLAN_DEV, kind: 'vxlan', mtu: 1450, up: true, vxlan: { vni: VXLAN_VNI, port: VXLAN_PORT, learning: false, proxy: true } } },
    ...m.peers.map((p, i) => ({ op: 'fdb-add' as const, entry: { dev: VXLAN_DEV, mac: mac(i), dst: p.addr } })),
  ]);
  const owners = new Map(m.peers.map((p, i) => [mac(i), p.name] as const));
  const activity = new PeerActivity({
    kernel, clock: m.clock, log: silentLogger(), dev: VXLAN_DEV, pollMs: C.PROBE_ACTIVITY_POLL_MS, activeMs: C.PROBE_ACTIVE_MS,
    ownerOf: (x) => owners.get(x), onChange: (s) => m.host.setActive(s),
  });
  activity.start();
  let paths = new Map<PeerName, Path>();
  const recompute = (): void => {
    paths = choosePaths({ self: HOST_NAME, records, probe: (n) => m.host.status(n), nextHop: (n) => n, previous: paths }).paths;
  };
  const traffic = new Set<number>();
  /** Advances in 10 ms steps (the memory kernel forwards a frame to each peer in `traffic` every 10 ms) until done(). */
  const until = async (done: () => boolean, maxMs: number): Promise<number> => {
    const start = m.clock.now();
    while (m.clock.now() - start <= maxMs) {
      for (const i of traffic) kernel.transmit(VXLAN_DEV, mac(i));
      m.clock.advance(10);
      await new Promise<void>((r) => setImmediate(r));
      recompute();
      if (done()) return m.clock.now() - start;
    }
    return Infinity;
  };
  const kind = (i: number): string | undefined => paths.get(names[i]!)?.kind;
  await until(() => false, 30_000);

  const X = 500;
  traffic.add(X);
  await until(() => false, 5_000);
  m.net.block(HOST_ADDR, m.peers[X]!.addr);
  const activeToRelayMs = await until(() => kind(X) === 'relay', 10_000);
  m.net.unblock(HOST_ADDR, m.peers[X]!.addr);
  const activeBackMs = await until(() => kind(X) === 'direct', 10_000);

  // Y's path breaks while it is idle; traffic starts after its slot has passed but before the next.
  const Y = 321;
  m.net.block(HOST_ADDR, m.peers[Y]!.addr);
  const idleToRelayMs = await until(() => kind(Y) === 'relay', 60_000);
  m.net.unblock(HOST_ADDR, m.peers[Y]!.addr);
  const idleBackMs = await until(() => kind(Y) === 'direct', 60_000);

  const Z = 777;
  await until(() => false, 10_000);
  m.net.block(HOST_ADDR, m.peers[Z]!.addr);
  await until(() => false, 1_000);
  traffic.add(Z);
  const startsOverBrokenMs = await until(() => kind(Z) === 'relay', 60_000);
  activity.stop();
  m.stop();
  return { peers, activeToRelayMs, activeBackMs, startsOverBrokenMs, idleToRelayMs, idleBackMs };
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** peers × perPeer endpoints, one IPv4 address each, every peer direct. */
export function scaleRecords(peers: number, perPeer: number): PeerRecord[] {
  return Array.from({ length: peers }, (_, p) => ({
    name: 0x0b0000000000n + BigInt(p + 1),
    version: 1n,
    gone: false,
    mtu: 1450,
    addresses: [`198.19.${p >> 8}.${p & 0xff}`],
    bridgeMac: `02:0b:00:00:${hex2(p >> 8)}:${hex2(p & 0xff)}`,
    direct: [],
    relays: [],
    serving: [],
    endpoints: Array.from({ length: perPeer }, (_, i) => {
      const n = p * perPeer + i + 1;
      return { mac: `02:01:${hex2(p >> 8)}:${hex2(p & 0xff)}:${hex2(i >> 8)}:${hex2(i & 0xff)}`, ips: [`10.${32 + (n >> 16)}.${(n >> 8) & 0xff}.${n & 0xff}`] };
    }),
  }));
}

export async function benchInstall(peers = 1000, perPeer = 100): Promise<InstallBench> {
  const lan = await createLan({ hosts: 2 });
  const [weft, ref] = lan.hosts as [Host, Host];
  const kernel = new NetlinkKernel({ log: silentLogger(), netns: `/run/netns/${weft.name}`, timeoutMs: 60_000 });
  try {
    const recs = scaleRecords(peers, perPeer);
    const paths = new Map<PeerName, Path>(recs.map((r) => [r.name, { kind: 'direct', address: r.addresses[0]!, reason: '' }]));
    const desired = computeDesired({ self: 0x0a0000000001n, vni: VXLAN_VNI, port: VXLAN_PORT, mtu: 1450, bridgeMac: '02:0a:00:00:00:01', records: recs, paths, serving: new Map() });
    // The devices first (untimed on both sides), then the entries.
    const reconciler = new Reconciler({ kernel, log: silentLogger() });
    await reconciler.reconcile({ ...desired, fdb: [], neigh: [] });
    const t0 = performance.now();
    const first = await reconciler.reconcile(desired);
    const weftMs = performance.now() - t0;
    const t1 = performance.now();
    await reconciler.reconcile(desired);
    const againMs = performance.now() - t1;
    const t2 = performance.now();
    await kernel.fdbUse([VXLAN_DEV], C.PROBE_ACTIVE_MS);
    const fdbUseMs = performance.now() - t2;
    // Counted in the namespace (the harness keeps only the last 4 MB of a command's output).
    const count = async (cmd: string): Promise<number> => Number((await weft.exec('sh', ['-c', cmd], { timeoutMs: 120_000 })).stdout.trim());
    const fdb = await count(`bridge fdb show dev ${VXLAN_DEV} | grep -c ' dst '`);
    const neigh = await count(`ip neigh show dev ${VXLAN_DEV} | wc -l`);

    // The reference: the same devices by `ip link`, the same entries by one `bridge -batch` and one `ip -batch`.
    const refKernel = new NetlinkKernel({ log: silentLogger(), netns: `/run/netns/${ref.name}` });
    try {
      await new Reconciler({ kernel: refKernel, log: silentLogger() }).reconcile({ ...desired, fdb: [], neigh: [] });
    } finally {
      refKernel.close();
    }
    const fdbLines = desired.fdb.map((e) => `fdb ${e.mac === '00:00:00:00:00:00' ? 'append' : 'add'} ${e.mac} dev ${e.dev} dst ${e.dst} self permanent`).join('\n');
    const neighLines = desired.neigh.map((e) => `neigh add ${e.ip} lladdr ${e.mac} dev ${e.dev} nud permanent`).join('\n');
    const t3 = performance.now();
    const b = await ref.exec('bridge', ['-batch', '-'], { input: `${fdbLines}\n`, timeoutMs: 300_000 });
    const i = await ref.exec('ip', ['-batch', '-'], { input: `${neighLines}\n`, timeoutMs: 300_000 });
    const referenceMs = performance.now() - t3;
    if (b.code !== 0 || i.code !== 0) throw new Error(`reference batch failed: ${b.stderr.slice(0, 200)} ${i.stderr.slice(0, 200)}`);
    const t4 = performance.now();
    await ref.exec('sh', ['-c', `bridge fdb show dev ${VXLAN_DEV} >/dev/null`], { timeoutMs: 120_000 });
    const fdbShowMs = performance.now() - t4;
    return { endpoints: peers * perPeer, fdb, neigh, weftMs, weftFailed: first.failed.length, referenceMs, againMs, fdbUseMs, fdbShowMs };
  } finally {
    kernel.close();
    await lan.cleanup();
  }
}

export async function runScaleBench(o: { install: boolean }): Promise<ScaleBench> {
  const rates = [simulateRates(100), simulateRates(1000)];
  const failover = await simulateFailover(1000);
  const sockets = await measureSocketRates(1000, BUDGETED);
  return { rates, failover, sockets, install: o.install ? [await benchInstall(100, 100), await benchInstall(1000, 100)] : undefined };
}

const s = (ms: number): string => (ms === Infinity ? 'never' : `${(ms / 1000).toFixed(2)} s`);

export function formatScale(r: ScaleBench): string {
  const out: string[] = [];
  out.push(`data plane at scale: probes (one host's real prober among N real peer probers in memory, simulated clock; budget ${C.PROBE_BUDGET}/s, idle peers share ${C.PROBE_IDLE_RATE}/s)`);
  out.push('N      fixed 300 ms      budgeted, all idle   with 10 active      idle period   all up from start');
  for (const x of r.rates) {
    out.push(`${String(x.peers).padEnd(7)}${`${x.fixed.toFixed(0)}/s`.padEnd(18)}${`${x.budgeted.toFixed(1)}/s (${(x.fixed / x.budgeted).toFixed(0)}× fewer)`.padEnd(21)}${`${x.budgetedActive10.toFixed(1)}/s`.padEnd(20)}${s(x.idlePeriodMs).padEnd(14)}${s(x.allUpMs)}`);
  }
  out.push('(probe datagrams sent per host; the acks a host sends answer the others\' probes, as many again when every host runs the same schedule)');
  const k = r.sockets;
  out.push(`the same over real UDP sockets on loopback, real clock, ${k.peers} peers: fixed ${k.fixed.toFixed(0)}/s with ${k.upFixed} peers up (a round's ${k.peers} acks arrive together), budgeted ${k.budgeted.toFixed(1)}/s with ${k.upBudgeted} up`);
  const f = r.failover;
  out.push(`failover among ${f.peers} peers (simulated; relay already serving, so gossip to the relay is not included — see "failover" above for the real one):`);
  out.push(`  peer carrying traffic, direct path breaks: relay after ${s(f.activeToRelayMs)}, direct again ${s(f.activeBackMs)} after it heals (goal < 2 s)`);
  out.push(`  idle peer's path broke, then traffic starts: relay after ${s(f.startsOverBrokenMs)} (activity read every ${C.PROBE_ACTIVITY_POLL_MS / 1000} s + the failure time)`);
  out.push(`  idle peer, path breaks with no traffic: relay after ${s(f.idleToRelayMs)}, direct again ${s(f.idleBackMs)} after it heals (at most the idle period + 1.5 s)`);
  for (const i of r.install ?? []) {
    out.push(`install ${i.endpoints.toLocaleString('en')} remote endpoints (real netlink, fresh namespace): ${s(i.weftMs)} (${i.fdb} FDB + ${i.neigh} neighbour entries, ${i.weftFailed} failed)`);
    out.push(`  reference bridge -batch + ip -batch, same entries: ${s(i.referenceMs)}  → weft/reference ${(i.weftMs / i.referenceMs).toFixed(2)}`);
    out.push(`  the same state again (read + diff): ${s(i.againMs)}; which entries carry traffic (fdbUse): ${s(i.fdbUseMs)} (bridge fdb show: ${s(i.fdbShowMs)})`);
  }
  return out.join('\n');
}
