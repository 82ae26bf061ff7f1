// The metrics over the in-memory twins: two mesh routers on a MemoryNetwork (one ManualClock) and
// a real allocator with a memory store, scraped over a real loopback listener through the same
// wiring the daemon uses (src/daemon/metrics.ts); the data plane's and ESP's metrics from status
// snapshots and the sink's events. promtool (Debian's prometheus) checks the exposition when installed.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { Allocator, IPAM_CHANNEL } from '../../ipam/allocator.js';
import { parseCidr } from '../../ipam/space.js';
import { MemoryIpamStore } from '../../ipam/store.js';
import type { DataplaneStatus, PathStatus } from '../../router/status.js';
import type { PeerEncryption } from '../../router/encryption.js';
import { MemoryMesh } from '../../test/harness/memory-mesh.js';
import { startMetrics } from '../daemon/metrics.js';
import { readiness } from '../daemon/readiness.js';
import { createMetrics, type MetricsSources } from './metrics.js';
import { sample } from './sample.js';
import { startMetricsServer } from './server.js';

const A = 0x02_00_00_00_00_01n;
const B = 0x02_00_00_00_00_02n;
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPromtool) console.warn('metrics unit tests: the promtool check is skipped, promtool not found (apt-get install prometheus)');

function promtool(text: string): { ok: boolean; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('metrics of the mesh and IPAM (in-memory routers, real allocator, loopback scrape)', () => {
  it('counts the connection, the peers and routes, the address space, and a termination', async () => {
    const mesh = new MemoryMesh();
    cleanups.push(() => mesh.stop());
    const a = await mesh.add({ name: A, password: 'pw' });
    const b = await mesh.add({ name: B, password: 'pw', peers: ['198.18.0.1'] });
    await mesh.settle(() => a.routes.unicast.has(B) && b.routes.unicast.has(A), 'a and b to connect');

    const ipam = new Allocator({
      self: A, range: parseCidr('10.32.0.0/28')!, init: { mode: 'seed', seeds: [A] }, clock: mesh.clock, random: () => 0.5, log: silentLogger(),
      store: new MemoryIpamStore(), mesh: { reachable: (n) => a.routes.unicastAll.has(n), knownPeers: () => [...a.peers.all()].map((p) => p.name), nickname: () => undefined }, reclaimAfterMs: 600_000,
    });
    ipam.attach(a.newGossip(IPAM_CHANNEL, ipam));
    await ipam.start();
    cleanups.push(() => ipam.stop());
    await ipam.allocate('c1');

    const ready = (): ReturnType<typeof readiness> => readiness({ dataplane: () => 'none', ipam: () => ipam });
    const { server } = await startMetrics({ addr: '127.0.0.1:0', router: a, parts: { ipam }, dataplane: false, ready, log: silentLogger() });
    cleanups.push(() => server.close());
    const scrape = async (): Promise<string> => {
      const res = await fetch(`http://${server.address}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };

    let text = await scrape();
    expect(sample(text, 'weft_connections{state="established",encryption="encrypted"}')).toBe(1);
    expect(sample(text, 'weft_connections{state="pending",encryption="encrypted"}')).toBe(0);
    expect(sample(text, 'weft_connections{state="established",encryption="unencrypted"}')).toBeUndefined();
    expect(sample(text, 'weft_peers')).toBe(2);
    expect(sample(text, 'weft_routes')).toBe(1);
    expect(sample(text, 'weft_connection_terminations_total')).toBe(0);
    expect(sample(text, 'weft_control_sent_bytes_total')).toBeGreaterThan(0);
    expect(sample(text, 'weft_ipam_owned_addresses')).toBe(16);
    expect(sample(text, 'weft_ipam_ready')).toBe(1);
    expect(sample(text, 'weft_ipam_unreachable_peers')).toBe(0);
    expect(sample(text, 'weft_ipam_pending_requests')).toBe(0);
    expect(sample(text, 'weft_ipam_reclaims_total')).toBe(0);
    expect(sample(text, 'weft_ipam_conflicts')).toBe(0);
    expect((sample(text, 'weft_ipam_used_addresses') ?? 0) + (sample(text, 'weft_ipam_free_addresses') ?? 0)).toBe(16);
    // Not ready: this router has no data plane (the same answer as /readyz).
    expect(sample(text, 'weft_ready')).toBe(0);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    // No data plane: its metrics are absent, not zero.
    expect(sample(text, 'weft_endpoints{location="local"}')).toBeUndefined();
    expect(sample(text, 'weft_dataplane_relays_served')).toBeUndefined();
    if (hasPromtool) expect(promtool(text)).toEqual({ ok: true, output: '' });

    await b.stop();
    await mesh.settle(() => !a.routes.unicast.has(B), 'a to see b gone');
    text = await scrape();
    expect(sample(text, 'weft_connection_terminations_total')).toBe(1);
    expect(sample(text, 'weft_connections{state="established",encryption="encrypted"}')).toBe(0);
    expect(sample(text, 'weft_routes')).toBe(0);
  });
});

const enc = (over: Partial<PeerEncryption>): PeerEncryption => ({
  encrypted: true, engine: 'user space', cipher: 'aes-256-gcm', spiIn: '0x00000001', spiOut: '0x00000002', keyAgeMs: 5_000, rekeys: 0, state: 'established', sent: 0, received: 0, sentBytes: 0, receivedBytes: 0, replayDrops: 0, authFailures: 0, ...over,
});
const path = (peer: string, p: string, e: Partial<PeerEncryption>): PathStatus => ({
  peer, nickname: null, path: p, via: null, address: null, mtu: 1402, rttMs: 1, reason: '', endpoints: 1, encryption: enc(e),
});

function dataplaneStatus(peers: PathStatus[], over: Partial<DataplaneStatus> = {}): DataplaneStatus {
  return {
    bridge: 'weft', vxlan: 'vxlan-6784', vni: 1, port: 6784, mtu: 1402, addresses: ['198.18.0.1'], peers, relaying: [],
    probes: { sent: 10, received: 9, acked: 8, answered: 7, dropped: { 'ack nonce mismatch': 1 } }, dropped: {}, lastError: null,
    encryption: {
      engine: 'user space', tun: 'weft-esp', ciphers: ['aes-256-gcm'], keylog: null, cleartextDropped: { inbound: 3, outbound: 0 },
      packets: { tunIn: 0, sent: 0, received: 0, tunOut: 0 }, dropped: { 'no-sa': 2 }, keyExchangeDropped: {}, lastError: null,
    },
    conflicts: [],
    ...over,
  };
}

function sources(dp: () => DataplaneStatus | undefined, endpoints = { local: 1, remote: 2 }): MetricsSources {
  return {
    version: 'test',
    mesh: { connections: () => [], encrypted: () => false, peers: () => 1, reachable: () => 0, traffic: () => ({ sent: 0, received: 0 }), dropped: () => ({}) },
    ipam: () => undefined,
    dataplane: dp,
    endpoints: () => endpoints,
    ready: () => ({ ready: true, reasons: [] }),
  };
}

describe('metrics of the data plane and ESP (status snapshots and events)', () => {
  it('paths by kind and per peer, probes, endpoints, reconciles with their duration and failed ops, path changes', async () => {
    let status = dataplaneStatus([path('02:00:00:00:00:02', 'direct', {}), path('02:00:00:00:00:03', 'relay via h1', {})], { relaying: ['02:00:00:00:00:04'] });
    const m = createMetrics(sources(() => status), { processMetrics: false });
    m.sink.reconciled({ seconds: 0.003, ops: [{ op: 'fdb-add', entry: {} as never }, { op: 'neigh-add', entry: {} as never }], failed: [{ op: { op: 'neigh-add', entry: {} as never }, error: 'EEXIST' }] });
    m.sink.reconciled({ seconds: 0.2, ops: [], failed: [] });
    m.sink.pathChanged('direct', 'relay');
    let text = await m.text();
    expect(sample(text, 'weft_dataplane_paths{kind="direct"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_paths{kind="relay"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_paths{kind="none"}')).toBe(0);
    expect(sample(text, 'weft_dataplane_peer_path{peer="02:00:00:00:00:03",kind="relay"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_path_changes_total{to="relay"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_path_changes_total{to="direct"}')).toBe(0);
    expect(sample(text, 'weft_dataplane_probes_sent_total')).toBe(10);
    expect(sample(text, 'weft_dataplane_probes_answered_total')).toBe(7);
    expect(sample(text, 'weft_dataplane_probes_dropped_total{reason="ack nonce mismatch"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_relays_served')).toBe(1);
    expect(sample(text, 'weft_dataplane_reconciles_total')).toBe(2);
    expect(sample(text, 'weft_dataplane_reconcile_duration_seconds_count')).toBe(2);
    expect(sample(text, 'weft_dataplane_reconcile_duration_seconds_bucket{le="0.005"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_reconcile_duration_seconds_bucket{le="0.25"}')).toBe(2);
    expect(sample(text, 'weft_dataplane_kernel_ops_total{op="fdb-add"}')).toBe(1);
    expect(sample(text, 'weft_dataplane_kernel_op_errors_total{op="neigh-add"}')).toBe(1);
    expect(sample(text, 'weft_endpoints{location="local"}')).toBe(1);
    expect(sample(text, 'weft_endpoints{location="remote"}')).toBe(2);
    if (hasPromtool) expect(promtool(text)).toEqual({ ok: true, output: '' });

    // The relayed peer left: its per-peer series goes, the counters stay.
    status = dataplaneStatus([path('02:00:00:00:00:02', 'direct', {})], { probes: { sent: 12, received: 9, acked: 8, answered: 7, dropped: {} } });
    text = await m.text();
    expect(sample(text, 'weft_dataplane_peer_path{peer="02:00:00:00:00:03",kind="relay"}')).toBeUndefined();
    expect(sample(text, 'weft_dataplane_paths{kind="relay"}')).toBe(0);
    expect(sample(text, 'weft_dataplane_probes_sent_total')).toBe(12);
  });

  it('ESP counters sum the peers and never go down when an SA is replaced; SA age per peer; cleartext and engine drops', async () => {
    let peers = [path('02:00:00:00:00:02', 'direct', { sent: 100, received: 90, sentBytes: 10_000, receivedBytes: 9_000, replayDrops: 2, authFailures: 1, rekeys: 1, keyAgeMs: 30_000 }), path('02:00:00:00:00:03', 'direct', { sent: 10, received: 5 })];
    const m = createMetrics(sources(() => dataplaneStatus(peers)), { processMetrics: false });
    let text = await m.text();
    expect(sample(text, 'weft_esp_packets_total{engine="user",direction="sent"}')).toBe(110);
    expect(sample(text, 'weft_esp_packets_total{engine="user",direction="received"}')).toBe(95);
    expect(sample(text, 'weft_esp_bytes_total{engine="user",direction="sent"}')).toBe(10_000);
    expect(sample(text, 'weft_esp_bytes_total{engine="user",direction="received"}')).toBe(9_000);
    expect(sample(text, 'weft_esp_replay_drops_total{engine="user"}')).toBe(2);
    expect(sample(text, 'weft_esp_auth_drops_total{engine="user"}')).toBe(1);
    expect(sample(text, 'weft_esp_rekeys_total{engine="user"}')).toBe(1);
    expect(sample(text, 'weft_esp_sa_age_seconds{peer="02:00:00:00:00:02"}')).toBe(30);
    expect(sample(text, 'weft_esp_cleartext_drops_total{direction="inbound"}')).toBe(3);
    expect(sample(text, 'weft_esp_dropped_total{engine="user",reason="no-sa"}')).toBe(2);
    // The kernel engine counts per SA: at a rekey the old SA's counts vanish and the new one starts at 0.
    peers = [path('02:00:00:00:00:02', 'direct', { sent: 3, received: 4, replayDrops: 1, rekeys: 2 }), path('02:00:00:00:00:03', 'direct', { sent: 12, received: 5 })];
    text = await m.text();
    expect(sample(text, 'weft_esp_packets_total{engine="user",direction="sent"}')).toBe(115);
    expect(sample(text, 'weft_esp_replay_drops_total{engine="user"}')).toBe(3);
    expect(sample(text, 'weft_esp_rekeys_total{engine="user"}')).toBe(2);
    if (hasPromtool) expect(promtool(text)).toEqual({ ok: true, output: '' });
  });

  it('without a password there are no ESP series, and without a data plane no data-plane series', async () => {
    const plain = createMetrics(sources(() => dataplaneStatus([], { encryption: null })), { processMetrics: false });
    expect(await plain.text()).not.toMatch(/^weft_esp_\w+[{ ]/m);
    const none = createMetrics({ ...sources(() => undefined), endpoints: () => undefined }, { processMetrics: false, dataplane: false });
    none.sink.reconciled({ seconds: 0.001, ops: [], failed: [] });
    const text = await none.text();
    expect(text).not.toMatch(/^weft_dataplane_/m);
    expect(text).not.toMatch(/^weft_endpoints[{ ]/m);
    expect(text).toMatch(/^weft_peers 1$/m);
  });
});

describe('the metrics listener', () => {
  it('serves /metrics, /healthz and /readyz, nothing else; a taken port is refused with what to do', async () => {
    let ready = { ready: false, reasons: ['the data plane is starting'] };
    const m = createMetrics(sources(() => undefined), { processMetrics: false });
    const server = await startMetricsServer({ addr: '127.0.0.1:0', metrics: { text: () => m.text(), contentType: m.registry.contentType }, ready: () => ready, health: () => ({ version: 'test' }), log: silentLogger() });
    cleanups.push(() => server.close());
    const get = async (p: string, method = 'GET'): Promise<{ status: number; body: string }> => {
      const r = await fetch(`http://${server.address}${p}`, { method });
      return { status: r.status, body: await r.text() };
    };
    expect(await get('/healthz')).toEqual({ status: 200, body: '{"alive":true,"version":"test"}\n' });
    expect(await get('/readyz')).toEqual({ status: 503, body: '{"ready":false,"reasons":["the data plane is starting"]}\n' });
    ready = { ready: true, reasons: [] };
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/metrics')).body).toMatch(/^weft_build_info\{version="test"\} 1$/m);
    expect((await get('/status')).status).toBe(404);
    expect((await get('/stop', 'POST')).status).toBe(404);
    expect((await get('/metrics', 'POST')).status).toBe(405);

    const clash = await startMetricsServer({ addr: server.address, metrics: { text: () => m.text(), contentType: m.registry.contentType }, ready: () => ready, health: () => ({}), log: silentLogger() }).catch((e: unknown) => e);
    expect((clash as Error).message).toBe(`metrics address ${server.address} is in use (another weft, or another exporter on that port) — pass --metrics-addr with another host:port, or --metrics-addr off`);
  });
});
