// How an attachment is named and recognised (router/endpoints.ts owns the attachments): its key,
// IPAM's key for it, its host veth (a hash of that key) and MAC (its address), and how a stored
// entry or a veth found in the kernel becomes an attachment again after a crash.
import { createHash } from 'node:crypto';
import { covers, parseCidr, parseNetwork } from '../lib/ip.js';
import { formatMac, parseIpv4 } from './addresses.js';
import type { AttachedEndpoint } from './endpoint-store.js';

/** The interface name inside the container when the caller gives none. */
export const DEFAULT_IFNAME = 'eth0';
/** The host end of a veth weft made. */
export const WEFT_VETH = /^vethwe[0-9a-f]{8}$/;

/** What an attachment is keyed by: the container (CLI: its namespace path; CNI: the container ID) and the interface in it. */
export interface EndpointKey {
  id: string;
  ifname: string;
}

export function keyString(k: EndpointKey): string {
  return `${k.id}\0${k.ifname}`;
}

/** IPAM's key for an attachment: the container id for eth0 (as before keys had an ifname), id#ifname otherwise. */
export function ipamKey(k: EndpointKey): string {
  return k.ifname === DEFAULT_IFNAME ? k.id : `${k.id}#${k.ifname}`;
}

/** The host end of the veth: a hash of IPAM's key, so a veth found without its store entry maps back to its allocation. */
export function hostIfnameFor(ipamKeyText: string): string {
  return `vethwe${createHash('sha256').update(ipamKeyText).digest('hex').slice(0, 8)}`;
}

/** 0a:58:a.b.c.d — locally administered, unicast, derived from the container's first IPv4 address. */
export function macForIp(ip: string): string {
  return formatMac(Buffer.concat([Buffer.from([0x0a, 0x58]), parseIpv4(ip)!]));
}

/** The address a 0a:58 MAC was derived from, if it was. */
export function ipForMac(mac: string): string | undefined {
  const m = /^0a:58:([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/.exec(mac);
  return m ? m.slice(1).map((h) => parseInt(h, 16)).join('.') : undefined;
}

export function ipOf(cidr: string): string {
  return cidr.split('/')[0]!;
}

export function prefixOf(cidr: string): string {
  return cidr.split('/')[1]!;
}

/** A route to the overlay range when the given prefixes do not already cover it. */
export function routesFor(cidrs: string[], range: string): string[] {
  const r = parseNetwork(range);
  if (!r.ok) return [range];
  const covered = cidrs.some((c) => {
    const p = parseCidr(c);
    return p.ok && covers(p.value, r.value);
  });
  return covered ? [] : [range];
}

/** The namespace path a CLI argument names (for matching; it need not exist any more). */
export function resolvedPath(container: string): string | undefined {
  if (/^\d+$/.test(container)) return `/proc/${container}/ns/net`;
  if (container.startsWith('/')) return container;
  if (/^[A-Za-z0-9_.-]{1,64}$/.test(container)) return `/run/netns/${container}`;
  return undefined;
}

/** A stored entry, with the fields older versions did not write filled in; undefined if it is not one. */
export function normalise(raw: unknown): AttachedEndpoint | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Partial<AttachedEndpoint>;
  if (typeof r.netns !== 'string' || typeof r.hostIfname !== 'string' || typeof r.mac !== 'string' || !Array.isArray(r.cidrs) || !r.cidrs.every((c) => typeof c === 'string')) return undefined;
  const ep: AttachedEndpoint = {
    id: typeof r.id === 'string' ? r.id : r.netns,
    ifname: typeof r.ifname === 'string' ? r.ifname : DEFAULT_IFNAME,
    container: typeof r.container === 'string' ? r.container : r.netns,
    netns: r.netns,
    hostIfname: r.hostIfname,
    mac: r.mac,
    cidrs: r.cidrs,
  };
  if (r.state === 'attaching') ep.state = 'attaching';
  if (r.origin === 'cni') ep.origin = 'cni';
  if (typeof r.names === 'object' && r.names !== null) {
    const names: NonNullable<AttachedEndpoint['names']> = {};
    if (typeof r.names.namespace === 'string') names.namespace = r.names.namespace;
    if (typeof r.names.pod === 'string') names.pod = r.names.pod;
    ep.names = names;
  }
  if (typeof r.gateway === 'string') ep.gateway = r.gateway;
  if (r.hairpin === true) ep.hairpin = true;
  if (typeof r.hostMac === 'string' && r.hostMac !== '') ep.hostMac = r.hostMac;
  return ep;
}

export function adoptFromAllocation(alloc: { container: string; ip: string }, port: string, range: string): AttachedEndpoint {
  const [id, ifname] = alloc.container.includes('#') ? alloc.container.split('#') as [string, string] : [alloc.container, DEFAULT_IFNAME];
  const ep: AttachedEndpoint = { id, ifname, container: id, netns: id.startsWith('/') ? id : '', hostIfname: port, mac: macForIp(alloc.ip), cidrs: [`${alloc.ip}/${prefixOf(range)}`] };
  // `weft attach` keys by namespace path; anything else is a runtime's container ID.
  if (!id.startsWith('/')) ep.origin = 'cni';
  return ep;
}

export function adoptUnknown(port: string, mac: string | undefined, range: string): AttachedEndpoint {
  const ip = mac ? ipForMac(mac) : undefined;
  return { id: `veth:${port}`, ifname: DEFAULT_IFNAME, container: port, netns: '', hostIfname: port, mac: mac ?? '', cidrs: ip ? [`${ip}/${prefixOf(range)}`] : [] };
}
