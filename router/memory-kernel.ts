// An in-memory Kernel for tests: it keeps links, FDB and neighbour entries, container attachments,
// addresses, learnt bridge MACs and a route table, enforces the kernel rules the reconciler depends
// on, and renders itself as sorted `ip link` / `ip addr` / `bridge fdb` / `ip neigh` lines so tests
// compare plain text. Errors of batch ops are errno names ('EEXIST', 'ENODEV', ...), as netlink
// reports them.
import { formatMac, parseIpv4 as parseIpv4Bytes } from './addresses.js';
import { WeftError } from '../lib/errors.js';
import { formatIpv4, networkOf, parseCidr as parseCidrText } from '../lib/ip.js';
import { cmp, isZeroMac } from './desired.js';
import { realClock, type Clock } from '../lib/clock.js';
import type {
  EspSteering,
  AttachSpec,
  Attached,
  BridgeMac,
  ContainerInterface,
  FdbEntry,
  FdbUse,
  Kernel,
  KernelOp,
  KernelState,
  Link,
  LinkSpec,
  NeighEntry,
  OpResult,
  PortSpec,
  UnderlayRoute,
} from './kernel.js';

export interface MemoryKernelOptions {
  /**
   * Failure injection: called for every op apply() sees, with n counting ops over all batches
   * from 0; a returned errno name makes that op fail without touching the state.
   */
  failOp?: (op: KernelOp, n: number) => string | undefined;
  /** Times the FDB entries' last use and update (fdbUse); default the real clock. */
  clock?: Clock;
}

interface MemLink {
  index: number;
  spec: LinkSpec;
  mac: string;
  /** Present while the link is a bridge port. */
  port?: PortSpec;
}

interface MemAttachment {
  index: number;
  spec: AttachSpec;
  mac: string;
  /** Cleared when the bridge is deleted, as the kernel does. */
  master?: string;
}

const IFNAMSIZ = 16;
const DEFAULT_PORT: PortSpec = { hairpin: false, learning: true };

export class MemoryKernel implements Kernel {
  /** Successful ops over all apply() calls. */
  applied = 0;
  /** apply() calls. */
  roundTrips = 0;
  /** read() calls. */
  reads = 0;
  failOp: MemoryKernelOptions['failOp'];

  private readonly links = new Map<string, MemLink>();
  private readonly attachments = new Map<string, MemAttachment>();
  private fdb: FdbEntry[] = [];
  /** When each stored FDB entry last forwarded a frame and was last added or replaced. */
  private readonly fdbTimes = new WeakMap<FdbEntry, { used: number; updated: number }>();
  private readonly clock: Clock;
  private readonly neigh = new Map<string, NeighEntry>();
  private readonly addrs = new Map<string, string[]>();
  private readonly learnt = new Map<string, string>(); // mac -> port
  private readonly routes: { net: number; len: number; route: UnderlayRoute }[] = [];
  private readonly watchers = new Set<() => void>();
  private nextIndex = 1;
  private opsSeen = 0;

  constructor(opts: MemoryKernelOptions = {}) {
    this.failOp = opts.failOp;
    this.clock = opts.clock ?? realClock;
  }

  async fdbUse(devs: string[], usedWithinMs = Infinity): Promise<FdbUse[]> {
    const wanted = new Set(devs);
    const now = this.clock.now();
    return this.fdb
      .filter((e) => wanted.has(e.dev))
      .map((e) => {
        const t = this.fdbTimes.get(e) ?? { used: now, updated: now };
        return { ...e, usedAgoMs: now - t.used, updatedAgoMs: now - t.updated };
      })
      .filter((e) => e.usedAgoMs <= usedWithinMs);
  }

  /**
   * A frame for `mac` leaves through the VXLAN device `dev`, as the kernel forwards it: its entry
   * is used, or with none every all-zero entry (head-end replication). Returns the destinations.
   */
  transmit(dev: string, mac: string): string[] {
    const now = this.clock.now();
    const lower = mac.toLowerCase();
    let hit = this.fdb.filter((e) => e.dev === dev && e.mac === lower && !isZeroMac(e.mac));
    if (hit.length === 0) hit = this.fdb.filter((e) => e.dev === dev && isZeroMac(e.mac));
    for (const e of hit) {
      const t = this.fdbTimes.get(e);
      if (t) t.used = now;
    }
    return hit.map((e) => e.dst);
  }

  async read(names: string[]): Promise<KernelState> {
    this.reads++;
    const wanted = new Set(names);
    const links: Link[] = [];
    for (const [name, l] of this.links) if (wanted.has(name)) links.push(this.linkView(l));
    links.sort((a, b) => cmp(a.name, b.name));
    return {
      links,
      fdb: this.fdb.filter((e) => wanted.has(e.dev)).map((e) => ({ ...e })),
      neigh: [...this.neigh.values()].filter((e) => wanted.has(e.dev)).map((e) => ({ ...e })),
    };
  }

  async apply(ops: KernelOp[]): Promise<OpResult[]> {
    this.roundTrips++;
    const results: OpResult[] = [];
    let changed = false;
    for (const op of ops) {
      const error = this.failOp?.(op, this.opsSeen++) ?? this.applyOne(op);
      if (error === undefined) {
        this.applied++;
        changed = true;
        results.push({ op });
      } else {
        results.push({ op, error });
      }
    }
    if (changed) this.changed();
    return results;
  }

  async attach(spec: AttachSpec): Promise<Attached> {
    const bridge = this.links.get(spec.bridge);
    if (bridge?.spec.kind !== 'bridge') throw ioError(`attach ${spec.hostIfname}: no bridge ${spec.bridge} (ENODEV)`);
    const existing = this.attachments.get(spec.hostIfname);
    if (existing === undefined && this.links.has(spec.hostIfname)) {
      throw ioError(`attach ${spec.hostIfname}: name in use (EEXIST)`);
    }
    if (!validName(spec.hostIfname) || !validName(spec.ifname)) throw ioError(`attach ${spec.hostIfname}: bad name (EINVAL)`);
    const clash = [...this.attachments.entries()].find(([name, o]) => name !== spec.hostIfname && o.spec.netns === spec.netns && o.spec.ifname === spec.ifname);
    if (clash) throw new WeftError('usage', `the container already has an interface named ${spec.ifname} (in ${spec.netns}); give another interface name`);
    let a = existing;
    if (a === undefined) {
      const index = this.nextIndex++;
      a = { index, spec, mac: spec.mac?.toLowerCase() ?? generatedMac(0x0e, index) };
    }
    a.spec = { ...spec, addresses: [...spec.addresses], routes: [...spec.routes] };
    a.master = spec.bridge;
    this.attachments.set(spec.hostIfname, a);
    this.changed();
    return { hostIfname: spec.hostIfname, mac: a.mac, hostMac: generatedMac(0x0f, a.index) };
  }

  async inspect(netns: string, ifname: string): Promise<ContainerInterface | undefined> {
    const a = [...this.attachments.values()].find((x) => x.spec.netns === netns && x.spec.ifname === ifname);
    if (!a) return undefined;
    const routes: ContainerInterface['routes'] = a.spec.addresses.map((c) => ({ dst: connectedRoute(c) }));
    for (const r of a.spec.routes) routes.push({ dst: r });
    if (a.spec.gateway) routes.push({ dst: '0.0.0.0/0', gw: a.spec.gateway });
    return { mac: a.mac, mtu: a.spec.mtu, addresses: [...a.spec.addresses], routes, peerIndex: a.index };
  }

  async detach(hostIfname: string): Promise<void> {
    if (!this.attachments.delete(hostIfname)) return;
    this.forgetPort(hostIfname);
    this.changed();
  }

  async linkNames(): Promise<string[]> {
    return [...this.links.keys(), ...this.attachments.keys()].sort(cmp);
  }

  async ports(bridge: string): Promise<string[]> {
    return [...this.attachments.entries()]
      .filter(([, a]) => a.master === bridge)
      .map(([name]) => name)
      .sort(cmp);
  }

  async bridgeMacs(bridge: string): Promise<BridgeMac[]> {
    const out: BridgeMac[] = [];
    for (const [mac, port] of this.learnt) {
      if (this.masterOf(port) === bridge && this.links.get(port)?.spec.kind !== 'vxlan') out.push({ mac, port });
    }
    return out.sort((a, b) => cmp(a.mac, b.mac));
  }

  async addresses(dev: string): Promise<string[]> {
    return [...(this.addrs.get(dev) ?? [])];
  }

  /** Idempotent: adding an address the device already has succeeds. */
  async addAddress(dev: string, cidr: string): Promise<void> {
    if (!this.links.has(dev) && !this.attachments.has(dev)) throw ioError(`add ${cidr} to ${dev}: no such device (ENODEV)`);
    if (parseCidr(cidr) === undefined) throw ioError(`add ${cidr} to ${dev}: not an IPv4 CIDR (EINVAL)`);
    const list = this.addrs.get(dev) ?? [];
    if (list.includes(cidr)) return;
    this.addrs.set(dev, [...list, cidr]);
    this.changed();
  }

  async delAddress(dev: string, cidr: string): Promise<void> {
    const list = this.addrs.get(dev);
    if (list === undefined || !list.includes(cidr)) return;
    this.addrs.set(dev, list.filter((c) => c !== cidr));
    this.changed();
  }

  async routeTo(dst: string): Promise<UnderlayRoute | undefined> {
    const ip = parseIpv4(dst);
    if (ip === undefined) return undefined;
    let best: { len: number; route: UnderlayRoute } | undefined;
    for (const r of this.routes) {
      if (inPrefix(ip, r.net, r.len) && (best === undefined || r.len > best.len)) best = r;
    }
    return best === undefined ? undefined : { ...best.route };
  }

  /** The ESP steering in place, as steerEsp() left it. */
  espSteering: EspSteering | undefined;

  steerEsp(spec: EspSteering | undefined): Promise<string[]> {
    const same = JSON.stringify(spec) === JSON.stringify(this.espSteering);
    this.espSteering = spec ? { ...spec } : undefined;
    return Promise.resolve(same ? [] : [spec ? `steer udp ${spec.port} to table ${spec.table} (${spec.tun})` : 'remove ESP steering']);
  }

  watch(onChange: () => void): () => void {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }

  close(): void {
    this.watchers.clear();
  }

  /** Test helper: the bridge has learnt mac on port (a MAC lives on one port at a time). */
  learn(port: string, mac: string): void {
    this.learnt.set(mac.toLowerCase(), port);
    this.changed();
  }

  /** Test helper: routeTo() answers route for addresses in prefix (IPv4 CIDR), longest prefix wins. */
  setRoute(prefix: string, route: UnderlayRoute): void {
    const p = parseCidr(prefix);
    if (p === undefined) throw new Error(`setRoute: not an IPv4 CIDR: ${prefix}`);
    const i = this.routes.findIndex((r) => r.net === p.net && r.len === p.len);
    if (i >= 0) this.routes.splice(i, 1);
    this.routes.push({ ...p, route: { ...route } });
  }

  /** Test helper: the attachment as it was configured, or undefined. */
  attachment(hostIfname: string): (AttachSpec & { mac: string; master?: string }) | undefined {
    const a = this.attachments.get(hostIfname);
    return a === undefined ? undefined : { ...a.spec, mac: a.mac, master: a.master };
  }

  /** Calls every watcher, as a netlink event would. */
  changed(): void {
    for (const w of [...this.watchers]) w();
  }

  /**
   * The whole state as sorted lines: links (port flags after `master`, where not the kernel's
   * defaults), addresses, FDB entries, neighbours.
   */
  render(): string {
    const links = [...this.links.entries()].map(([name, l]) => renderLink(name, l));
    for (const [name, a] of this.attachments) {
      links.push(`link ${name} veth${a.master === undefined ? '' : ` master ${a.master}`} mtu ${a.spec.mtu} up`);
    }
    const addrs: string[] = [];
    for (const [dev, list] of this.addrs) for (const c of list) addrs.push(`inet ${c} dev ${dev}`);
    const fdb = this.fdb.map(
      (e) => `${e.mac} dev ${e.dev} dst ${e.dst} self permanent${e.vni === undefined ? '' : ` vni ${e.vni}`}`,
    );
    const neigh = [...this.neigh.values()].map((e) => `${e.ip} dev ${e.dev} lladdr ${e.mac} PERMANENT`);
    return [links, addrs, fdb, neigh].flatMap((g) => g.sort(cmp)).join('\n');
  }

  private applyOne(op: KernelOp): string | undefined {
    switch (op.op) {
      case 'link-add':
        return this.linkAdd(op.link);
      case 'link-set':
        return this.linkSet(op.link);
      case 'link-del':
        return this.linkDel(op.name);
      case 'fdb-add':
        return this.fdbAdd(op.entry);
      case 'fdb-del':
        return this.fdbDel(op.entry);
      case 'neigh-add':
        return this.neighAdd(op.entry);
      case 'neigh-del':
        return this.neigh.delete(`${op.entry.dev} ${op.entry.ip}`) ? undefined : 'ENOENT';
    }
  }

  private linkAdd(spec: LinkSpec): string | undefined {
    if (this.links.has(spec.name) || this.attachments.has(spec.name)) return 'EEXIST';
    if (!validName(spec.name) || !validMtu(spec.mtu)) return 'EINVAL';
    if (spec.kind === 'vxlan' && spec.vxlan === undefined) return 'EINVAL';
    const masterError = this.checkMaster(spec);
    if (masterError !== undefined) return masterError;
    const index = this.nextIndex++;
    const link: MemLink = {
      index,
      spec: copySpec(spec),
      mac: spec.mac?.toLowerCase() ?? generatedMac(0x0a, index),
    };
    if (spec.master !== undefined) link.port = { ...(spec.port ?? DEFAULT_PORT) };
    this.links.set(spec.name, link);
    return undefined;
  }

  /** Changes mtu, master, up and port flags; the rest of the spec is ignored. */
  private linkSet(spec: LinkSpec): string | undefined {
    const link = this.links.get(spec.name);
    if (link === undefined) return 'ENODEV';
    if (!validMtu(spec.mtu)) return 'EINVAL';
    const masterError = this.checkMaster(spec);
    if (masterError !== undefined) return masterError;
    if (spec.master === undefined) {
      delete link.port;
    } else if (spec.port !== undefined) {
      link.port = { ...spec.port };
    } else if (link.spec.master !== spec.master) {
      link.port = { ...DEFAULT_PORT };
    }
    link.spec = { ...link.spec, mtu: spec.mtu, master: spec.master, up: spec.up };
    return undefined;
  }

  /** Deleting a link drops its entries and addresses and, for a bridge, releases its ports. */
  private linkDel(name: string): string | undefined {
    if (!this.links.delete(name)) return 'ENODEV';
    this.fdb = this.fdb.filter((e) => e.dev !== name);
    for (const [k, e] of this.neigh) if (e.dev === name) this.neigh.delete(k);
    this.addrs.delete(name);
    this.forgetPort(name);
    for (const l of this.links.values()) {
      if (l.spec.master === name) {
        l.spec = { ...l.spec, master: undefined };
        delete l.port;
      }
    }
    for (const a of this.attachments.values()) if (a.master === name) delete a.master;
    return undefined;
  }

  /**
   * A MAC entry is one per (dev, mac) and an add replaces its dst and VNI. All-zero MAC entries
   * are one per (dev, dst, VNI) and appended; re-adding one is a no-op. A VNI equal to the
   * device's is stored as none, as the kernel reports it. A delete matches (dev, mac, dst, VNI).
   */
  private fdbAdd(e: FdbEntry): string | undefined {
    const dev = this.links.get(e.dev);
    if (dev === undefined) return 'ENODEV';
    if (dev.spec.kind !== 'vxlan') return 'EOPNOTSUPP';
    const entry = this.stored(e, dev);
    const i = this.fdb.findIndex((f) => f.dev === entry.dev && f.mac === entry.mac && (!isZeroMac(entry.mac) || sameRemote(f, entry)));
    const now = this.clock.now();
    if (i < 0) {
      this.fdb.push(entry);
      this.fdbTimes.set(entry, { used: now, updated: now });
      return undefined;
    }
    // A replace keeps the entry's last use; it is an update only if the remote changed.
    const old = this.fdb[i]!;
    const t = this.fdbTimes.get(old) ?? { used: now, updated: now };
    this.fdb[i] = entry;
    this.fdbTimes.set(entry, sameRemote(old, entry) ? t : { used: t.used, updated: now });
    return undefined;
  }

  private fdbDel(e: FdbEntry): string | undefined {
    const dev = this.links.get(e.dev);
    if (dev === undefined) return 'ENODEV';
    const entry = this.stored(e, dev);
    const i = this.fdb.findIndex((f) => f.dev === entry.dev && f.mac === entry.mac && sameRemote(f, entry));
    if (i < 0) return 'ENOENT';
    this.fdb.splice(i, 1);
    return undefined;
  }

  private stored(e: FdbEntry, dev: MemLink): FdbEntry {
    const entry: FdbEntry = { dev: e.dev, mac: e.mac.toLowerCase(), dst: e.dst };
    if (e.vni !== undefined && e.vni !== dev.spec.vxlan?.vni) entry.vni = e.vni;
    return entry;
  }

  private neighAdd(e: NeighEntry): string | undefined {
    if (!this.links.has(e.dev)) return 'ENODEV';
    if (parseIpv4(e.ip) === undefined) return 'EINVAL';
    this.neigh.set(`${e.dev} ${e.ip}`, { dev: e.dev, ip: e.ip, mac: e.mac.toLowerCase() });
    return undefined;
  }

  private checkMaster(spec: LinkSpec): string | undefined {
    if (spec.master === undefined) return spec.port === undefined ? undefined : 'EINVAL';
    const master = this.links.get(spec.master);
    if (master === undefined) return 'ENODEV';
    if (master.spec.kind !== 'bridge' || spec.master === spec.name) return 'EOPNOTSUPP';
    return undefined;
  }

  private masterOf(port: string): string | undefined {
    return this.links.get(port)?.spec.master ?? this.attachments.get(port)?.master;
  }

  private forgetPort(port: string): void {
    for (const [mac, p] of this.learnt) if (p === port) this.learnt.delete(mac);
  }

  private linkView(l: MemLink): Link {
    const view: Link = { ...copySpec(l.spec), index: l.index, mac: l.mac };
    if (l.port !== undefined) view.port = { ...l.port };
    else delete view.port;
    return view;
  }
}

function renderLink(name: string, l: MemLink): string {
  const s = l.spec;
  let line = `link ${name} ${s.kind}`;
  if (s.vxlan !== undefined) {
    line += ` id ${s.vxlan.vni} dstport ${s.vxlan.port}`;
    if (!s.vxlan.learning) line += ' nolearning';
    if (s.vxlan.proxy) line += ' proxy';
  }
  if (s.mac !== undefined) line += ` address ${l.mac}`;
  if (s.master !== undefined) {
    line += ` master ${s.master}`;
    if (l.port?.hairpin === true) line += ' hairpin on';
    if (l.port?.learning === false) line += ' learning off';
  }
  return `${line} mtu ${s.mtu} ${s.up ? 'up' : 'down'}`;
}

function sameRemote(a: FdbEntry, b: FdbEntry): boolean {
  return a.dst === b.dst && a.vni === b.vni;
}

function copySpec(spec: LinkSpec): LinkSpec {
  const copy: LinkSpec = { ...spec };
  if (spec.vxlan !== undefined) copy.vxlan = { ...spec.vxlan };
  if (spec.port !== undefined) copy.port = { ...spec.port };
  return copy;
}

function validName(name: string): boolean {
  return name.length > 0 && name.length < IFNAMSIZ && !/[\s/:]/.test(name);
}

function validMtu(mtu: number): boolean {
  return Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535;
}

/** A locally administered unicast MAC derived from a counter, so runs are reproducible. */
function generatedMac(first: number, n: number): string {
  const bytes = [first, 0, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return formatMac(Uint8Array.from(bytes));
}

function parseIpv4(s: string): number | undefined {
  return parseIpv4Bytes(s)?.readUInt32BE(0);
}

function parseCidr(s: string): { net: number; len: number } | undefined {
  const [ip, len, ...rest] = s.split('/');
  if (ip === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len)) return undefined;
  const addr = parseIpv4(ip);
  const bits = Number(len);
  if (addr === undefined || bits > 32) return undefined;
  return { net: addr, len: bits };
}

function inPrefix(ip: number, net: number, len: number): boolean {
  if (len === 0) return true;
  const shift = 32 - len;
  return Math.floor(ip / 2 ** shift) === Math.floor(net / 2 ** shift);
}

function ioError(message: string): WeftError {
  return new WeftError('io', message);
}


/** The route the kernel adds for an address: its network. */
function connectedRoute(cidr: string): string {
  const c = parseCidrText(cidr);
  return c.ok ? `${formatIpv4(networkOf(c.value))}/${c.value.prefix}` : cidr;
}
