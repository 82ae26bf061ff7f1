// The Kernel seam over rtnetlink. One request socket (opened lazily, in `netns` when given) carries
// dumps and batches; attach() opens a second, short-lived socket inside the container's namespace
// to configure its end; watch() opens an event socket per subscriber.
//
// apply() splits the ops at link ops: a link op runs alone (later ops may name the link it made,
// so names are resolved again after it), and each run of FDB/neighbour ops between them goes out as
// one pipelined batch.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { decodeRule, delRule, dumpRules, newRule, RTM_NEWRULE, RTPROT_WEFT, type FibRule } from './netlink/rules.js';
import { WeftError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Clock } from '../lib/clock.js';
import type {
  Attached, AttachSpec, BridgeMac, ContainerInterface, EspSteering, FdbEntry, FdbUse, Kernel, KernelOp, KernelState, Link, LinkKind, NeighEntry, OpResult, UnderlayRoute,
} from './kernel.js';
import { NetlinkClient, errnoCode } from './netlink/client.js';
import type { NlMessage, NlRequest } from './netlink/codec.js';
import {
  AF_BRIDGE, AF_INET, IFF_UP, NETLINK_ROUTE, NTF_SELF, NUD_PERMANENT, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH,
  RTM_NEWROUTE, RTNLGRP_LINK, RTNLGRP_NEIGH, RTN_UNICAST, RT_TABLE_MAIN,
} from './netlink/constants.js';
import { decodeAddr, decodeLink, decodeNeigh, decodeRoute, neighUsedAgoMs, type LinkMessage } from './netlink/messages.js';
import * as rq from './netlink/requests.js';
import { openNetlinkSocket, type NetlinkSocket, type NetlinkSocketOptions } from './netlink/socket.js';
import type { Result } from '../lib/result.js';

export interface NetlinkKernelOptions {
  log: Logger;
  openSocket?: (opts: NetlinkSocketOptions) => NetlinkSocket;
  /** Network namespace (path) every socket of this kernel lives in; default: the process's. */
  netns?: string;
  clock?: Clock;
  timeoutMs?: number;
}

/** Links of one namespace, by index and by name. */
interface LinkTable {
  byIndex: Map<number, LinkMessage>;
  byName: Map<string, LinkMessage>;
}

const DUMP_ATTEMPTS = 3;
/** The blackhole guard's metric: the last route the table can fall back to. */
const GUARD_METRIC = 0xffff_ffff;

/** VXLAN to the port goes through the table. (Nothing is written into the TUN, so no reverse-path rule.) */
function espRules(spec: EspSteering): FibRule[] {
  const base = { priority: spec.priority, ipProto: 17, table: spec.table, action: 'lookup' as const, protocol: RTPROT_WEFT };
  return [{ ...base, dport: [spec.port, spec.port] }];
}

function describeRule(r: FibRule): string {
  return `${r.dport ? `dport ${r.dport[0]}` : ''}${r.sport ? `sport ${r.sport[0]}` : ''} lookup ${r.table ?? r.action} priority ${r.priority}`;
}

export class NetlinkKernel implements Kernel {
  private readonly log: Logger;
  private readonly openSocket: (opts: NetlinkSocketOptions) => NetlinkSocket;
  private readonly netns: string | undefined;
  private readonly clock: Clock | undefined;
  private readonly timeoutMs: number | undefined;
  private client: NetlinkClient | undefined;
  private readonly watchers = new Set<NetlinkSocket>();
  private closed = false;
  /** The table steerEsp() last filled, so that removing the steering finds it. */
  private steeredTable: number | undefined;

  constructor(opts: NetlinkKernelOptions) {
    this.log = opts.log;
    this.openSocket = opts.openSocket ?? openNetlinkSocket;
    this.netns = opts.netns;
    this.clock = opts.clock;
    this.timeoutMs = opts.timeoutMs;
  }

  async read(names: string[]): Promise<KernelState> {
    const c = this.nl();
    const links = await linkTable(c);
    const ports = await this.portFlags(c);
    const fdbDump = decodeAll(await dumpRetrying(c, rq.dumpNeigh(AF_BRIDGE)), RTM_NEWNEIGH, decodeNeigh, this.log);
    const neighDump = decodeAll(await dumpRetrying(c, rq.dumpNeigh(AF_INET)), RTM_NEWNEIGH, decodeNeigh, this.log);

    const state: KernelState = { links: [], fdb: [], neigh: [] };
    const wanted = new Map<number, LinkMessage>();
    for (const name of names) {
      const l = links.byName.get(name);
      if (!l) continue;
      wanted.set(l.index, l);
      state.links.push(toLink(l, links, ports.get(l.index)));
    }
    for (const n of fdbDump) {
      const l = wanted.get(n.ifindex);
      if (!l || l.kind !== 'vxlan' || !(n.flags & NTF_SELF) || !(n.state & NUD_PERMANENT) || !n.lladdr || !n.dst) continue;
      const e: FdbEntry = { dev: l.name!, mac: n.lladdr, dst: n.dst };
      if (n.vni !== undefined) e.vni = n.vni;
      state.fdb.push(e);
    }
    for (const n of neighDump) {
      const l = wanted.get(n.ifindex);
      if (!l || !(n.state & NUD_PERMANENT) || !n.lladdr || !n.dst) continue;
      state.neigh.push({ dev: l.name!, ip: n.dst, mac: n.lladdr });
    }
    return state;
  }

  async fdbUse(devs: string[], usedWithinMs = Infinity): Promise<FdbUse[]> {
    const c = this.nl();
    const links = await linkTable(c);
    const wanted = new Map<number, string>();
    for (const name of devs) {
      const l = links.byName.get(name);
      if (l?.kind === 'vxlan') wanted.set(l.index, name);
    }
    const out: FdbUse[] = [];
    if (wanted.size === 0) return out;
    const recent = (await dumpRetrying(c, rq.dumpNeigh(AF_BRIDGE))).filter((m) => m.type === RTM_NEWNEIGH && (neighUsedAgoMs(m.payload) ?? Infinity) <= usedWithinMs);
    for (const n of decodeAll(recent, RTM_NEWNEIGH, decodeNeigh, this.log)) {
      const dev = wanted.get(n.ifindex);
      if (dev === undefined || !(n.flags & NTF_SELF) || !(n.state & NUD_PERMANENT) || !n.lladdr || !n.dst || n.usedAgoMs === undefined) continue;
      const e: FdbUse = { dev, mac: n.lladdr, dst: n.dst, usedAgoMs: n.usedAgoMs, updatedAgoMs: n.updatedAgoMs ?? n.usedAgoMs };
      if (n.vni !== undefined) e.vni = n.vni;
      out.push(e);
    }
    return out;
  }

  async apply(ops: KernelOp[]): Promise<OpResult[]> {
    const c = this.nl();
    const results: OpResult[] = ops.map((op) => ({ op }));
    let links: LinkTable | undefined;
    let i = 0;
    while (i < ops.length) {
      const op = ops[i]!;
      if (op.op === 'link-add' || op.op === 'link-set' || op.op === 'link-del') {
        links ??= await linkTable(c);
        try {
          await this.applyLinkOp(c, op, links);
        } catch (err) {
          results[i]!.error = errorMessage(err);
        }
        links = undefined;
        i++;
        continue;
      }
      let j = i;
      while (j < ops.length && !ops[j]!.op.startsWith('link-')) j++;
      links ??= await linkTable(c);
      await this.applyEntries(c, ops, results, i, j, links);
      i = j;
    }
    const failed = results.filter((r) => r.error !== undefined).length;
    if (failed > 0) this.log.warn({ ops: ops.length, failed, first: results.find((r) => r.error)?.error }, 'kernel: some ops failed');
    else this.log.debug({ ops: ops.length }, 'kernel: applied');
    return results;
  }

  private async applyLinkOp(c: NetlinkClient, op: Extract<KernelOp, { op: 'link-add' | 'link-set' | 'link-del' }>, links: LinkTable): Promise<void> {
    if (op.op === 'link-del') {
      await ignoring(c.request(rq.delLinkByName(op.name)), 'ENODEV');
      return;
    }
    const link = op.link;
    const master = link.master === undefined ? undefined : links.byName.get(link.master)?.index;
    if (link.master !== undefined && master === undefined) throw new WeftError('io', `master ${link.master} of ${link.name} does not exist`);
    let index: number;
    if (op.op === 'link-add') {
      await c.request(rq.newLink(link, master));
      if (!link.port) return;
      index = await linkIndex(c, link.name);
    } else {
      const l = links.byName.get(link.name);
      if (!l) throw new WeftError('io', `link ${link.name} does not exist`);
      index = l.index;
      await c.request(rq.setLink(index, link, master ?? 0));
    }
    // Port flags exist only once the link is a port: after IFLA_MASTER above.
    if (link.port && master !== undefined) await c.request(rq.setPortFlags(index, link.port));
  }

  private async applyEntries(c: NetlinkClient, ops: KernelOp[], results: OpResult[], from: number, to: number, links: LinkTable): Promise<void> {
    const msgs: NlRequest[] = [];
    const slots: number[] = [];
    for (let k = from; k < to; k++) {
      const op = ops[k]!;
      try {
        const entry = (op as { entry: FdbEntry | NeighEntry }).entry;
        const l = links.byName.get(entry.dev);
        if (!l) throw new Error(`device ${entry.dev} does not exist`);
        msgs.push(entryRequest(op, l.index));
        slots.push(k);
      } catch (err) {
        results[k]!.error = errorMessage(err);
      }
    }
    const errs = await c.batch(msgs);
    errs.forEach((err, n) => {
      const k = slots[n]!;
      const isDel = ops[k]!.op.endsWith('-del');
      // A delete of something already gone has reached the desired state.
      if (err && !(isDel && errnoCode(err) === 'ENOENT')) results[k]!.error = errorMessage(err);
    });
  }

  async attach(spec: AttachSpec): Promise<Attached> {
    const c = this.nl();
    const links = await linkTable(c);
    const bridge = links.byName.get(spec.bridge);
    if (!bridge) throw new WeftError('io', `bridge ${spec.bridge} does not exist; cannot attach ${spec.hostIfname}`);
    const ns = new NetlinkClient(this.openSocket({ protocol: NETLINK_ROUTE, netns: spec.netns }), this.clientOptions());
    try {
      const existing = links.byName.get(spec.hostIfname);
      if (existing) {
        const inside = (await linkTable(ns)).byName.get(spec.ifname);
        if (existing.kind === 'veth' && inside && inside.link === existing.index && existing.link === inside.index) {
          await c.request(rq.setLink(existing.index, { mtu: spec.mtu, up: true }, bridge.index));
          if (spec.hairpin) await c.request(rq.setPortFlags(existing.index, { hairpin: true, learning: true }));
          return { hostIfname: spec.hostIfname, mac: await this.configureInside(ns, spec), hostMac: existing.mac ?? '' };
        }
        this.log.info({ hostIfname: spec.hostIfname, netns: spec.netns }, 'kernel: replacing a veth whose peer is not in the namespace');
        await ignoring(c.request(rq.delLinkByName(spec.hostIfname)), 'ENODEV');
      }
      if ((await linkTable(ns)).byName.has(spec.ifname)) {
        throw new WeftError('usage', `the container already has an interface named ${spec.ifname} (in ${spec.netns}); give another interface name`);
      }
      const fd = openSync(spec.netns, 'r');
      try {
        // The peer is created directly in the namespace: it never appears in ours.
        await c.request(rq.newVeth(spec, bridge.index, fd));
      } finally {
        closeSync(fd);
      }
      const host = decodeAll(await c.request(rq.getLink(spec.hostIfname)), RTM_NEWLINK, decodeLink)[0];
      if (!host) throw new WeftError('io', `the veth ${spec.hostIfname} vanished right after it was made`);
      if (spec.hairpin) await c.request(rq.setPortFlags(host.index, { hairpin: true, learning: true }));
      return { hostIfname: spec.hostIfname, mac: await this.configureInside(ns, spec), hostMac: host.mac ?? '' };
    } finally {
      ns.close();
    }
  }

  /** Addresses, then up (the routes need a running device), then routes. Returns the interface's MAC. */
  private async configureInside(ns: NetlinkClient, spec: AttachSpec): Promise<string> {
    const links = await linkTable(ns);
    const link = links.byName.get(spec.ifname);
    if (!link) throw new WeftError('io', `${spec.ifname} is missing in ${spec.netns}`);
    const msgs = spec.addresses.map((a) => rq.newAddr(link.index, a));
    msgs.push(rq.setUp(link.index));
    const lo = links.byName.get('lo');
    if (lo) msgs.push(rq.setUp(lo.index));
    for (const r of spec.routes) msgs.push(rq.newLinkRoute(link.index, r));
    if (spec.gateway) msgs.push(rq.newGatewayRoute(link.index, '0.0.0.0/0', spec.gateway));
    const errs = await ns.batch(msgs);
    const err = errs.find((e) => e !== undefined);
    if (err) throw new WeftError('io', `configuring ${spec.ifname} in ${spec.netns}: ${err.message}`, { cause: err });
    return link.mac ?? '';
  }

  async inspect(netns: string, ifname: string): Promise<ContainerInterface | undefined> {
    const ns = new NetlinkClient(this.openSocket({ protocol: NETLINK_ROUTE, netns }), this.clientOptions());
    try {
      const link = (await linkTable(ns)).byName.get(ifname);
      if (!link) return undefined;
      const addresses = decodeAll(await dumpRetrying(ns, rq.dumpAddrs()), RTM_NEWADDR, decodeAddr, this.log)
        .filter((a) => a.family === AF_INET && a.index === link.index)
        .map((a) => `${a.local ?? a.address}/${a.prefixlen}`);
      const routes = decodeAll(await dumpRetrying(ns, rq.dumpRoutes()), RTM_NEWROUTE, decodeRoute, this.log)
        .filter((r) => r.family === AF_INET && r.table === RT_TABLE_MAIN && r.oif === link.index && r.type === RTN_UNICAST)
        .map((r) => (r.gateway === undefined ? { dst: `${r.dst ?? '0.0.0.0'}/${r.dstLen}` } : { dst: `${r.dst ?? '0.0.0.0'}/${r.dstLen}`, gw: r.gateway }));
      const out: ContainerInterface = { mac: link.mac ?? '', mtu: link.mtu ?? 0, addresses, routes };
      if (link.kind === 'veth' && link.link !== undefined) out.peerIndex = link.link;
      return out;
    } finally {
      ns.close();
    }
  }

  async detach(hostIfname: string): Promise<void> {
    await ignoring(this.nl().request(rq.delLinkByName(hostIfname)), 'ENODEV');
  }

  async linkNames(): Promise<string[]> {
    return [...(await linkTable(this.nl())).byName.keys()];
  }

  async ports(bridge: string): Promise<string[]> {
    const links = await linkTable(this.nl());
    const br = links.byName.get(bridge);
    if (!br) return [];
    return [...links.byIndex.values()].filter((l) => l.master === br.index && l.kind === 'veth').map((l) => l.name!);
  }

  async bridgeMacs(bridge: string): Promise<BridgeMac[]> {
    const c = this.nl();
    const links = await linkTable(c);
    const br = links.byName.get(bridge);
    if (!br) return [];
    const out: BridgeMac[] = [];
    for (const n of decodeAll(await dumpRetrying(c, rq.dumpNeigh(AF_BRIDGE)), RTM_NEWNEIGH, decodeNeigh, this.log)) {
      // The bridge's own entries carry NDA_MASTER (iproute2's "master"); NTF_MASTER is only a request flag.
      if (n.master !== br.index || n.flags & NTF_SELF || n.state & NUD_PERMANENT || !n.lladdr) continue;
      const port = links.byIndex.get(n.ifindex);
      if (!port || port.master !== br.index || port.kind === 'vxlan') continue;
      out.push({ mac: n.lladdr, port: port.name! });
    }
    return out;
  }

  async addresses(dev: string): Promise<string[]> {
    const c = this.nl();
    const index = await linkIndex(c, dev).catch((err: unknown) => {
      if (errnoCode(err) === 'ENODEV') return undefined;
      throw err;
    });
    if (index === undefined) return [];
    return decodeAll(await dumpRetrying(c, rq.dumpAddrs()), RTM_NEWADDR, decodeAddr, this.log)
      .filter((a) => a.family === AF_INET && a.index === index)
      .map((a) => `${a.local ?? a.address}/${a.prefixlen}`);
  }

  async addAddress(dev: string, cidr: string): Promise<void> {
    const c = this.nl();
    await ignoring(c.request(rq.newAddr(await linkIndex(c, dev), cidr)), 'EEXIST');
  }

  async delAddress(dev: string, cidr: string): Promise<void> {
    const c = this.nl();
    const index = await linkIndex(c, dev).catch((err: unknown) => {
      if (errnoCode(err) === 'ENODEV') return undefined;
      throw err;
    });
    if (index !== undefined) await ignoring(c.request(rq.delAddr(index, cidr)), 'EADDRNOTAVAIL');
  }

  async routeTo(dst: string): Promise<UnderlayRoute | undefined> {
    const c = this.nl();
    let replies: NlMessage[];
    try {
      replies = await c.request(rq.getRoute(dst));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return undefined;
      throw err;
    }
    const route = decodeAll(replies, RTM_NEWROUTE, decodeRoute, this.log)[0];
    if (route?.oif === undefined) return undefined;
    const link = decodeAll(await c.request(rq.getLinkByIndex(route.oif)), RTM_NEWLINK, decodeLink, this.log)[0];
    if (!link?.name) return undefined;
    const r: UnderlayRoute = { dev: link.name, mtu: Math.min(route.mtu ?? Infinity, link.mtu ?? Infinity) };
    if (route.prefsrc !== undefined) r.src = route.prefsrc;
    return r;
  }

  async steerEsp(spec: EspSteering | undefined): Promise<string[]> {
    const c = this.nl();
    const changes: string[] = [];
    const want = spec ? espRules(spec) : [];
    const have = decodeAll(await dumpRetrying(c, dumpRules()), RTM_NEWRULE, decodeRule, this.log).filter((r) => r.protocol === RTPROT_WEFT);
    const key = (r: Omit<FibRule, 'action'> & { action: string }): string => JSON.stringify([r.priority, r.action, r.table, r.ipProto, r.sport, r.dport, r.to, r.from]);
    const wantKeys = new Set(want.map(key));
    const haveKeys = new Set(have.map(key));
    // The guard first: from the moment a rule exists, the table must never be empty.
    const table = this.steeredTable;
    if (spec) await c.request(rq.replaceTableDefault(spec.table, { blackhole: true, metric: GUARD_METRIC }, RTPROT_WEFT));
    for (const r of want) {
      if (haveKeys.has(key(r))) continue;
      await ignoring(c.request(newRule(r)), 'EEXIST');
      changes.push(`rule add ${describeRule(r)}`);
    }
    for (const r of have) {
      if (wantKeys.has(key(r)) || r.action === 'other') continue;
      await ignoring(c.request(delRule(r as FibRule)), 'ENOENT');
      changes.push(`rule del ${describeRule(r as FibRule)}`);
    }
    if (!spec) {
      // Routes only when there was steering (ours this run, or rules left by an earlier one): in
      // whatever table they are, by weft's protocol mark.
      if (table !== undefined || have.length > 0) {
        for (const r of decodeAll(await dumpRetrying(c, rq.dumpRoutes()), RTM_NEWROUTE, decodeRoute, this.log)) {
          if (r.protocol !== RTPROT_WEFT || r.dstLen !== 0) continue;
          await ignoring(c.request(r.oif !== undefined ? rq.delTableDefault(r.table, { oif: r.oif }, RTPROT_WEFT) : rq.delTableDefault(r.table, { blackhole: true, metric: GUARD_METRIC }, RTPROT_WEFT)), 'ESRCH');
          changes.push(`route del table ${r.table}`);
        }
      }
      this.steeredTable = undefined;
      return changes;
    }
    this.steeredTable = spec.table;
    const tun = decodeAll(await c.request(rq.getLink(spec.tun)).catch((err: unknown) => {
      if (errnoCode(err) === 'ENODEV') return [];
      throw err;
    }), RTM_NEWLINK, decodeLink)[0];
    if (!tun) return changes;
    // No IPv6 on the TUN: the kernel would send router solicitations and MLD into it.
    const noV6 = `/proc/sys/net/ipv6/conf/${spec.tun}/disable_ipv6`;
    try {
      if (readFileSync(noV6, 'utf8').trim() !== '1') {
        writeFileSync(noV6, '1');
        changes.push(`${noV6} = 1`);
      }
    } catch {
      // a kernel without IPv6
    }
    if (!((tun.flags ?? 0) & IFF_UP)) {
      await c.request(rq.setUp(tun.index));
      changes.push(`link set ${spec.tun} up`);
    }
    const routes = decodeAll(await dumpRetrying(c, rq.dumpRoutes()), RTM_NEWROUTE, decodeRoute, this.log);
    if (!routes.some((r) => r.table === spec.table && r.oif === tun.index)) {
      await c.request(rq.replaceTableDefault(spec.table, { oif: tun.index }, RTPROT_WEFT));
      changes.push(`route add default dev ${spec.tun} table ${spec.table}`);
    }
    return changes;
  }

  watch(onChange: () => void): () => void {
    const sock = this.openSocket({ protocol: NETLINK_ROUTE, groups: [RTNLGRP_LINK, RTNLGRP_NEIGH], netns: this.netns });
    this.watchers.add(sock);
    // Any event, or a lost one (ENOBUFS): the caller re-reads everything, so the content does not matter.
    sock.receive(() => onChange(), (err) => {
      this.log.debug({ code: err.code }, 'kernel: event socket error, asking for a re-read');
      onChange();
    });
    return () => {
      if (this.watchers.delete(sock)) sock.close();
    };
  }

  close(): void {
    this.closed = true;
    this.client?.close();
    this.client = undefined;
    for (const s of this.watchers) s.close();
    this.watchers.clear();
  }

  private nl(): NetlinkClient {
    if (this.closed) throw new WeftError('closed', 'kernel is closed');
    this.client ??= new NetlinkClient(this.openSocket({ protocol: NETLINK_ROUTE, netns: this.netns }), this.clientOptions());
    return this.client;
  }

  private clientOptions(): ConstructorParameters<typeof NetlinkClient>[1] {
    return { log: this.log, ...(this.clock ? { clock: this.clock } : {}), ...(this.timeoutMs ? { timeoutMs: this.timeoutMs } : {}) };
  }

  /** Bridge-port flags by link index, from the AF_BRIDGE link dump (which lists only bridge ports). */
  private async portFlags(c: NetlinkClient): Promise<Map<number, { hairpin: boolean; learning: boolean }>> {
    const out = new Map<number, { hairpin: boolean; learning: boolean }>();
    for (const l of decodeAll(await dumpRetrying(c, rq.dumpLinks(AF_BRIDGE)), RTM_NEWLINK, decodeLink, this.log)) {
      if (l.port) out.set(l.index, { hairpin: l.port.hairpin ?? false, learning: l.port.learning ?? true });
    }
    return out;
  }
}

function entryRequest(op: KernelOp, index: number): NlRequest {
  switch (op.op) {
    case 'fdb-add': return rq.newFdb(index, op.entry);
    case 'fdb-del': return rq.delFdb(index, op.entry);
    case 'neigh-add': return rq.newNeigh(index, op.entry);
    case 'neigh-del': return rq.delNeigh(index, op.entry.ip);
    default: throw new Error(`not an entry op: ${op.op}`);
  }
}

function toLink(l: LinkMessage, links: LinkTable, port: { hairpin: boolean; learning: boolean } | undefined): Link {
  // A link of another kind under one of weft's names reads back with that kind, so the
  // reconciler sees the difference and re-creates it.
  const link: Link = { name: l.name!, index: l.index, kind: (l.kind ?? 'unknown') as LinkKind, mtu: l.mtu ?? 0, mac: l.mac ?? '', up: (l.flags & IFF_UP) !== 0 };
  const master = l.master === undefined ? undefined : links.byIndex.get(l.master)?.name;
  if (master !== undefined) link.master = master;
  if (l.kind === 'vxlan' && l.vxlan) {
    link.vxlan = { vni: l.vxlan.vni ?? 0, port: l.vxlan.port ?? 0, learning: l.vxlan.learning ?? false, proxy: l.vxlan.proxy ?? false };
  }
  if (port) link.port = port;
  return link;
}

async function linkTable(c: NetlinkClient): Promise<LinkTable> {
  const byIndex = new Map<number, LinkMessage>();
  const byName = new Map<string, LinkMessage>();
  for (const l of decodeAll(await dumpRetrying(c, rq.dumpLinks()), RTM_NEWLINK, decodeLink)) {
    if (l.name === undefined) continue;
    byIndex.set(l.index, l);
    byName.set(l.name, l);
  }
  return { byIndex, byName };
}

async function linkIndex(c: NetlinkClient, name: string): Promise<number> {
  const l = decodeAll(await c.request(rq.getLink(name)), RTM_NEWLINK, decodeLink)[0];
  if (!l) throw new WeftError('io', `no RTM_NEWLINK reply for ${name}`);
  return l.index;
}

/** A dump interrupted by a concurrent change (EINTR) is retried from the start. */
async function dumpRetrying(c: NetlinkClient, req: NlRequest): Promise<NlMessage[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await c.dump(req);
    } catch (err) {
      if (errnoCode(err) !== 'EINTR' || attempt >= DUMP_ATTEMPTS) throw err;
    }
  }
}

function decodeAll<T>(msgs: NlMessage[], type: number, decode: (p: Buffer) => Result<T>, log?: Logger): T[] {
  const out: T[] = [];
  for (const m of msgs) {
    if (m.type !== type) continue;
    const d = decode(m.payload);
    if (d.ok) out.push(d.value);
    else log?.warn({ reason: d.reason }, 'kernel: skipped a malformed netlink message');
  }
  return out;
}

async function ignoring(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (errnoCode(err) !== code) throw err;
  }
}


