// The one owner of this host's endpoints: containers attached by `weft attach` (and, later, the
// CNI plugin) and addresses exposed to the host. Each operation is one transaction across IPAM,
// the endpoint store, the kernel and gossip; operations on one attachment run one at a time,
// different attachments run concurrently.
//
//   attach ─ validate ─ queue(key) ─ IPAM allocate|claim (saved) ─ store: intent ─ kernel veth ─ store: attached ─ gossip
//   detach ─ queue(key) ─ kernel detach ─ store ─ IPAM release ─ gossip
//   load (at start) ─ store ⋈ veths on the bridge ⋈ IPAM ─ adopt | drop | release, each logged
//   every refreshMs ─ veths gone behind our back (container deleted) ─ drop + release
//
// Why this order: the store names a veth before the kernel has it (an intent), and IPAM holds an
// address before the store names it, so after a crash at any step the next start finds every
// veth in the store or in IPAM (hostIfname is a hash of the key) and every address owned by a
// store entry or released. The kernel is the truth about what is attached: a stored entry
// without its veth is dropped, a veth without an entry is adopted.
import { existsSync } from 'node:fs';
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage, WeftError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { Coalescer, KeyedSerialQueue } from '../lib/serial.js';
import { EndpointStore, type AttachedEndpoint, type StoredEndpoints } from './endpoint-store.js';
import { BRIDGE } from './forwarding.js';
import { adoptFromAllocation, adoptUnknown, DEFAULT_IFNAME, hostIfnameFor, ipamKey, ipOf, keyString, macForIp, normalise, prefixOf, resolvedPath, routesFor, WEFT_VETH, type EndpointKey } from './endpoint-keys.js';

export { DEFAULT_IFNAME, hostIfnameFor, ipamKey, ipForMac, keyString, macForIp, type EndpointKey } from './endpoint-keys.js';
import type { Kernel } from './kernel.js';
import type { HostNat, NatSpec } from './host-nat.js';
import { attachmentProblems } from './endpoint-check.js';

/** IPAM's key for this host's own overlay address (the containers' default route). */
export const GATEWAY_KEY = 'weft:gateway';

export interface AttachRequest {
  /** As the user named it (namespace name, path or PID), for display. */
  container: string;
  /** Resolved namespace path. */
  netns: string;
  /** Default: the namespace path. */
  id?: string;
  /** Default: eth0. */
  ifname?: string;
  /** Empty: one address from IPAM. */
  cidrs: string[];
  /** 'cni': made by the CNI plugin (its GC may release it). */
  origin?: 'cni';
  /** The runtime's names, for display. */
  names?: { namespace?: string; pod?: string };
  /** A default route through this host's overlay address (allocated from IPAM on first use). */
  defaultRoute?: boolean;
  /** With defaultRoute: masquerade traffic from the overlay range to outside it. */
  masquerade?: boolean;
  /** Hairpin mode on the bridge port (port mappings that turn traffic back to the container). */
  hairpin?: boolean;
}

/** What differs between an attachment and what its container has (CNI CHECK); [] when they agree. */
export type CheckResult = { ep: AttachedEndpoint; problems: string[] };

/** What the endpoints owner needs from IPAM (ipam/allocator.ts). Keys are `ipamKey(key)`. */
export interface AddressManager {
  /** An address for key (the same one again if it has one), saved before it is returned. */
  allocate(key: string, opts?: { signal?: AbortSignal }): Promise<string>;
  /** Reserves ip for key (addresses outside the range are allowed and not tracked). */
  claim(key: string, ip: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** Frees key's address, saved. Unknown keys are ignored. */
  release(key: string): Promise<void>;
  lookup(key: string): string | undefined;
  allocations(): { container: string; ip: string }[];
  /** The kernel holds ip for key: record it. Returns a description of a conflict, if there is one. */
  adopt(key: string, ip: string): Promise<string | undefined>;
  /** `weft reset`: hands all our space to a reachable peer (our allocations go with it); its name, or undefined when no one took it. */
  handoff(): Promise<string | undefined>;
}

/** What the endpoints owner needs from the data plane (router/dataplane.ts). */
export interface EndpointsDataplane {
  /** The overlay MTU (known once the data plane has started). */
  readonly mtu: number;
  /** Addresses other peers announce (an explicit address must not clash with them). */
  remoteIps(): Set<string>;
  /** The local endpoints changed: recompute and gossip. */
  changed(): void;
  /** Resolves once every change so far has reached the kernel and the local record. */
  settled(): Promise<void>;
}

export interface EndpointsOptions {
  kernel: Kernel;
  dataplane: EndpointsDataplane;
  /** Undefined: no address management (every attach names its addresses). */
  ipam: AddressManager | undefined;
  /** The overlay range (CIDR text). */
  overlayRange: string;
  dataDir: string;
  /** Default: endpoints.json in dataDir. */
  store?: EndpointsStore;
  clock: Clock;
  log: Logger;
  /** How often the veths on the bridge are compared with the attachments. */
  refreshMs: number;
  /** Refuses what is not a container's namespace (the router's own, PID 1's); returns why. */
  checkNetns(path: string): string | undefined;
  /** Refuses an address that is not a unicast host address with a sane prefix; returns why. */
  checkCidr(cidr: string): string | undefined;
  /** Whether ip lies in the overlay range. */
  inRange(ip: string): boolean;
  /** Forwarding and masquerade for containers with a default route through this host. */
  nat: HostNat;
}

/** Where the endpoints are kept (router/endpoint-store.ts): save must be durable when it resolves. */
export interface EndpointsStore {
  load(): Promise<StoredEndpoints>;
  save(s: StoredEndpoints): Promise<void>;
}

export interface LocalEndpoint {
  mac: string;
  ips: string[];
}

export class Endpoints {
  private attached = new Map<string, AttachedEndpoint>();
  private exposed: string[] = [];
  /** This host's overlay address (CIDR), the containers' default route; undefined until one asks. */
  private gateway: string | undefined;
  private masquerade = false;
  /** What the host NAT was last set to (JSON), so an attach does not rerun nft. */
  private natApplied: string | undefined;
  private readonly store: EndpointsStore;
  private readonly queue = new KeyedSerialQueue<string>();
  private readonly saver: Coalescer;
  /** Addresses being attached right now (explicit, outside IPAM): a concurrent attach must not take them. */
  private readonly reserving = new Map<string, string>();
  private timer: Timer | undefined;
  private stopped = false;

  constructor(private readonly o: EndpointsOptions) {
    this.store = o.store ?? new EndpointStore(o.dataDir);
    this.saver = new Coalescer(() => {
      const s: StoredEndpoints = { attached: [...this.attached.values()], exposed: [...this.exposed] };
      if (this.gateway) s.gateway = this.gateway;
      if (this.masquerade) s.masquerade = true;
      return this.store.save(s);
    });
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /**
   * Reconciles the store with the kernel and IPAM (before the data plane announces anything, so
   * its first record already carries our endpoints). Every difference is logged.
   */
  async load(): Promise<void> {
    const o = this.o;
    const stored = await this.store.load();
    this.exposed = stored.exposed;
    if (stored.gateway && this.exposed.includes(stored.gateway)) this.gateway = stored.gateway;
    this.masquerade = stored.masquerade === true;
    let ports: Set<string> | undefined;
    try {
      ports = new Set(await o.kernel.ports(BRIDGE));
    } catch (err) {
      // Dropping entries on a failed read would be saved, and lost for good.
      o.log.warn({ err: errorMessage(err) }, 'could not list the bridge ports; keeping every stored endpoint');
    }
    for (const raw of stored.attached) {
      const ep = normalise(raw);
      if (!ep) {
        o.log.warn({ entry: raw }, 'endpoints.json: skipping an entry that is not an endpoint');
        continue;
      }
      if (ports && !ports.has(ep.hostIfname)) {
        o.log.info({ container: ep.container, hostIfname: ep.hostIfname, state: ep.state ?? 'attached' }, 'a stored container is gone (its veth no longer exists): forgetting it');
        continue;
      }
      this.attached.set(keyString(ep), ep);
    }
    // Veths on the bridge that the store does not name: a crash between the kernel and the store,
    // or a store emptied by hand. IPAM's keys hash to their names; otherwise the MAC tells the address.
    if (ports) {
      const known = new Set([...this.attached.values()].map((a) => a.hostIfname));
      const byIfname = new Map((o.ipam?.allocations() ?? []).map((a) => [hostIfnameFor(a.container), a]));
      const macs = await o.kernel.bridgeMacs(BRIDGE).catch(() => []);
      for (const port of ports) {
        if (known.has(port) || !WEFT_VETH.test(port)) continue;
        const alloc = byIfname.get(port);
        const ep = alloc ? adoptFromAllocation(alloc, port, o.overlayRange) : adoptUnknown(port, macs.find((m) => m.port === port)?.mac, o.overlayRange);
        o.log.warn({ hostIfname: port, container: ep.container, cidrs: ep.cidrs }, 'adopting a container veth the endpoint store did not know');
        this.attached.set(keyString(ep), ep);
      }
    }
    await this.reconcileIpam();
    await this.save();
  }

  /** After the data plane has started: exposed addresses on the bridge, unfinished attaches, the periodic check. */
  async start(): Promise<void> {
    for (const cidr of this.exposed) {
      await this.o.kernel.addAddress(BRIDGE, cidr).catch((err: unknown) => this.o.log.warn({ cidr, err: errorMessage(err) }, 'could not put an exposed address back on the bridge'));
    }
    if (this.masquerade || [...this.attached.values()].some((ep) => ep.gateway)) {
      await this.applyNat().catch((err: unknown) => this.o.log.error({ err: errorMessage(err) }, 'could not restore forwarding and masquerading for the containers'));
    }
    for (const ep of [...this.attached.values()]) {
      if (ep.state !== 'attaching') continue;
      void this.queue.run(keyString(ep), () => this.finishAttaching(ep)).catch((err: unknown) => this.o.log.error({ container: ep.container, err: errorMessage(err) }, 'could not finish an attach interrupted by a restart'));
    }
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.queue.idle();
    await this.saver.idle();
  }

  // ---- operations --------------------------------------------------------------------------------

  /** Attaches a container (idempotent: the same request again returns the same endpoint). */
  attach(req: AttachRequest, opts: { signal?: AbortSignal } = {}): Promise<AttachedEndpoint> {
    const key: EndpointKey = { id: req.id ?? req.netns, ifname: req.ifname ?? DEFAULT_IFNAME };
    const why = this.o.checkNetns(req.netns);
    if (why) return Promise.reject(new WeftError('usage', why));
    for (const c of req.cidrs) {
      const bad = this.o.checkCidr(c);
      if (bad) return Promise.reject(new WeftError('usage', bad));
    }
    const inRange = req.cidrs.filter((c) => this.o.inRange(ipOf(c)));
    if (this.o.ipam && inRange.length > 1) {
      return Promise.reject(new WeftError('usage', `a container gets one address inside ${this.o.overlayRange}, not ${inRange.join(' and ')}: give one (addresses outside the range are not limited)`));
    }
    if (req.cidrs.length === 0 && !this.o.ipam) {
      return Promise.reject(new WeftError('usage', 'this router has no address management: give the address, e.g. weft attach 10.32.0.5/12 NETNS'));
    }
    return this.queue.run(keyString(key), () => this.attachNow(key, req, opts.signal));
  }

  /** Detaches one attachment by its key (CNI DEL). Already gone: undefined. */
  detachKey(key: EndpointKey, opts: { signal?: AbortSignal } = {}): Promise<AttachedEndpoint | undefined> {
    return this.queue.run(keyString(key), () => this.detachNow(keyString(key), opts.signal));
  }

  /** The attachment under key, if there is one (attaches in flight are finished first). */
  async get(key: EndpointKey): Promise<AttachedEndpoint | undefined> {
    return this.queue.run(keyString(key), async () => this.attached.get(keyString(key)));
  }

  /**
   * CNI CHECK: compares an attachment with what its container and the bridge really have — the
   * veth on the bridge, the interface in netns with its MAC, MTU, addresses and routes.
   */
  check(key: EndpointKey, netns: string): Promise<CheckResult> {
    return this.queue.run(keyString(key), async () => {
      const ep = this.attached.get(keyString(key));
      if (!ep) throw new WeftError('not-found', `nothing is attached as ${key.ifname} of container ${key.id}`);
      const onBridge = (await this.o.kernel.ports(BRIDGE)).includes(ep.hostIfname);
      const inside = existsSync(netns) ? await this.o.kernel.inspect(netns, key.ifname) : undefined;
      const problems = attachmentProblems(ep, { netns, onBridge, inside }, { mtu: this.o.dataplane.mtu, overlayRange: this.o.overlayRange });
      return { ep, problems };
    });
  }

  /** CNI GC: releases every CNI attachment not in keep. Returns the keys released. */
  async gc(keep: EndpointKey[], opts: { signal?: AbortSignal } = {}): Promise<EndpointKey[]> {
    const valid = new Set(keep.map(keyString));
    const out: EndpointKey[] = [];
    for (const ep of [...this.attached.values()]) {
      if (ep.origin !== 'cni' || valid.has(keyString(ep))) continue;
      checkAborted(opts.signal, 'garbage collection');
      const gone = await this.detachKey(ep, opts);
      if (gone) {
        this.o.log.info({ container: ep.container, id: ep.id, ifname: ep.ifname }, 'released a CNI attachment the runtime no longer knows (GC)');
        out.push({ id: gone.id, ifname: gone.ifname });
      }
    }
    return out;
  }

  /**
   * Detaches what `container` names (a namespace name, path or PID, or a container ID), every
   * interface of it. Something already gone is not an error: returns [] then.
   */
  async detach(container: string, opts: { signal?: AbortSignal } = {}): Promise<AttachedEndpoint[]> {
    const path = resolvedPath(container);
    const keys = new Set<string>();
    for (const [k, a] of this.attached) if (a.netns === path || a.container === container || a.id === container || a.hostIfname === container) keys.add(k);
    // An attach of this namespace may still be queued: detach after it, not before.
    if (path) keys.add(keyString({ id: path, ifname: DEFAULT_IFNAME }));
    const out: AttachedEndpoint[] = [];
    for (const k of keys) {
      const ep = await this.queue.run(k, () => this.detachNow(k, opts.signal));
      if (ep) out.push(ep);
    }
    return out;
  }

  expose(cidr: string): Promise<void> {
    const bad = this.o.checkCidr(cidr);
    if (bad) return Promise.reject(new WeftError('usage', bad));
    return this.queue.run('\0exposed', async () => {
      await this.o.kernel.addAddress(BRIDGE, cidr);
      if (!this.exposed.includes(cidr)) this.exposed.push(cidr);
      await this.save();
      this.o.dataplane.changed();
    });
  }

  /** Removes one exposed address, or all of them. Returns what was removed. */
  hide(cidr?: string): Promise<string[]> {
    return this.queue.run('\0exposed', async () => {
      const gone = cidr ? this.exposed.filter((c) => c === cidr) : [...this.exposed];
      if (cidr && gone.length === 0) throw new WeftError('usage', `${cidr} is not exposed (exposed: ${this.exposed.join(', ') || 'none'})`);
      for (const c of gone) await this.o.kernel.delAddress(BRIDGE, c);
      this.exposed = this.exposed.filter((c) => !gone.includes(c));
      if (this.gateway && gone.includes(this.gateway)) {
        await this.o.ipam?.release(GATEWAY_KEY);
        this.gateway = undefined;
      }
      await this.save();
      this.o.dataplane.changed();
      return gone;
    });
  }

  /**
   * `weft reset`: our address space goes to a reachable peer before we leave (docs/ipam.md); with
   * no one to take it the space stays ours, but the addresses of the containers removed are freed.
   * Then every container is detached.
   */
  async reset(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.queue.idle();
    const ipam = this.o.ipam;
    const heir = await ipam?.handoff();
    if (ipam && heir === undefined) for (const a of ipam.allocations()) await ipam.release(a.container);
    for (const ep of this.attached.values()) await this.o.kernel.detach(ep.hostIfname).catch((err: unknown) => this.o.log.warn({ hostIfname: ep.hostIfname, err: errorMessage(err) }, 'reset: could not remove a container veth'));
    this.attached.clear();
    this.exposed = [];
    this.gateway = undefined;
    this.masquerade = false;
    await this.o.nat.apply(undefined).catch((err: unknown) => this.o.log.warn({ err: errorMessage(err) }, 'reset: could not remove the masquerade table'));
    await this.save();
  }

  // ---- views -------------------------------------------------------------------------------------

  list(): AttachedEndpoint[] {
    return [...this.attached.values()];
  }

  exposedCidrs(): string[] {
    return [...this.exposed];
  }

  /** What the local record announces: attached containers (attaches in flight included: their veth may exist). */
  announced(): LocalEndpoint[] {
    return [...this.attached.values()].filter((a) => a.mac !== '').map((a) => ({ mac: a.mac, ips: a.cidrs.map(ipOf) }));
  }

  /** Resolves once every operation queued so far has finished. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // ---- the transactions --------------------------------------------------------------------------

  private async attachNow(key: EndpointKey, req: AttachRequest, signal: AbortSignal | undefined): Promise<AttachedEndpoint> {
    const o = this.o;
    const k = keyString(key);
    const ik = ipamKey(key);
    checkAborted(signal, 'attach');
    const existing = this.attached.get(k);
    const had = o.ipam?.lookup(ik);
    const explicit = req.cidrs.filter((c) => !(o.ipam && o.inRange(ipOf(c))));
    // Explicit addresses outside IPAM: unique among our endpoints and what others announce.
    const mine = new Set((existing?.cidrs ?? []).map(ipOf));
    const taken = this.localIps(k);
    const remote = o.dataplane.remoteIps();
    for (const c of explicit) {
      const ip = ipOf(c);
      if (mine.has(ip)) continue;
      const holder = this.reserving.get(ip);
      if (taken.has(ip) || remote.has(ip) || (holder !== undefined && holder !== k)) throw new WeftError('usage', `address ${ip} is already in use on the overlay`);
    }
    for (const c of explicit) this.reserving.set(ipOf(c), k);
    let created = false;
    try {
      const gateway = req.defaultRoute ? await this.ensureGateway(signal) : existing?.gateway;
      if (req.defaultRoute) {
        if (req.masquerade) this.masquerade = true;
        await this.applyNat();
      }
      let cidrs = req.cidrs;
      if (o.ipam) {
        if (cidrs.length === 0) cidrs = existing && had ? existing.cidrs.filter((c) => ipOf(c) === had) : [`${await o.ipam.allocate(ik, { signal })}/${prefixOf(o.overlayRange)}`];
        for (const c of cidrs) if (o.inRange(ipOf(c))) await o.ipam.claim(ik, ipOf(c), { signal });
      }
      checkAborted(signal, 'attach');
      const all = [...new Set([...(existing?.cidrs ?? []), ...cidrs])];
      const hostIfname = existing?.hostIfname ?? hostIfnameFor(ik);
      const mac = existing?.mac || macForIp(ipOf(all[0]!));
      const intent: AttachedEndpoint = { id: key.id, ifname: key.ifname, container: req.container, netns: req.netns, hostIfname, mac, cidrs: all, state: 'attaching' };
      const origin = req.origin ?? existing?.origin;
      if (origin) intent.origin = origin;
      const names = req.names ?? existing?.names;
      if (names) intent.names = names;
      if (gateway) intent.gateway = gateway;
      if (req.hairpin || existing?.hairpin) intent.hairpin = true;
      // A re-attach of a complete attachment only adds addresses to a veth the store already names.
      if (existing && existing.state !== 'attaching') delete intent.state;
      else {
        // Named in the store before the kernel has it: a crash now leaves a veth the next start knows.
        this.attached.set(k, intent);
        created = !existing;
        await this.save();
      }
      const res = await o.kernel.attach({
        hostIfname,
        bridge: BRIDGE,
        netns: req.netns,
        ifname: key.ifname,
        // The MAC follows the address (as OVN-Kubernetes does), so a container attached again, or
        // elsewhere, keeps its MAC and the other containers' ARP caches stay right.
        mac,
        mtu: o.dataplane.mtu,
        addresses: all,
        routes: routesFor(all, o.overlayRange),
        ...(intent.gateway ? { gateway: intent.gateway } : {}),
        ...(intent.hairpin ? { hairpin: true } : {}),
      });
      checkAborted(signal, 'attach');
      const ep: AttachedEndpoint = { ...intent, mac: res.mac || mac, state: undefined };
      if (res.hostMac) ep.hostMac = res.hostMac;
      delete ep.state;
      this.attached.set(k, ep);
      await this.save();
      o.dataplane.changed();
      await o.dataplane.settled();
      return ep;
    } catch (err) {
      // Nothing of a failed attach stays: the veth it made, the store entry, what IPAM gave it.
      if (created || !existing) {
        const ep = this.attached.get(k);
        if (ep) {
          await o.kernel.detach(ep.hostIfname).catch((e: unknown) => o.log.warn({ hostIfname: ep.hostIfname, err: errorMessage(e) }, 'could not remove the veth of a failed attach'));
          this.attached.delete(k);
          await this.save().catch((e: unknown) => o.log.error({ err: errorMessage(e) }, 'could not save the endpoints after a failed attach'));
          o.dataplane.changed();
        }
      }
      if (o.ipam && had === undefined && !this.attached.has(k)) {
        await o.ipam.release(ik).catch((e: unknown) => o.log.error({ key: ik, err: errorMessage(e) }, 'could not release the address of a failed attach'));
      }
      throw err;
    } finally {
      for (const c of explicit) if (this.reserving.get(ipOf(c)) === k) this.reserving.delete(ipOf(c));
    }
  }

  private async detachNow(k: string, signal: AbortSignal | undefined): Promise<AttachedEndpoint | undefined> {
    const o = this.o;
    const ep = this.attached.get(k);
    if (!ep) return undefined;
    checkAborted(signal, 'detach');
    await o.kernel.detach(ep.hostIfname);
    this.attached.delete(k);
    await this.save();
    await o.ipam?.release(ipamKey(ep));
    o.dataplane.changed();
    await o.dataplane.settled();
    return ep;
  }

  /** An attach interrupted by a restart: finish it if its namespace is still there, else undo it. */
  private async finishAttaching(ep: AttachedEndpoint): Promise<void> {
    const o = this.o;
    const k = keyString(ep);
    if (this.attached.get(k) !== ep) return;
    const usable = ep.netns !== '' && existsSync(ep.netns) && o.checkNetns(ep.netns) === undefined;
    if (usable) {
      try {
        const res = await o.kernel.attach({
          hostIfname: ep.hostIfname, bridge: BRIDGE, netns: ep.netns, ifname: ep.ifname, mac: ep.mac, mtu: o.dataplane.mtu, addresses: ep.cidrs, routes: routesFor(ep.cidrs, o.overlayRange),
          ...(ep.gateway ? { gateway: ep.gateway } : {}),
          ...(ep.hairpin ? { hairpin: true } : {}),
        });
        const done: AttachedEndpoint = { ...ep, mac: res.mac || ep.mac };
        if (res.hostMac) done.hostMac = res.hostMac;
        delete done.state;
        this.attached.set(k, done);
        o.log.info({ container: ep.container, cidrs: ep.cidrs }, 'finished an attach interrupted by a restart');
        await this.save();
        o.dataplane.changed();
        return;
      } catch (err) {
        o.log.warn({ container: ep.container, err: errorMessage(err) }, 'an attach interrupted by a restart cannot be finished; undoing it');
      }
    }
    await o.kernel.detach(ep.hostIfname);
    this.attached.delete(k);
    await this.save();
    await o.ipam?.release(ipamKey(ep));
    o.dataplane.changed();
  }

  // ---- reconciliation ----------------------------------------------------------------------------

  /** IPAM holds exactly the in-range addresses of our endpoints: adopt what it lacks, release what has no endpoint. */
  private async reconcileIpam(): Promise<void> {
    const ipam = this.o.ipam;
    if (!ipam) return;
    const wanted = new Map<string, string>();
    if (this.gateway && this.o.inRange(ipOf(this.gateway))) wanted.set(GATEWAY_KEY, ipOf(this.gateway));
    for (const ep of this.attached.values()) {
      const ip = ep.cidrs.map(ipOf).find((i) => this.o.inRange(i));
      if (ip) wanted.set(ipamKey(ep), ip);
    }
    for (const a of ipam.allocations()) {
      if (wanted.get(a.container) === a.ip) continue;
      if (wanted.has(a.container)) continue; // adopted below with the kernel's address
      this.o.log.warn({ key: a.container, ip: a.ip }, 'releasing an address that no attached container holds (an attach or detach interrupted by a crash)');
      await ipam.release(a.container);
    }
    for (const [key, ip] of wanted) {
      if (ipam.lookup(key) === ip) continue;
      const had = ipam.lookup(key);
      if (had !== undefined) await ipam.release(key);
      const conflict = await ipam.adopt(key, ip);
      if (conflict) this.o.log.error({ key, ip, conflict }, `address ${ip} of an attached container is in conflict: ${conflict}`);
      else this.o.log.warn({ key, ip, storedIp: had ?? null }, 'IPAM did not hold the address of an attached container: adopted it from the kernel');
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.sweep()
        .catch((err: unknown) => this.o.log.warn({ err: errorMessage(err) }, 'could not compare the attachments with the bridge'))
        .finally(() => this.schedule());
    }, this.o.refreshMs);
  }

  /** Containers whose veth disappeared (the container and its namespace were deleted) are forgotten and their addresses released. */
  async sweep(): Promise<void> {
    const ports = new Set(await this.o.kernel.ports(BRIDGE));
    for (const [k, ep] of this.attached) {
      if (ports.has(ep.hostIfname) || ep.state === 'attaching') continue;
      await this.queue.run(k, async () => {
        const now = this.attached.get(k);
        if (!now || now.state === 'attaching') return;
        if ((await this.o.kernel.ports(BRIDGE)).includes(now.hostIfname)) return;
        this.o.log.info({ container: now.container, cidrs: now.cidrs }, 'a container is gone (its veth disappeared): releasing its address');
        this.attached.delete(k);
        await this.save();
        await this.o.ipam?.release(ipamKey(now));
        this.o.dataplane.changed();
      });
    }
  }

  private save(): Promise<void> {
    return this.saver.run();
  }

  /**
   * This host's address on the overlay (its IP), the next hop of the containers' default route:
   * an address the user exposed inside the range, else one from IPAM put on the bridge (as
   * `weave expose` did). Saved before it is used.
   */
  private ensureGateway(signal: AbortSignal | undefined): Promise<string> {
    return this.queue.run('\0exposed', async () => {
      const o = this.o;
      if (this.gateway) return ipOf(this.gateway);
      const mine = this.exposed.find((c) => o.inRange(ipOf(c)));
      let cidr = mine;
      if (!cidr) {
        if (!o.ipam) throw new WeftError('usage', `a default route through this host needs its address on the overlay: give it one with \`weft expose ADDRESS/PREFIX\` (inside ${o.overlayRange}), or run the router with address management`);
        cidr = `${await o.ipam.allocate(GATEWAY_KEY, { signal })}/${prefixOf(o.overlayRange)}`;
        await o.kernel.addAddress(BRIDGE, cidr);
        this.exposed.push(cidr);
        o.log.info({ cidr }, 'this host\'s address on the overlay, the containers\' default route');
      }
      this.gateway = cidr;
      await this.save();
      o.dataplane.changed();
      return ipOf(cidr);
    });
  }

  /** Forwarding on and masquerade as asked, once (nft runs only when that changes). */
  private async applyNat(): Promise<void> {
    const spec: NatSpec = { range: this.o.overlayRange, masquerade: this.masquerade };
    const text = JSON.stringify(spec);
    if (this.natApplied === text) return;
    await this.o.nat.apply(spec);
    this.natApplied = text;
    await this.save();
  }

  private localIps(except: string): Set<string> {
    const out = new Set<string>(this.exposed.map(ipOf));
    for (const [k, a] of this.attached) if (k !== except) for (const c of a.cidrs) out.add(ipOf(c));
    return out;
  }
}

function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new WeftError('aborted', `the ${what} was cancelled (the client went away); nothing was left behind`);
}
