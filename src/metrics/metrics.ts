// The router's Prometheus metrics (docs/metrics.md): one registry, filled at scrape time from the
// owners' own state (collect callbacks that read status, never a second copy of it), plus the few
// events nothing else keeps — connection terminations, path changes, reconcile runs and their
// durations — counted through the sink this returns. Only this folder imports prom-client.
//
//   scrape ─► registry.metrics() ─► each metric's collect() ─► sources.*() (mesh, IPAM, data plane, ESP)
//   events ─► MetricsSink (the daemon wires MeshRouter 'connection-down' and Dataplane's metrics option)
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConnectionStatus } from '../../mesh/status.js';
import type { IpamStatusJson } from '../../ipam/status.js';
import type { DataplaneMetrics } from '../../router/dataplane.js';
import type { DataplaneStatus } from '../../router/status.js';
import type { PeerEncryption } from '../../router/encryption.js';
import type { ReadyResponse } from '../api/protocol.js';
import { Monotonic } from './monotonic.js';

/** What the metrics read, each at scrape time; undefined = that part is not running (yet). */
export interface MetricsSources {
  version: string;
  mesh: {
    connections(): ConnectionStatus[];
    /** The mesh runs with a password. */
    encrypted(): boolean;
    /** Peers in the topology, this one included. */
    peers(): number;
    /** Peers this one has a unicast route to (itself excluded). */
    reachable(): number;
    /** Control-plane bytes after the intros, over all connections so far. */
    traffic(): { sent: number; received: number };
    /** Malformed input dropped, by reason. */
    dropped(): Record<string, number>;
  };
  ipam(): { status: IpamStatusJson; self: string; pendingRequests: number; reclaims: number } | undefined;
  dataplane(): DataplaneStatus | undefined;
  endpoints(): { local: number; remote: number } | undefined;
  ready(): ReadyResponse;
}

/** Events counted as they happen. */
export interface MetricsSink extends DataplaneMetrics {
  connectionTerminated(): void;
}

export interface Metrics {
  readonly registry: Registry;
  readonly sink: MetricsSink;
  /** The Prometheus text exposition of every metric. */
  text(): Promise<string>;
}

/** Reconcile durations: from a no-op pass (well under a millisecond) to a slow netlink batch. */
const RECONCILE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const PATH_KINDS = ['direct', 'relay', 'none'] as const;
const STATES: ConnectionStatus['state'][] = ['established', 'pending', 'failed'];

export function createMetrics(src: MetricsSources, opts: { processMetrics?: boolean; dataplane?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // Process and Node.js runtime metrics under their standard names (process_*, nodejs_*), so the
  // usual dashboards and alerts work unchanged.
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters (promtool check metrics refuses them); nodejs_active_handles,
    // nodejs_active_requests and nodejs_active_resources carry the same numbers by type.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  }
  /** Adds to a counter what its snapshot source grew by (see monotonic.ts). */
  const trackers = new Map<Counter<string>, Monotonic>();
  const add = <L extends string>(c: Counter<L>, key: string, value: number, labels?: Partial<Record<L, string>>): void => {
    let grow = trackers.get(c as Counter<string>);
    if (!grow) trackers.set(c as Counter<string>, (grow = new Monotonic()));
    const d = grow.delta(key, value);
    if (labels) c.inc(labels, d);
    else c.inc(d);
  };

  new Gauge({ name: 'weft_build_info', help: 'Always 1; the version label says which weft runs', labelNames: ['version'], registers, collect() { this.set({ version: src.version }, 1); } });
  new Gauge({ name: 'weft_ready', help: 'Whether the router is ready (GET /readyz): mesh listening, data plane programmed, IPAM able to allocate', registers, collect() { this.set(src.ready().ready ? 1 : 0); } });

  // ── mesh ──
  new Gauge({
    name: 'weft_connections', help: 'Control-plane connections by state (established, pending, failed) and encryption', labelNames: ['state', 'encryption'], registers,
    collect() {
      this.reset();
      const conns = src.mesh.connections();
      const mode = src.mesh.encrypted();
      // Every state of this router's own mode is shown (0 too); the other mode only if present.
      for (const state of STATES) for (const encrypted of [true, false]) {
        const n = conns.filter((c) => c.state === state && c.encrypted === encrypted).length;
        if (n > 0 || encrypted === mode) this.set({ state, encryption: encrypted ? 'encrypted' : 'unencrypted' }, n);
      }
    },
  });
  const terminations = new Counter({ name: 'weft_connection_terminations_total', help: 'Established control-plane connections that closed', registers });
  new Gauge({ name: 'weft_peers', help: 'Peers in the topology, this one included', registers, collect() { this.set(src.mesh.peers()); } });
  new Gauge({ name: 'weft_routes', help: 'Peers this one has a unicast route to over the control plane', registers, collect() { this.set(src.mesh.reachable()); } });
  new Counter({ name: 'weft_control_sent_bytes_total', help: 'Control-plane bytes sent after the handshakes (heartbeats, topology and gossip)', registers, collect() { add(this, '', src.mesh.traffic().sent); } });
  new Counter({ name: 'weft_control_received_bytes_total', help: 'Control-plane bytes received after the handshakes', registers, collect() { add(this, '', src.mesh.traffic().received); } });
  new Counter({
    name: 'weft_control_dropped_total', help: 'Malformed control-plane input dropped, by reason', labelNames: ['reason'], registers,
    collect() { for (const [reason, n] of Object.entries(src.mesh.dropped())) add(this, reason, n, { reason }); },
  });

  // ── IPAM ──
  const ipamSelf = (): { owned: number; used: number; free: number } | undefined => {
    const i = src.ipam();
    return i && (i.status.peers.find((p) => p.name === i.self) ?? { owned: 0, used: 0, free: 0 });
  };
  const ipamGauge = (name: string, help: string, value: () => number | undefined): void => {
    new Gauge({ name, help, registers, collect() { const v = value(); this.reset(); if (v !== undefined) this.set(v); } });
  };
  ipamGauge('weft_ipam_owned_addresses', 'Addresses in the ranges of the ring this peer owns', () => ipamSelf()?.owned);
  ipamGauge('weft_ipam_used_addresses', 'Addresses of this peer\'s ranges in use (its containers, and held for other peers\' containers)', () => ipamSelf()?.used);
  ipamGauge('weft_ipam_free_addresses', 'Addresses of this peer\'s ranges free to allocate', () => ipamSelf()?.free);
  ipamGauge('weft_ipam_allocations', 'Addresses held by this peer\'s containers', () => src.ipam()?.status.allocations);
  ipamGauge('weft_ipam_unreachable_peers', 'Peers owning address space that this peer cannot reach', () => src.ipam()?.status.peers.filter((p) => !p.reachable).length);
  ipamGauge('weft_ipam_pending_requests', 'Requests for address space sent to other peers and not answered yet', () => src.ipam()?.pendingRequests);
  ipamGauge('weft_ipam_conflicts', 'Addresses of this peer that another peer\'s container uses too', () => src.ipam()?.status.conflicts?.length);
  ipamGauge('weft_ipam_ready', 'Whether the address ring exists (seeded, agreed or learnt)', () => { const i = src.ipam(); return i && (i.status.ready ? 1 : 0); });
  ipamGauge('weft_ipam_fenced', 'Whether this peer cannot reach a majority of the ring\'s owners and gives out no new addresses', () => { const i = src.ipam(); return i && (i.status.fenced ? 1 : 0); });
  new Counter({ name: 'weft_ipam_reclaims_total', help: 'Unreachable peers whose address space this peer took over after the reclaim period', registers, collect() { const i = src.ipam(); if (i) add(this, '', i.reclaims); } });

  // ── data plane (not registered with --no-dataplane: absent, not 0) ──
  const dpRegisters = opts.dataplane === false ? [] : registers;
  new Gauge({
    name: 'weft_dataplane_paths', help: 'Remote peers by the kind of data path to them (direct, relay, none)', labelNames: ['kind'], registers: dpRegisters,
    collect() {
      this.reset();
      const dp = src.dataplane();
      if (!dp) return;
      for (const kind of PATH_KINDS) this.set({ kind }, dp.peers.filter((p) => pathKind(p.path) === kind).length);
    },
  });
  new Gauge({
    name: 'weft_dataplane_peer_path', help: 'Always 1, per remote peer: the kind of its data path (to alert on which peer is relayed or unreachable)', labelNames: ['peer', 'kind'], registers: dpRegisters,
    collect() {
      this.reset();
      for (const p of src.dataplane()?.peers ?? []) this.set({ peer: p.peer, kind: pathKind(p.path) }, 1);
    },
  });
  const pathChanges = new Counter({ name: 'weft_dataplane_path_changes_total', help: 'Data paths that changed kind, by the kind they changed to', labelNames: ['to'], registers: dpRegisters });
  for (const to of PATH_KINDS) pathChanges.inc({ to }, 0);
  const probeCounter = (name: string, help: string, read: (p: DataplaneStatus['probes']) => number | undefined): void => {
    new Counter({ name, help, registers: dpRegisters, collect() { const p = src.dataplane()?.probes; const v = p && read(p); if (v !== undefined) add(this, '', v); } });
  };
  probeCounter('weft_dataplane_probes_sent_total', 'Path probes sent (full-MTU VXLAN frames to each peer address)', (p) => p.sent);
  probeCounter('weft_dataplane_probes_received_total', 'Probes and acks received', (p) => p.received);
  probeCounter('weft_dataplane_probes_acked_total', 'Our probes answered by the peer (a matching ack)', (p) => p.acked);
  probeCounter('weft_dataplane_probes_answered_total', 'Other peers\' probes this router answered', (p) => p.answered);
  new Counter({
    name: 'weft_dataplane_probes_dropped_total', help: 'Probes and acks dropped, by reason', labelNames: ['reason'], registers: dpRegisters,
    collect() { for (const [reason, n] of Object.entries(src.dataplane()?.probes.dropped ?? {})) add(this, reason, n, { reason }); },
  });
  new Gauge({ name: 'weft_dataplane_relays_served', help: 'Destinations this router relays VXLAN traffic for', registers: dpRegisters, collect() { this.set(src.dataplane()?.relaying.length ?? 0); } });
  new Gauge({ name: 'weft_dataplane_address_conflicts', help: 'Overlay addresses announced by more than one live peer', registers: dpRegisters, collect() { this.set(src.dataplane()?.conflicts.length ?? 0); } });
  const reconciles = new Counter({ name: 'weft_dataplane_reconciles_total', help: 'Runs of the kernel reconciler (desired state diffed against the kernel and applied)', registers: dpRegisters });
  const reconcileSeconds = new Histogram({ name: 'weft_dataplane_reconcile_duration_seconds', help: 'How long one run of the kernel reconciler took, reading the kernel included', buckets: RECONCILE_BUCKETS, registers: dpRegisters });
  const kernelOps = new Counter({ name: 'weft_dataplane_kernel_ops_total', help: 'Kernel changes applied over netlink, by operation', labelNames: ['op'], registers: dpRegisters });
  const kernelErrors = new Counter({ name: 'weft_dataplane_kernel_op_errors_total', help: 'Kernel changes that failed (retried on the next refresh), by operation', labelNames: ['op'], registers: dpRegisters });
  new Gauge({
    name: 'weft_endpoints', help: 'Endpoints on the overlay: local (attached containers, learnt MACs, exposed host) and remote (announced by other peers)', labelNames: ['location'], registers: dpRegisters,
    collect() {
      this.reset();
      const e = src.endpoints();
      if (!e) return;
      this.set({ location: 'local' }, e.local);
      this.set({ location: 'remote' }, e.remote);
    },
  });

  // ── ESP (with a password) ──
  const esp = (): { engine: string; dp: DataplaneStatus } | undefined => {
    const dp = src.dataplane();
    return dp?.encryption ? { engine: dp.encryption.engine === 'user space' ? 'user' : 'kernel', dp } : undefined;
  };
  /** Per-peer ESP counts summed over the peers (each kept monotonic per peer), one series per reading. */
  const espPeerCounter = (name: string, help: string, reads: { labels: Record<string, string>; read: (e: PeerEncryption) => number }[]): void => {
    new Counter({
      name, help, labelNames: ['engine', ...Object.keys(reads[0]!.labels)], registers,
      collect() {
        const e = esp();
        if (!e) return;
        for (const r of reads) {
          const labels = { engine: e.engine, ...r.labels };
          this.inc(labels, 0);
          for (const p of e.dp.peers) if (p.encryption) add(this, `${p.peer}|${JSON.stringify(r.labels)}`, r.read(p.encryption), labels);
        }
      },
    });
  };
  espPeerCounter('weft_esp_packets_total', 'ESP packets sent to peers and received from them (opened)', [
    { labels: { direction: 'sent' }, read: (c) => c.sent },
    { labels: { direction: 'received' }, read: (c) => c.received },
  ]);
  espPeerCounter('weft_esp_bytes_total', 'Bytes of the VXLAN datagrams carried in ESP, sent to peers and received from them (before sealing, after opening)', [
    { labels: { direction: 'sent' }, read: (c) => c.sentBytes ?? 0 },
    { labels: { direction: 'received' }, read: (c) => c.receivedBytes ?? 0 },
  ]);
  espPeerCounter('weft_esp_replay_drops_total', 'ESP packets dropped by the anti-replay window (replayed or too old)', [{ labels: {}, read: (c) => c.replayDrops }]);
  espPeerCounter('weft_esp_auth_drops_total', 'ESP packets dropped because authentication failed', [{ labels: {}, read: (c) => c.authFailures }]);
  espPeerCounter('weft_esp_rekeys_total', 'ESP key rotations', [{ labels: {}, read: (c) => c.rekeys }]);
  new Counter({
    name: 'weft_esp_cleartext_drops_total', help: 'Cleartext VXLAN dropped by the guard (inbound: arriving in clear; outbound: would have left in clear)', labelNames: ['direction'], registers,
    collect() {
      const c = esp()?.dp.encryption?.cleartextDropped;
      if (!c) return;
      add(this, 'inbound', c.inbound, { direction: 'inbound' });
      add(this, 'outbound', c.outbound, { direction: 'outbound' });
    },
  });
  new Counter({
    name: 'weft_esp_dropped_total', help: 'Packets the ESP engine dropped, by engine and reason (user space: its own reasons; kernel: /proc/net/xfrm_stat counters)', labelNames: ['engine', 'reason'], registers,
    collect() {
      const e = esp();
      for (const [reason, n] of Object.entries(e?.dp.encryption?.dropped ?? {})) add(this, `${e!.engine}|${reason}`, n, { engine: e!.engine, reason });
    },
  });
  new Gauge({
    name: 'weft_esp_sa_age_seconds', help: 'Age of the outbound ESP key to each peer (rotated before it gets old; one that keeps growing means rekeying is stuck)', labelNames: ['peer'], registers,
    collect() {
      this.reset();
      for (const p of esp()?.dp.peers ?? []) if (p.encryption?.keyAgeMs !== null && p.encryption?.keyAgeMs !== undefined) this.set({ peer: p.peer }, p.encryption.keyAgeMs / 1000);
    },
  });

  const sink: MetricsSink = {
    connectionTerminated: () => terminations.inc(),
    pathChanged: (_from, to) => pathChanges.inc({ to }),
    reconciled(r) {
      reconciles.inc();
      reconcileSeconds.observe(r.seconds);
      for (const op of r.ops) kernelOps.inc({ op: op.op });
      for (const f of r.failed) kernelErrors.inc({ op: f.op.op });
    },
  };
  return { registry, sink, text: () => registry.metrics() };
}

/** PathStatus.path ('direct', 'relay via NAME', 'none') → its kind. */
function pathKind(path: string): (typeof PATH_KINDS)[number] {
  return path.startsWith('relay') ? 'relay' : path === 'direct' ? 'direct' : 'none';
}
