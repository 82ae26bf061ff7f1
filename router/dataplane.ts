// The data plane of one router: owns the peer records, the prober and the reconciler, and turns
// them and the local endpoints (router/endpoints.ts owns those) into kernel state. Every change (gossip, probe result, attach,
// topology) only marks the state dirty; one coalesced refresh recomputes paths and the desired
// kernel state from scratch and hands it to the reconciler.
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage, WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { GossipChannel, Gossiper } from '../mesh/gossip.js';
import type { PeerName } from '../mesh/peer-name.js';
import { formatPeerName, peerNameToBytes } from '../mesh/peer-name.js';
import { BRIDGE, computeDesired, ownsLink, relayBridgeName, relayVni, relayVxlanName, VXLAN_DEV } from './forwarding.js';
import type { EspSteering, FdbEntry, Kernel, KernelOp, NeighEntry, OpResult, UnderlayRoute } from './kernel.js';
import type { EncryptionSummary, PeerEncryption } from './encryption.js';
import { choosePaths, type Path } from './paths.js';
import type { Endpoint, PeerRecord } from './peer-record.js';
import { formatMac, parseIpv4 } from './addresses.js';
import { Coalescer } from '../lib/serial.js';
import { WEFT_VETH } from './endpoint-keys.js';
import type { LocalEndpoint } from './endpoints.js';
import { isZeroMac } from './desired.js';
import { Prober } from './prober.js';
import { PeerActivity } from './activity.js';
import type { ProbeTransport } from './probe-transport.js';
import { Reconciler } from './reconciler.js';
import { DATAPLANE_CHANNEL, PeerRecords } from './records.js';
import type { DataplaneStatus, EndpointStatus, PathStatus } from './status.js';

/** What the data plane needs from the mesh router. */
export interface MeshView {
  readonly name: PeerName;
  nickname(name: PeerName): string | undefined;
  /** The control plane's next hop towards name; undefined if the mesh does not reach it. */
  nextHop(name: PeerName): PeerName | undefined;
  /** Whether name is in the topology table at all. */
  known(name: PeerName): boolean;
  /** Our IPv4 addresses as seen on established mesh connections (the underlay we announce). */
  localAddresses(): string[];
  newGossip(name: string, gossiper: Gossiper): GossipChannel;
  /** Called after routes were recomputed and a next hop changed (a peer became reachable, unreachable or moved). */
  onRoutes(cb: () => void): void;
  /**
   * Called synchronously when a connection is registered, before the new neighbour is sent our
   * gossip: the record it gets must already carry the address this connection revealed.
   */
  onConnectionUp?(cb: (peer?: PeerName) => void): void;
  /** Called when a registered control connection to peer closes. */
  onConnectionDown?(cb: (peer: PeerName) => void): void;
}

export interface DataplaneOptions {
  mesh: MeshView;
  kernel: Kernel;
  openProbeTransport: (bridgeIndex: number) => ProbeTransport;
  clock: Clock;
  log: Logger;
  dataDir: string;
  vni: number;
  port: number;
  /** Overlay MTU; undefined = from the underlay interface (see start()). */
  mtu?: number;
  /** Addresses of the initial peers, used to find the underlay interface for the MTU. */
  underlayHints: string[];
  /** The overlay range; containers get a route to it. */
  overlayRange: string;
  probeIntervalMs: number;
  probeFailAfterMs: number;
  /** Probes per second shared by idle peers, and the most probe datagrams per second in all (docs/dataplane.md, "Probe budget"); undefined = every peer every interval. */
  probeIdleRate?: number;
  probeBudget?: number;
  /** How often the kernel is asked which forwarding entries carry traffic, and for how long a use makes a peer active; no polling when undefined. */
  activityPollMs?: number;
  activeMs?: number;
  /** Probes failing within this long after a peer's connection closed mean its router stopped, not the path (router/paths.ts). */
  pathSettleMs?: number;
  /** How long a gone peer's endpoints stay installed (its router may be restarting). */
  peerGraceMs: number;
  /** How long kernel entries found at start are kept while the mesh catches up. */
  adoptMs: number;
  /** How often the bridge is re-read for MACs that appeared by other means. */
  refreshMs: number;
  /** With a password: every packet to a peer goes through the ESP engine (router/encryption.ts). */
  encryption?: DataplaneEncryption;
  /** The local endpoints to announce (router/endpoints.ts): attached containers, exposed host addresses. */
  local?: LocalEndpointSource;
  /** Told of each kernel reconcile and path change (the metrics, src/metrics/). */
  metrics?: DataplaneMetrics;
}

/** Events the data plane reports as they happen (counters and durations; its state is read from status()). */
export interface DataplaneMetrics {
  /** One reconcile of the kernel: how long it took, the ops it applied and those that failed. */
  reconciled(r: { seconds: number; ops: readonly KernelOp[]; failed: readonly OpResult[] }): void;
  /** The path to a peer changed kind (a new peer starts at 'none' while probed: its first working path is a change too). */
  pathChanged(from: Path['kind'], to: Path['kind']): void;
}

/** What the data plane needs from the owner of the local endpoints. */
export interface LocalEndpointSource {
  /** Containers attached on this host (their MACs are not "learnt"). */
  announced(): LocalEndpoint[];
  /** Addresses given to the host with `weft expose` (announced with the bridge's MAC). */
  exposedCidrs(): string[];
}

/** What the data plane needs from the encryption. */
export interface DataplaneEncryption {
  /** Kept in the kernel on every refresh, before any forwarding entry; undefined for the kernel engine (its xfrm policies steer). */
  readonly steering: EspSteering | undefined;
  /** Bytes ESP adds to a VXLAN packet: the overlay MTU shrinks by this much. */
  readonly overhead: number;
  /** Each peer's underlay addresses (its SAs are used for them) and our own. */
  peersChanged(addresses: Map<PeerName, string[]>, local: string | undefined): void;
  peerStatus(peer: PeerName): PeerEncryption;
  summary(): EncryptionSummary;
  /** `weft reset`: removes the cleartext guard (and the TUN when the router stops). */
  reset(): Promise<void>;
}

export const VXLAN_OVERHEAD = 50; // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14

export class Dataplane {
  private readonly records: PeerRecords;
  private readonly reconciler: Reconciler;
  private prober: Prober | undefined;
  private activity: PeerActivity | undefined;
  /** Wall time the last reconcile took (read, diff, apply). */
  private lastReconcileMs = 0;
  /** Endpoint MAC → its peer (for the activity of forwarding entries). */
  private owners = new Map<string, PeerName>();
  private transport: ProbeTransport | undefined;
  private learnt: Endpoint[] = [];
  private paths = new Map<PeerName, Path>();
  private wanted: { dest: PeerName; via: PeerName }[] = [];
  /** Destinations whose relay device is installed. */
  private serving = new Map<PeerName, string>();
  private missingSince = new Map<PeerName, number>();
  /** Peers whose router is not in the mesh now, and when the others came back (router/paths.ts). */
  private absent = new Set<PeerName>();
  private returnedAt = new Map<PeerName, number>();
  /** When our control connection to a peer closed (cleared when one comes up again). */
  private connectionLostAt = new Map<PeerName, number>();
  private adopted = new Set<string>();
  private adoptUntil = 0;
  /** Relay devices found at start (destination → its address), served while adopting. */
  private adoptedServing = new Map<PeerName, string>();
  /** Peers' underlay addresses found in the kernel at start (head-end entries): probes asking for acks there are answered before gossip names their sender. */
  private readonly adoptedPeerAddresses = new Set<string>();
  private mtuValue = 0;
  private bridgeMac = '';
  private addresses: string[] = [];
  private dirty: Timer | undefined;
  private refreshTimer: Timer | undefined;
  private unwatch: (() => void) | undefined;
  /** One recompute-and-reconcile at a time; a call during a run queues one more, later calls share it. */
  private readonly applier = new Coalescer(() =>
    this.applyOnce().catch((err: unknown) => {
      this.lastError = errorMessage(err);
      this.o.log.error({ err: this.lastError }, 'data plane update failed');
    }),
  );
  private stopped = false;
  private lastError: string | undefined;
  /** Addresses announced by more than one live peer (ours included): key ip, value the peers' labels. */
  private conflicts = new Map<string, string[]>();
  /** No ESP steering is wanted and none is left in the kernel. */
  private steeringCleared = false;

  constructor(private readonly o: DataplaneOptions) {
    this.records = new PeerRecords({ self: o.mesh.name, clock: o.clock, log: o.log, onChange: () => this.markDirty() });
    this.reconciler = new Reconciler({ kernel: o.kernel, log: o.log, ownsLink, listLinks: () => o.kernel.linkNames() });
  }

  get mtu(): number {
    return this.mtuValue;
  }

  private get local(): LocalEndpointSource {
    return this.o.local ?? { announced: () => [], exposedCidrs: () => [] };
  }

  /** Creates (or adopts) the bridge and VXLAN device, starts probing. */
  async start(): Promise<void> {
    const o = this.o;
    this.mtuValue = o.mtu ?? (await this.underlayMtu()) - VXLAN_OVERHEAD - (o.encryption?.overhead ?? 0);
    this.bridgeMac = bridgeMacFor(o.mesh.name);

    // Everything already in the kernel is kept until the mesh has had time to tell us what is
    // still wanted: a restart must not interrupt flows.
    const before = await o.kernel.read([BRIDGE, VXLAN_DEV]);
    for (const e of before.fdb) this.adopted.add(entryKey(e));
    for (const e of before.fdb) if (e.dev === VXLAN_DEV && isZeroMac(e.mac) && e.dst) this.adoptedPeerAddresses.add(e.dst);
    for (const e of before.neigh) this.adopted.add(entryKey(e));
    const relayDevs = (await o.kernel.linkNames()).filter((n) => /^wx-[0-9a-f]{12}$/.test(n));
    if (relayDevs.length > 0) {
      for (const e of (await o.kernel.read(relayDevs)).fdb) if (isZeroMac(e.mac)) this.adoptedServing.set(BigInt(`0x${e.dev.slice(3)}`), e.dst);
    }
    this.adoptUntil = o.clock.now() + o.adoptMs;
    if (before.links.length > 0) o.log.info({ fdb: before.fdb.length, neigh: before.neigh.length }, 'adopting existing kernel state');

    await this.apply();
    const bridge = (await o.kernel.read([BRIDGE])).links.find((l) => l.name === BRIDGE);
    if (!bridge) {
      const perm = /EPERM|EACCES/.test(this.lastError ?? '') ? ' — the data plane needs root (CAP_NET_ADMIN); run weft as root, or pass --no-dataplane for the control plane alone' : '';
      throw new WeftError('io', `bridge ${BRIDGE} could not be created: ${this.lastError ?? 'unknown error'}${perm}`);
    }

    this.transport = o.openProbeTransport(bridge.index);
    this.prober = new Prober({
      self: o.mesh.name,
      bridgeMac: this.bridgeMac,
      replyTo: () => this.addresses[0],
      vni: o.vni,
      port: o.port,
      mtu: this.mtuValue,
      transport: this.transport,
      clock: o.clock,
      log: o.log,
      intervalMs: o.probeIntervalMs,
      failAfterMs: o.probeFailAfterMs,
      onChange: () => this.markDirty(),
      adoptedPeerAddresses: this.adoptedPeerAddresses,
      idleRate: o.probeIdleRate,
      budget: o.probeBudget,
    });
    if (o.activityPollMs !== undefined) {
      this.activity = new PeerActivity({
        kernel: o.kernel, clock: o.clock, log: o.log, dev: VXLAN_DEV, pollMs: o.activityPollMs, activeMs: o.activeMs ?? 10 * o.activityPollMs,
        ownerOf: (mac) => this.owners.get(mac),
        onChange: () => this.pushActive(),
      });
    }
    this.records.attach(o.mesh.newGossip(DATAPLANE_CHANNEL, this.records));
    // Routes, not the topology change that precedes their recompute: nextHop() is what we read.
    o.mesh.onRoutes(() => this.markDirty());
    o.mesh.onConnectionUp?.((peer) => {
      if (peer !== undefined) this.connectionLostAt.delete(peer);
      this.refreshAddresses();
    });
    o.mesh.onConnectionDown?.((peer) => this.connectionLostAt.set(peer, o.clock.now()));
    this.unwatch = o.kernel.watch(() => this.markDirty());
    this.prober.start();
    this.activity?.start();
    this.scheduleRefresh();
    this.markDirty();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.dirty?.cancel();
    this.refreshTimer?.cancel();
    this.prober?.stop();
    this.activity?.stop();
    this.transport?.close();
    this.unwatch?.();
    await this.applier.idle();
  }

  /** Removes everything weft created in the kernel and tells the others we are gone (the endpoints owner detached the containers first). */
  async reset(): Promise<void> {
    // Stop first: a refresh finishing after the tombstone would replace it with a live record.
    await this.stop();
    this.records.setLocal({ ...this.localRecord(), gone: true, endpoints: [] });
    // Ports before their bridges: relay VXLAN devices, then everything else weft owns.
    const names = (await this.o.kernel.linkNames()).filter(ownsLink).sort((a, b) => Number(b.startsWith('wx-') || b === VXLAN_DEV) - Number(a.startsWith('wx-') || a === VXLAN_DEV));
    const res = await this.o.kernel.apply(names.map((name) => ({ op: 'link-del' as const, name })));
    await this.o.kernel.steerEsp(undefined);
    await this.o.encryption?.reset();
    const failed = res.filter((r) => r.error);
    if (failed.length > 0) throw new WeftError('io', `reset could not remove ${failed.map((f) => (f.op.op === 'link-del' ? f.op.name : f.op.op)).join(', ')}: ${failed[0]!.error}`);
  }

  /** The local endpoints changed: recompute and gossip. */
  changed(): void {
    this.markDirty();
  }

  /** Addresses other peers announce. */
  remoteIps(): Set<string> {
    const out = new Set<string>();
    for (const r of this.records.all()) if (r.name !== this.o.mesh.name && !r.gone) for (const e of r.endpoints) for (const ip of e.ips) out.add(ip);
    return out;
  }

  // ---- status ---------------------------------------------------------------------------------

  status(): DataplaneStatus {
    const label = (n: PeerName): string => formatPeerName(n);
    const peers: PathStatus[] = [];
    for (const r of this.records.all()) {
      if (r.name === this.o.mesh.name || r.gone) continue;
      const p = this.paths.get(r.name) ?? { kind: 'none', reason: 'no probe result yet' };
      const probe = this.prober?.status(r.name);
      peers.push({
        peer: label(r.name),
        nickname: this.o.mesh.nickname(r.name) ?? null,
        path: p.kind === 'relay' ? `relay via ${this.o.mesh.nickname(p.via) || label(p.via)}` : p.kind,
        via: p.kind === 'relay' ? label(p.via) : null,
        address: p.kind === 'none' ? null : p.address,
        mtu: Math.min(this.mtuValue, r.mtu),
        rttMs: probe?.rttMs ?? null,
        reason: p.reason,
        endpoints: r.endpoints.length,
        encryption: this.o.encryption?.peerStatus(r.name) ?? null,
      });
    }
    peers.sort((a, b) => (a.peer < b.peer ? -1 : 1));
    return {
      bridge: BRIDGE,
      vxlan: VXLAN_DEV,
      vni: this.o.vni,
      port: this.o.port,
      mtu: this.mtuValue,
      addresses: this.addresses,
      peers,
      relaying: [...this.serving.keys()].map(label),
      probes: this.prober ? { ...this.prober.counters, ...this.prober.probing() } : { sent: 0, received: 0, acked: 0, answered: 0, dropped: {} },
      dropped: this.records.dropped,
      lastError: this.lastError ?? null,
      encryption: this.o.encryption?.summary() ?? null,
      conflicts: [...this.conflicts].map(([ip, peers]) => ({ ip, peers })),
    };
  }

  /** Exposed host addresses, MACs learnt on the bridge, and every remote endpoint (attached containers: router/endpoints.ts). */
  endpointStatus(): EndpointStatus[] {
    const out: EndpointStatus[] = [];
    const self = formatPeerName(this.o.mesh.name);
    const exposed = this.local.exposedCidrs();
    if (exposed.length > 0) out.push({ peer: self, nickname: this.o.mesh.nickname(this.o.mesh.name) ?? '', local: true, container: 'host (exposed)', mac: this.bridgeMac, ips: exposed });
    for (const e of this.learnt) out.push({ peer: self, nickname: this.o.mesh.nickname(this.o.mesh.name) ?? '', local: true, container: null, mac: e.mac, ips: e.ips });
    for (const r of this.records.all()) {
      if (r.name === this.o.mesh.name || r.gone) continue;
      for (const e of r.endpoints) out.push({ peer: formatPeerName(r.name), nickname: this.o.mesh.nickname(r.name) ?? '', local: false, container: null, mac: e.mac, ips: e.ips });
    }
    return out;
  }

  /** Resolves once every change made so far has reached the kernel (tests and the API use it). */
  async settled(): Promise<void> {
    if (this.dirty) {
      this.dirty.cancel();
      this.dirty = undefined;
      await this.apply();
    }
    await this.applier.idle();
  }

  // ---- the refresh loop ------------------------------------------------------------------------

  private markDirty(): void {
    if (this.stopped || this.dirty) return;
    this.dirty = this.o.clock.setTimeout(() => {
      this.dirty = undefined;
      void this.apply();
    }, 20);
  }

  /**
   * The periodic full reconcile is a safety net (kernel changes are watched): it waits at least 10×
   * as long as the last reconcile took, so at 100,000 endpoints (a few seconds to read and diff)
   * it does not keep a core busy.
   */
  private scheduleRefresh(): void {
    if (this.stopped) return;
    this.refreshTimer = this.o.clock.setTimeout(() => {
      void this.refresh().finally(() => this.scheduleRefresh());
    }, Math.max(this.o.refreshMs, 10 * this.lastReconcileMs));
  }

  /** Periodic: MACs on the bridge, our addresses, records of peers gone too long. */
  private async refresh(): Promise<void> {
    const now = this.o.clock.now();
    for (const r of [...this.records.all()]) {
      if (r.name === this.o.mesh.name) continue;
      if (this.o.mesh.known(r.name) && !r.gone) {
        this.missingSince.delete(r.name);
        continue;
      }
      const since = this.missingSince.get(r.name) ?? now;
      this.missingSince.set(r.name, since);
      if (r.gone || now - since >= this.o.peerGraceMs) {
        this.o.log.info({ peer: formatPeerName(r.name) }, 'removing the endpoints of a peer that is gone');
        this.records.remove(r.name);
        this.missingSince.delete(r.name);
      }
    }
    try {
      const macs = await this.o.kernel.bridgeMacs(BRIDGE);
      // weft's own veths belong to the endpoints owner (it adopts every one at start): a MAC seen
      // there is a container it announces, or one just detached whose entry is still going.
      const known = new Set(this.local.announced().map((a) => a.mac));
      const learnt = macs.filter((m) => !WEFT_VETH.test(m.port) && !known.has(m.mac) && m.mac !== this.bridgeMac).map((m) => ({ mac: m.mac, ips: [] }));
      this.learnt = learnt.sort((a, b) => (a.mac < b.mac ? -1 : 1));
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'could not read the bridge MACs');
    }
    if (now >= this.adoptUntil) this.adopted.clear();
    // Every refresh ends in a full reconcile: it also repairs entries changed behind our back.
    this.markDirty();
  }

  private apply(): Promise<void> {
    return this.applier.run();
  }

  private async applyOnce(): Promise<void> {
    if (this.stopped) return;
    const o = this.o;
    const addrs = o.mesh.localAddresses();
    if (addrs.length > 0) this.addresses = addrs;

    const records = new Map<PeerName, PeerRecord>();
    for (const r of this.records.all()) records.set(r.name, r);
    this.owners = new Map();
    for (const r of records.values()) if (r.name !== o.mesh.name && !r.gone) for (const e of r.endpoints) this.owners.set(e.mac, r.name);
    this.prober?.setTargets([...records.values()].filter((r) => r.name !== o.mesh.name && !r.gone && r.addresses.length > 0).map((r) => ({ name: r.name, addresses: r.addresses, bridgeMac: r.bridgeMac })));
    const probe = (n: PeerName) => this.prober?.status(n) ?? { state: 'unknown' as const, since: 0 };
    const now = o.clock.now();
    for (const r of records.values()) {
      if (r.name === o.mesh.name) continue;
      if (o.mesh.nextHop(r.name) === undefined) {
        this.absent.add(r.name);
        this.returnedAt.delete(r.name);
      } else if (this.absent.delete(r.name)) {
        this.returnedAt.set(r.name, now);
        // Re-evaluated once the grace is over, even if no probe result changes.
        o.clock.setTimeout(() => this.markDirty(), o.probeFailAfterMs + 1);
      }
    }
    for (const n of [...this.returnedAt.keys()]) if (!records.has(n) || now - this.returnedAt.get(n)! >= o.probeFailAfterMs) this.returnedAt.delete(n);
    for (const n of [...this.absent]) if (!records.has(n)) this.absent.delete(n);
    const choice = choosePaths({
      self: o.mesh.name,
      records,
      probe,
      nextHop: (n) => o.mesh.nextHop(n),
      previous: this.paths,
      nickname: (n) => o.mesh.nickname(n) ?? '',
      returnedAt: (n) => this.returnedAt.get(n),
      now,
      failAfterMs: o.probeFailAfterMs,
      connectionLostAt: (n) => this.connectionLostAt.get(n),
      settleMs: o.pathSettleMs,
    });
    if (o.metrics) for (const [peer, p] of choice.paths) {
      const before = this.paths.get(peer);
      if (before && before.kind !== p.kind) o.metrics.pathChanged(before.kind, p.kind);
    }
    this.paths = choice.paths;
    this.wanted = choice.wanted;

    // Relays others asked us for, where we reach the destination directly. One device per
    // relay VNI: two destinations whose VNIs clash cannot both be served (the second is skipped).
    const adopting = o.clock.now() < this.adoptUntil;
    // Until gossip catches up, relay devices of the previous run keep carrying traffic.
    const serve = new Map<PeerName, string>(adopting ? this.adoptedServing : []);
    const vnis = new Set<number>([...serve.keys()].map(relayVni));
    for (const r of records.values()) {
      if (r.name === o.mesh.name || r.gone) continue;
      for (const w of r.relays) {
        if (w.via !== o.mesh.name) continue;
        const st = probe(w.dest);
        if (st.state !== 'up' || !st.address) continue;
        if (serve.has(w.dest)) {
          serve.set(w.dest, st.address);
          continue;
        }
        if (vnis.has(relayVni(w.dest))) {
          o.log.warn({ dest: formatPeerName(w.dest) }, 'relay VNI clash; not relaying for this destination');
          continue;
        }
        vnis.add(relayVni(w.dest));
        serve.set(w.dest, st.address);
      }
    }

    // Steering first: with a password, no forwarding entry may exist before VXLAN is routed into
    // the engine (and without one, leftovers of an encrypted run are removed). A failure here
    // stops the refresh: entries from before stay, new ones wait.
    // Without encryption, one successful pass (removing an earlier run's steering) is enough.
    if (o.encryption?.steering || !this.steeringCleared) {
      const steered = await o.kernel.steerEsp(o.encryption?.steering);
      if (steered.length > 0) o.log.info({ changes: steered }, o.encryption?.steering ? 'ESP steering updated' : 'ESP steering removed');
      this.steeringCleared = !o.encryption?.steering;
    }
    o.encryption?.peersChanged(new Map([...records.values()].filter((r) => r.name !== o.mesh.name && !r.gone).map((r) => [r.name, r.addresses])), this.addresses[0]);
    const desired = computeDesired({ self: o.mesh.name, vni: o.vni, port: o.port, mtu: this.mtuValue, bridgeMac: this.bridgeMac, records: records.values(), paths: this.paths, serving: serve, present: (n) => o.mesh.known(n) });
    const started = performance.now();
    const res = await this.reconciler.reconcile(desired, { keep: (e) => adopting && this.adopted.has(entryKey(e)) });
    this.lastReconcileMs = performance.now() - started;
    o.metrics?.reconciled({ seconds: this.lastReconcileMs / 1000, ops: res.ops, failed: res.failed });
    if (res.failed.length > 0) {
      this.lastError = res.failed.map((f) => `${f.op.op}: ${f.error}`).slice(0, 3).join('; ');
      o.log.warn({ failed: res.failed.length, first: this.lastError }, 'some kernel changes failed; retrying on the next refresh');
    } else {
      this.lastError = undefined;
    }
    // A relay is announced ready only if its device and its FDB entry are in place.
    const failedDevs = new Set(res.failed.flatMap((f) => (f.op.op === 'link-add' || f.op.op === 'link-set' ? [f.op.link.name] : f.op.op === 'fdb-add' ? [f.op.entry.dev] : [])));
    this.serving = new Map([...serve].filter(([d]) => !failedDevs.has(relayVxlanName(d)) && !failedDevs.has(relayBridgeName(d))));
    this.pushActive();
    if (res.ops.length > 0) o.log.debug({ ops: res.ops.length }, 'kernel updated');
    this.records.setLocal(this.localRecord());
    this.findConflicts(records);
  }

  /**
   * Peers the prober probes every round: those carrying traffic, the relays their traffic goes
   * through (a broken relay must be noticed as fast as a broken direct path), and the
   * destinations we relay for (the senders rely on our record saying we reach them).
   */
  private pushActive(): void {
    if (!this.prober) return;
    const fast = new Set<PeerName>(this.activity?.active());
    for (const n of [...fast]) {
      const p = this.paths.get(n);
      if (p?.kind === 'relay') fast.add(p.via);
    }
    for (const d of this.serving.keys()) fast.add(d);
    this.prober.setActive(fast);
  }

  /**
   * An address announced by two live peers (a partition that healed after IPAM's residual corner,
   * or two operators giving the same explicit address) is reported loudly: the forwarding entry
   * still goes to one of them (computeDesired's rule), so the conflict must be seen and resolved
   * by detaching one container.
   */
  private findConflicts(records: Map<PeerName, PeerRecord>): void {
    const holders = new Map<string, string[]>();
    const add = (ip: string, who: string): void => {
      const h = holders.get(ip);
      if (!h) holders.set(ip, [who]);
      else if (!h.includes(who)) h.push(who);
    };
    const label = (n: PeerName): string => {
      const nick = this.o.mesh.nickname(n);
      return nick ? `${formatPeerName(n)}(${nick})` : formatPeerName(n);
    };
    for (const e of this.local.announced()) for (const ip of e.ips) add(ip, label(this.o.mesh.name));
    for (const r of records.values()) {
      if (r.name === this.o.mesh.name || r.gone || !this.o.mesh.known(r.name)) continue;
      for (const e of r.endpoints) for (const ip of e.ips) add(ip, label(r.name));
    }
    const now = new Map([...holders].filter(([, h]) => h.length > 1).map(([ip, h]) => [ip, h.sort()] as const));
    for (const [ip, peers] of now) {
      if (this.conflicts.get(ip)?.join() === peers.join()) continue;
      this.o.log.error({ ip, peers }, `address ${ip} is in use by containers on ${peers.join(' and ')}: traffic for it reaches only one of them; detach one of the containers`);
    }
    for (const ip of this.conflicts.keys()) if (!now.has(ip)) this.o.log.info({ ip }, `address ${ip} is no longer in conflict`);
    this.conflicts = now;
  }

  /**
   * A restarted router knows no address of its own until its first connection; a neighbour given
   * the record without it could not map our packets to us until the next periodic gossip (30 s).
   */
  private refreshAddresses(): void {
    if (this.stopped) return;
    const addrs = this.o.mesh.localAddresses();
    if (addrs.length === 0 || addrs.join() === this.addresses.join()) return;
    this.addresses = addrs;
    this.records.setLocal(this.localRecord());
  }

  private localRecord() {
    const direct: PeerName[] = [];
    for (const r of this.records.all()) if (r.name !== this.o.mesh.name && this.prober?.status(r.name).state === 'up') direct.push(r.name);
    const endpoints: Endpoint[] = this.local.announced().map((a) => ({ mac: a.mac, ips: [...a.ips] }));
    const exposed = this.local.exposedCidrs();
    if (exposed.length > 0) endpoints.push({ mac: this.bridgeMac, ips: exposed.map((c) => c.split('/')[0]!) });
    endpoints.push(...this.learnt);
    return {
      gone: false,
      mtu: this.mtuValue,
      addresses: this.addresses,
      bridgeMac: this.bridgeMac,
      direct: direct.sort((a, b) => (a < b ? -1 : 1)),
      relays: this.wanted,
      serving: [...this.serving.keys()].sort((a, b) => (a < b ? -1 : 1)),
      endpoints,
    };
  }

  private async underlayMtu(): Promise<number> {
    const routes: (UnderlayRoute | undefined)[] = [];
    for (const h of this.o.underlayHints) {
      if (!parseIpv4(h)) continue;
      const r = await this.o.kernel.routeTo(h).catch(() => undefined);
      routes.push(r);
      if (r && r.dev !== 'lo') break;
    }
    return underlayMtuFrom(routes);
  }
}

/**
 * The MTU of the first route to a peer that leaves this host. A route through `lo` (a peer list
 * that names this host's own address, as a DaemonSet's shared list does) would give loopback's
 * 65536 and an overlay MTU no real path carries.
 */
export function underlayMtuFrom(routes: readonly (UnderlayRoute | undefined)[]): number {
  for (const r of routes) if (r && r.dev !== 'lo') return r.mtu;
  return 1500;
}

function entryKey(e: FdbEntry | NeighEntry): string {
  return 'ip' in e ? `n|${e.dev}|${e.ip}|${e.mac}` : `f|${e.dev}|${e.mac}|${e.dst}|${e.vni ?? ''}`;
}

/** The bridge MAC: the peer name as a locally administered unicast address, as Weave does. */
export function bridgeMacFor(name: PeerName): string {
  const b = peerNameToBytes(name);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return formatMac(b);
}
