// The data plane of one router: owns the local endpoints, the peer records, the prober and the
// reconciler, and turns them into kernel state. Every change (gossip, probe result, attach,
// topology) only marks the state dirty; one coalesced refresh recomputes paths and the desired
// kernel state from scratch and hands it to the reconciler.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Clock, Timer } from '../src/clock.js';
import { errorMessage, WeftError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import type { GossipChannel, Gossiper } from '../mesh/gossip.js';
import type { PeerName } from '../mesh/peer-name.js';
import { formatPeerName, peerNameToBytes } from '../mesh/peer-name.js';
import { EndpointStore, type AttachedEndpoint } from './endpoint-store.js';
import { BRIDGE, computeDesired, ownsLink, relayBridgeName, relayVni, relayVxlanName, VXLAN_DEV } from './forwarding.js';
import type { EspSteering, FdbEntry, Kernel, NeighEntry } from './kernel.js';
import type { EncryptionSummary, PeerEncryption } from './encryption.js';
import { choosePaths, type Path } from './paths.js';
import type { Endpoint, PeerRecord } from './peer-record.js';
import { formatMac, parseIpv4 } from './addresses.js';
import { isZeroMac } from './desired.js';
import { Prober } from './prober.js';
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
  onTopology(cb: () => void): void;
  /**
   * Called synchronously when a connection is registered, before the new neighbour is sent our
   * gossip: the record it gets must already carry the address this connection revealed.
   */
  onConnectionUp?(cb: () => void): void;
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
  /** How long a gone peer's endpoints stay installed (its router may be restarting). */
  peerGraceMs: number;
  /** How long kernel entries found at start are kept while the mesh catches up. */
  adoptMs: number;
  /** How often the bridge is re-read for MACs that appeared by other means. */
  refreshMs: number;
  /** With a password: every packet to a peer goes through the ESP engine (router/encryption.ts). */
  encryption?: DataplaneEncryption;
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
  private readonly store: EndpointStore;
  private prober: Prober | undefined;
  private transport: ProbeTransport | undefined;
  private attached: AttachedEndpoint[] = [];
  private exposed: string[] = [];
  private learnt: Endpoint[] = [];
  private paths = new Map<PeerName, Path>();
  private wanted: { dest: PeerName; via: PeerName }[] = [];
  /** Destinations whose relay device is installed. */
  private serving = new Map<PeerName, string>();
  private missingSince = new Map<PeerName, number>();
  private adopted = new Set<string>();
  private adoptUntil = 0;
  /** Relay devices found at start (destination → its address), served while adopting. */
  private adoptedServing = new Map<PeerName, string>();
  private mtuValue = 0;
  private bridgeMac = '';
  private addresses: string[] = [];
  private dirty: Timer | undefined;
  private refreshTimer: Timer | undefined;
  private unwatch: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private saving: Promise<void> = Promise.resolve();
  /** attach/detach/expose/hide/reset run one at a time: each checks, awaits the kernel, then writes. */
  private endpointOps: Promise<unknown> = Promise.resolve();
  /** A run queued behind the current one; later calls share it. */
  private queued: Promise<void> | undefined;
  private stopped = false;
  private lastError: string | undefined;
  /** No ESP steering is wanted and none is left in the kernel. */
  private steeringCleared = false;

  constructor(private readonly o: DataplaneOptions) {
    this.store = new EndpointStore(o.dataDir);
    this.records = new PeerRecords({ self: o.mesh.name, clock: o.clock, log: o.log, onChange: () => this.markDirty() });
    this.reconciler = new Reconciler({ kernel: o.kernel, log: o.log, ownsLink, listLinks: () => o.kernel.linkNames() });
  }

  get mtu(): number {
    return this.mtuValue;
  }

  /** Creates (or adopts) the bridge and VXLAN device, restores local endpoints, starts probing. */
  async start(): Promise<void> {
    const o = this.o;
    this.mtuValue = o.mtu ?? (await this.underlayMtu()) - VXLAN_OVERHEAD - (o.encryption?.overhead ?? 0);
    this.bridgeMac = bridgeMacFor(o.mesh.name);
    const stored = await this.store.load();
    // A failed read keeps them all: dropping them here would be saved, and lost for good.
    const ports = await o.kernel.ports(BRIDGE).then((p) => new Set(p), (err: unknown) => {
      o.log.warn({ err: errorMessage(err) }, 'could not list the bridge ports; keeping every stored endpoint');
      return undefined;
    });
    this.attached = ports ? stored.attached.filter((a) => ports.has(a.hostIfname)) : stored.attached;
    if (this.attached.length < stored.attached.length) o.log.warn({ lost: stored.attached.length - this.attached.length }, 'some attached containers are gone (their veth no longer exists)');
    this.exposed = stored.exposed;

    // Everything already in the kernel is kept until the mesh has had time to tell us what is
    // still wanted: a restart must not interrupt flows.
    const before = await o.kernel.read([BRIDGE, VXLAN_DEV]);
    for (const e of before.fdb) this.adopted.add(entryKey(e));
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
    for (const cidr of this.exposed) await o.kernel.addAddress(BRIDGE, cidr).catch(() => undefined);

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
    });
    this.records.attach(o.mesh.newGossip(DATAPLANE_CHANNEL, this.records));
    o.mesh.onTopology(() => this.markDirty());
    o.mesh.onConnectionUp?.(() => this.refreshAddresses());
    this.unwatch = o.kernel.watch(() => this.markDirty());
    this.prober.start();
    this.scheduleRefresh();
    this.markDirty();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.dirty?.cancel();
    this.refreshTimer?.cancel();
    this.prober?.stop();
    this.transport?.close();
    this.unwatch?.();
    await this.running.catch(() => undefined);
    await this.saving.catch(() => undefined);
  }

  /** Removes everything weft created in the kernel and tells the others we are gone. */
  reset(): Promise<void> {
    return this.serially(() => this.resetNow());
  }

  private async resetNow(): Promise<void> {
    // Stop first: a refresh finishing after the tombstone would replace it with a live record.
    await this.stop();
    for (const a of this.attached) await this.o.kernel.detach(a.hostIfname).catch(() => undefined);
    this.attached = [];
    this.exposed = [];
    await this.save();
    this.records.setLocal({ ...this.localRecord(), gone: true, endpoints: [] });
    // Ports before their bridges: relay VXLAN devices, then everything else weft owns.
    const names = (await this.o.kernel.linkNames()).filter(ownsLink).sort((a, b) => Number(b.startsWith('wx-') || b === VXLAN_DEV) - Number(a.startsWith('wx-') || a === VXLAN_DEV));
    const res = await this.o.kernel.apply(names.map((name) => ({ op: 'link-del' as const, name })));
    await this.o.kernel.steerEsp(undefined);
    await this.o.encryption?.reset();
    const failed = res.filter((r) => r.error);
    if (failed.length > 0) throw new WeftError('io', `reset could not remove ${failed.map((f) => (f.op.op === 'link-del' ? f.op.name : f.op.op)).join(', ')}: ${failed[0]!.error}`);
  }

  // ---- endpoints -------------------------------------------------------------------------------

  /** managed: the addresses come from IPAM, which already made sure they are ours alone. */
  attach(container: string, cidrs: string[], opts: { managed?: boolean } = {}): Promise<AttachedEndpoint> {
    return this.serially(() => this.attachNow(container, cidrs, opts.managed === true));
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.endpointOps.catch(() => undefined).then(fn);
    this.endpointOps = run;
    return run;
  }

  private async attachNow(container: string, cidrs: string[], managed: boolean): Promise<AttachedEndpoint> {
    if (cidrs.length === 0) throw new WeftError('usage', 'an address is required until automatic allocation lands: weft attach 10.32.0.5/12 NETNS');
    for (const c of cidrs) checkCidr(c);
    const netns = resolveNetns(container);
    const existing = this.attached.find((a) => a.netns === netns);
    const hostIfname = existing?.hostIfname ?? hostIfnameFor(netns);
    // Remote records may still name a container of a peer that is gone (kept for the grace
    // period); an address IPAM handed out is ours regardless.
    const taken = new Set([...this.allLocalIps(), ...(managed ? [] : this.remoteIps())]);
    for (const c of cidrs) {
      const ip = c.split('/')[0]!;
      if (taken.has(ip) && !existing?.cidrs.some((x) => x.split('/')[0] === ip)) throw new WeftError('usage', `address ${ip} is already in use on the overlay`);
    }
    const res = await this.o.kernel.attach({
      hostIfname,
      bridge: BRIDGE,
      netns,
      ifname: 'eth0',
      // The MAC follows the address (as OVN-Kubernetes does), so a container attached again, or
      // elsewhere, keeps its MAC and the other containers' ARP caches stay right.
      mac: existing?.mac ?? macForIp(cidrs[0]!.split('/')[0]!),
      mtu: this.mtuValue,
      addresses: cidrs,
      routes: routesFor(cidrs, this.o.overlayRange),
    });
    const ep: AttachedEndpoint = { container, netns, hostIfname, mac: res.mac, cidrs: [...new Set([...(existing?.cidrs ?? []), ...cidrs])] };
    this.attached = [...this.attached.filter((a) => a.netns !== netns), ep];
    this.markDirty();
    await this.save();
    return ep;
  }

  detach(container: string): Promise<AttachedEndpoint> {
    return this.serially(() => this.detachNow(container));
  }

  private async detachNow(container: string): Promise<AttachedEndpoint> {
    const netns = resolveNetns(container, false);
    const ep = this.attached.find((a) => a.netns === netns || a.container === container);
    if (!ep) throw new WeftError('usage', `${container} is not attached (see weft ps)`);
    await this.o.kernel.detach(ep.hostIfname);
    this.attached = this.attached.filter((a) => a !== ep);
    this.markDirty();
    await this.save();
    return ep;
  }

  expose(cidr: string): Promise<void> {
    return this.serially(() => this.exposeNow(cidr));
  }

  private async exposeNow(cidr: string): Promise<void> {
    checkCidr(cidr);
    await this.o.kernel.addAddress(BRIDGE, cidr);
    if (!this.exposed.includes(cidr)) this.exposed.push(cidr);
    await this.save();
    this.markDirty();
  }

  /** Removes one exposed address, or all of them. Returns what was removed. */
  hide(cidr?: string): Promise<string[]> {
    return this.serially(() => this.hideNow(cidr));
  }

  private async hideNow(cidr?: string): Promise<string[]> {
    const gone = cidr ? this.exposed.filter((c) => c === cidr) : [...this.exposed];
    if (cidr && gone.length === 0) throw new WeftError('usage', `${cidr} is not exposed (exposed: ${this.exposed.join(', ') || 'none'})`);
    for (const c of gone) await this.o.kernel.delAddress(BRIDGE, c);
    this.exposed = this.exposed.filter((c) => !gone.includes(c));
    await this.save();
    this.markDirty();
    return gone;
  }

  endpoints(): AttachedEndpoint[] {
    return [...this.attached];
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
      probes: this.prober?.counters ?? { sent: 0, received: 0, acked: 0, dropped: {} },
      dropped: this.records.dropped,
      lastError: this.lastError ?? null,
      encryption: this.o.encryption?.summary() ?? null,
    };
  }

  endpointStatus(): EndpointStatus[] {
    const out: EndpointStatus[] = [];
    const self = formatPeerName(this.o.mesh.name);
    for (const a of this.attached) out.push({ peer: self, nickname: this.o.mesh.nickname(this.o.mesh.name) ?? '', local: true, container: a.container, mac: a.mac, ips: a.cidrs });
    if (this.exposed.length > 0) out.push({ peer: self, nickname: this.o.mesh.nickname(this.o.mesh.name) ?? '', local: true, container: 'host (exposed)', mac: this.bridgeMac, ips: this.exposed });
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
    await this.running;
  }

  // ---- the refresh loop ------------------------------------------------------------------------

  private markDirty(): void {
    if (this.stopped || this.dirty) return;
    this.dirty = this.o.clock.setTimeout(() => {
      this.dirty = undefined;
      void this.apply();
    }, 20);
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    this.refreshTimer = this.o.clock.setTimeout(() => {
      void this.refresh().finally(() => this.scheduleRefresh());
    }, this.o.refreshMs);
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
      const known = new Set(this.attached.map((a) => a.mac));
      const learnt = macs.filter((m) => !known.has(m.mac) && m.mac !== this.bridgeMac).map((m) => ({ mac: m.mac, ips: [] }));
      this.learnt = learnt.sort((a, b) => (a.mac < b.mac ? -1 : 1));
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'could not read the bridge MACs');
    }
    if (now >= this.adoptUntil) this.adopted.clear();
    // Every refresh ends in a full reconcile: it also repairs entries changed behind our back.
    this.markDirty();
  }

  /** Runs one recompute-and-reconcile at a time; a call during a run queues one more. */
  private apply(): Promise<void> {
    if (this.queued) return this.queued;
    const run = this.running.then(() => {
      this.queued = undefined;
      return this.applyOnce();
    }).catch((err: unknown) => {
      this.lastError = errorMessage(err);
      this.o.log.error({ err: this.lastError }, 'data plane update failed');
    });
    this.queued = run;
    this.running = run;
    return run;
  }

  private async applyOnce(): Promise<void> {
    if (this.stopped) return;
    const o = this.o;
    const addrs = o.mesh.localAddresses();
    if (addrs.length > 0) this.addresses = addrs;

    const records = new Map<PeerName, PeerRecord>();
    for (const r of this.records.all()) records.set(r.name, r);
    this.prober?.setTargets([...records.values()].filter((r) => r.name !== o.mesh.name && !r.gone && r.addresses.length > 0).map((r) => ({ name: r.name, addresses: r.addresses, bridgeMac: r.bridgeMac })));
    const probe = (n: PeerName) => this.prober?.status(n) ?? { state: 'unknown' as const, since: 0 };
    const choice = choosePaths({ self: o.mesh.name, records, probe, nextHop: (n) => o.mesh.nextHop(n), previous: this.paths, nickname: (n) => o.mesh.nickname(n) ?? '' });
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
    const res = await this.reconciler.reconcile(desired, { keep: (e) => adopting && this.adopted.has(entryKey(e)) });
    if (res.failed.length > 0) {
      this.lastError = res.failed.map((f) => `${f.op.op}: ${f.error}`).slice(0, 3).join('; ');
      o.log.warn({ failed: res.failed.length, first: this.lastError }, 'some kernel changes failed; retrying on the next refresh');
    } else {
      this.lastError = undefined;
    }
    // A relay is announced ready only if its device and its FDB entry are in place.
    const failedDevs = new Set(res.failed.flatMap((f) => (f.op.op === 'link-add' || f.op.op === 'link-set' ? [f.op.link.name] : f.op.op === 'fdb-add' ? [f.op.entry.dev] : [])));
    this.serving = new Map([...serve].filter(([d]) => !failedDevs.has(relayVxlanName(d)) && !failedDevs.has(relayBridgeName(d))));
    if (res.ops.length > 0) o.log.debug({ ops: res.ops.length }, 'kernel updated');
    this.records.setLocal(this.localRecord());
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
    const endpoints: Endpoint[] = this.attached.map((a) => ({ mac: a.mac, ips: a.cidrs.map((c) => c.split('/')[0]!) }));
    if (this.exposed.length > 0) endpoints.push({ mac: this.bridgeMac, ips: this.exposed.map((c) => c.split('/')[0]!) });
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

  private save(): Promise<void> {
    const snapshot = { attached: this.attached, exposed: this.exposed };
    this.saving = this.saving.catch(() => undefined).then(() => this.store.save(snapshot));
    return this.saving;
  }

  private allLocalIps(): string[] {
    return [...this.attached.flatMap((a) => a.cidrs), ...this.exposed].map((c) => c.split('/')[0]!);
  }

  private remoteIps(): string[] {
    const out: string[] = [];
    for (const r of this.records.all()) if (r.name !== this.o.mesh.name && !r.gone) for (const e of r.endpoints) out.push(...e.ips);
    return out;
  }

  private async underlayMtu(): Promise<number> {
    for (const h of this.o.underlayHints) {
      if (!parseIpv4(h)) continue;
      const r = await this.o.kernel.routeTo(h).catch(() => undefined);
      if (r) return r.mtu;
    }
    return 1500;
  }
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

/** A named namespace, a /proc/PID/ns/net-style path, or a PID → a namespace path that exists. */
export function resolveNetns(container: string, mustExist = true): string {
  let path: string;
  if (/^\d+$/.test(container)) path = `/proc/${container}/ns/net`;
  else if (container.startsWith('/')) path = container;
  else if (/^[A-Za-z0-9_.-]{1,64}$/.test(container)) path = `/run/netns/${container}`;
  else throw new WeftError('usage', `"${container}" is not a network namespace: give a name from "ip netns list", a /proc/PID/ns/net path or a PID`);
  if (mustExist && !existsSync(path)) throw new WeftError('usage', `network namespace ${container} not found (${path} does not exist)`);
  return path;
}

/** 0a:58:a.b.c.d — locally administered, unicast, derived from the container's first IPv4 address. */
export function macForIp(ip: string): string {
  return formatMac(Buffer.concat([Buffer.from([0x0a, 0x58]), parseIpv4(ip)!]));
}

export function hostIfnameFor(netns: string): string {
  return `vethwe${createHash('sha256').update(netns).digest('hex').slice(0, 8)}`;
}

function checkCidr(c: string): void {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(c);
  if (!m || !parseIpv4(m[1]!) || Number(m[2]) > 32) throw new WeftError('usage', `"${c}" is not an IPv4 address with a prefix length, like 10.32.0.5/12`);
}

/** A route to the overlay range when the given prefixes do not already cover it. */
function routesFor(cidrs: string[], range: string): string[] {
  const [rangeIp, rangeLen] = range.split('/');
  const covered = cidrs.some((c) => {
    const [ip, len] = c.split('/');
    return Number(len) <= Number(rangeLen) && sameNet(ip!, rangeIp!, Number(len));
  });
  return covered ? [] : [range];
}

function sameNet(a: string, b: string, len: number): boolean {
  const n = (ip: string): number => parseIpv4(ip)!.readUInt32BE(0);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((n(a) & mask) >>> 0) === ((n(b) & mask) >>> 0);
}
