// How long the reconciler takes to program many remote endpoints into a real kernel over weft's own
// rtnetlink: in a fresh namespace, 100 peers × 100 endpoints (one IP each), every peer direct.
//   1. from empty: bridge + VXLAN device, 10,100 FDB entries (incl. one all-zero per peer), 10,000 neighbours
//   2. the same state again: a read and an empty diff
//   3. 1% of the endpoints replaced (new MAC and IP)
import { performance } from 'node:perf_hooks';
import { VXLAN_PORT, VXLAN_VNI } from '../lib/constants.js';
import { silentLogger } from '../lib/log.js';
import { computeDesired, VXLAN_DEV } from '../router/forwarding.js';
import { NetlinkKernel } from '../router/netlink-kernel.js';
import type { Path } from '../router/paths.js';
import type { Endpoint, PeerRecord } from '../router/peer-record.js';
import { Reconciler } from '../router/reconciler.js';
import type { PeerName } from '../mesh/peer-name.js';
import { createLan } from '../test/harness/netns.js';

export interface ReconcileStep {
  ms: number;
  ops: number;
  failed: number;
}

export interface ReconcileBench {
  peers: number;
  endpoints: number;
  first: ReconcileStep;
  /** `bridge fdb show dev vxlan-weft` lines with a `dst` (remote entries), and `ip neigh show dev vxlan-weft` lines. */
  kernelFdb: number;
  kernelNeigh: number;
  again: ReconcileStep;
  changed: ReconcileStep & { endpointsChanged: number };
}

const SELF: PeerName = 0x0a0000000001n;
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

function endpoint(peer: number, i: number, generation: number): Endpoint {
  return { mac: `02:${hex2(generation)}:00:${hex2(peer)}:${hex2(i >> 8)}:${hex2(i & 0xff)}`, ips: [`10.${32 + generation}.${peer}.${i + 1}`] };
}

function records(peers: number, perPeer: number): PeerRecord[] {
  return Array.from({ length: peers }, (_, p) => ({
    name: 0x0b0000000000n + BigInt(p + 1),
    version: 1n,
    gone: false,
    mtu: 1450,
    addresses: [`198.18.1.${p + 1}`],
    bridgeMac: `02:0b:00:00:00:${hex2(p + 1)}`,
    direct: [],
    relays: [],
    serving: [],
    endpoints: Array.from({ length: perPeer }, (_, i) => endpoint(p, i, 0)),
  }));
}

function desiredFrom(recs: PeerRecord[]) {
  const paths = new Map<PeerName, Path>(recs.map((r) => [r.name, { kind: 'direct', address: r.addresses[0]!, reason: '' }]));
  return computeDesired({ self: SELF, vni: VXLAN_VNI, port: VXLAN_PORT, mtu: 1450, bridgeMac: '02:0a:00:00:00:01', records: recs, paths, serving: new Map() });
}

export async function benchReconcile(peers = 100, perPeer = 100): Promise<ReconcileBench> {
  const lan = await createLan({ hosts: 1 });
  const host = lan.hosts[0]!;
  const kernel = new NetlinkKernel({ log: silentLogger(), netns: `/run/netns/${host.name}` });
  try {
    const reconciler = new Reconciler({ kernel, log: silentLogger() });
    const step = async (recs: PeerRecord[]): Promise<ReconcileStep> => {
      const desired = desiredFrom(recs);
      const t0 = performance.now();
      const r = await reconciler.reconcile(desired);
      return { ms: performance.now() - t0, ops: r.ops.length, failed: r.failed.length };
    };
    const recs = records(peers, perPeer);
    const first = await step(recs);
    const fdb = (await host.exec('bridge', ['fdb', 'show', 'dev', VXLAN_DEV])).stdout.split('\n').filter((l) => / dst /.test(l)).length;
    const neigh = (await host.exec('ip', ['neigh', 'show', 'dev', VXLAN_DEV])).stdout.split('\n').filter(Boolean).length;
    const again = await step(recs);
    // Every 100th endpoint (1%) is replaced by a new one with another MAC and IP.
    let endpointsChanged = 0;
    const changedRecs = recs.map((r, p) => ({
      ...r,
      version: 2n,
      endpoints: r.endpoints.map((e, i) => ((p * perPeer + i) % 100 === 0 ? (endpointsChanged++, endpoint(p, i, 1)) : e)),
    }));
    const changed = await step(changedRecs);
    return { peers, endpoints: peers * perPeer, first, kernelFdb: fdb, kernelNeigh: neigh, again, changed: { ...changed, endpointsChanged } };
  } finally {
    kernel.close();
    await lan.cleanup();
  }
}
