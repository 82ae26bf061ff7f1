// The data plane's metrics from its in-memory twin: three real Dataplanes over MemoryKernels,
// real MeshRouters on the memory transport, probes over MemoryProbeNetwork, one ManualClock. The
// sink is the one the daemon passes (Dataplane's `metrics` option): reconciles, kernel ops and a
// path change to a relay are counted where they happen; paths and relays served are read from
// status() at scrape time.
//
//   r1 198.18.0.1 ◄── r2 198.18.0.2 ◄── r3 198.18.0.3     (probes r1↔r3 blocked halfway)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { MemoryMesh } from '../../test/harness/memory-mesh.js';
import { Dataplane } from '../../router/dataplane.js';
import { MemoryKernel } from '../../router/memory-kernel.js';
import { meshView } from '../../router/mesh-view.js';
import { MemoryProbeNetwork } from '../../router/probe-transport.js';
import { createMetrics, type Metrics } from './metrics.js';
import { sample } from './sample.js';

const NAMES = [0x02_00_00_00_00_01n, 0x02_00_00_00_00_02n, 0x02_00_00_00_00_03n];
const ADDR = ['198.18.0.1', '198.18.0.2', '198.18.0.3'];

let dir: string | undefined;
let mesh: MemoryMesh | undefined;
const planes: Dataplane[] = [];
afterEach(async () => {
  for (const p of planes.splice(0)) await p.stop();
  await mesh?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('data-plane metrics over the in-memory data plane', () => {
  it('count reconciles and kernel ops as they happen, and a path that changes to a relay', async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-dp-metrics-'));
    mesh = new MemoryMesh();
    const probes = new MemoryProbeNetwork();
    const metrics: Metrics[] = [];
    for (let i = 0; i < 3; i++) {
      const router = await mesh.add({ name: NAMES[i]!, host: ADDR[i], peers: i === 0 ? [] : [`${ADDR[i - 1]}:6783`] });
      const box: { dp?: Dataplane } = {};
      const m = createMetrics({
        version: 'test',
        mesh: { connections: () => router.connectionStatus(), encrypted: () => false, peers: () => router.peers.size, reachable: () => router.routes.unicast.size, traffic: () => router.traffic, dropped: () => ({}) },
        ipam: () => undefined,
        dataplane: () => box.dp?.status(),
        endpoints: () => {
          const all = box.dp?.endpointStatus() ?? [];
          return { local: all.filter((e) => e.local).length, remote: all.filter((e) => !e.local).length };
        },
        ready: () => ({ ready: true, reasons: [] }),
      }, { processMetrics: false });
      const dp = new Dataplane({
        mesh: meshView(router), kernel: new MemoryKernel({ clock: mesh.clock }),
        openProbeTransport: () => probes.host(ADDR[i]!, { vni: 0x5eb1, port: 6784, mac: `02:00:00:00:00:0${i + 1}` }),
        clock: mesh.clock, log: silentLogger(), dataDir: join(dir, `r${i}`), vni: 0x5eb1, port: 6784, mtu: 1450, underlayHints: [], overlayRange: '10.32.0.0/12',
        probeIntervalMs: 300, probeFailAfterMs: 1200, peerGraceMs: 60_000, adoptMs: 20_000, refreshMs: 2000,
        metrics: m.sink,
      });
      box.dp = dp;
      await dp.start();
      planes.push(dp);
      metrics.push(m);
    }
    const path = (i: number, kind: string): number | undefined => {
      const s = planes[i]!.status().peers;
      return s.filter((p) => (kind === 'relay' ? p.path.startsWith('relay') : p.path === kind)).length;
    };
    await mesh.settle(() => [0, 1, 2].every((i) => path(i, 'direct') === 2), 'every path direct', { stepMs: 100 });
    let text = await metrics[0]!.text();
    expect(sample(text, 'weft_dataplane_paths{kind="direct"}')).toBe(2);
    expect(sample(text, 'weft_dataplane_reconciles_total')).toBeGreaterThan(0);
    expect(sample(text, 'weft_dataplane_reconcile_duration_seconds_count')).toBe(sample(text, 'weft_dataplane_reconciles_total'));
    // The bridge and the VXLAN device, then each peer's head-end entry.
    expect(sample(text, 'weft_dataplane_kernel_ops_total{op="link-add"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'weft_dataplane_kernel_ops_total{op="fdb-add"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'weft_dataplane_kernel_op_errors_total{op="fdb-add"}')).toBeUndefined();
    // A new peer's path is 'none' while it is first probed: each came up as a change to direct.
    expect(sample(text, 'weft_dataplane_path_changes_total{to="direct"}')).toBe(2);
    expect(sample(text, 'weft_dataplane_path_changes_total{to="relay"}')).toBe(0);
    expect(sample(text, 'weft_dataplane_probes_acked_total')).toBeGreaterThan(0);
    expect(sample(text, 'weft_dataplane_probes_answered_total')).toBeGreaterThan(0);

    probes.block(ADDR[0]!, ADDR[2]!);
    await mesh.settle(() => path(0, 'relay') === 1 && path(2, 'relay') === 1, 'r1 and r3 relayed through r2', { stepMs: 100 });
    text = await metrics[0]!.text();
    expect(sample(text, 'weft_dataplane_paths{kind="relay"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_paths{kind="direct"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_path_changes_total{to="relay"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_peer_path{peer="02:00:00:00:00:03",kind="relay"}')).toBe(1);
    await mesh.settle(() => planes[1]!.status().relaying.length === 2, 'r2 relaying both ways', { stepMs: 100 });
    expect(sample(await metrics[1]!.text(), 'weft_dataplane_relays_served')).toBe(2);

    probes.unblock(ADDR[0]!, ADDR[2]!);
    await mesh.settle(() => path(0, 'direct') === 2, 'r1 direct to r3 again', { stepMs: 100 });
    text = await metrics[0]!.text();
    expect(sample(text, 'weft_dataplane_path_changes_total{to="direct"}')).toBe(3);
    expect(sample(text, 'weft_dataplane_paths{kind="relay"}')).toBe(0);
  });
});
