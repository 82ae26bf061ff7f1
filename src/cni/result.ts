// CNI results from what the router made (a CniAttachment), in the caller's version:
//   1.0.0, 1.1.0  interfaces [host veth, container if (sandbox)], ips {address, gateway, interface}, routes, dns
//   0.3.1, 0.4.0  the same, each ip with "version": "4" | "6"
//   1.1.0 only    the container interface's "mtu" (the spec added mtu, socketPath and pciID in 1.1.0)
// and the comparison CHECK makes between a prevResult and the attachment.
import type { CniAttachment } from '../api/protocol.js';
import { CniCode, CniError } from './errors.js';
import { atLeast, type CniVersion } from './version.js';

export interface ResultInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
}
export interface ResultIp {
  version?: '4' | '6';
  address: string;
  gateway?: string;
  interface?: number;
}
export interface ResultRoute {
  dst: string;
  gw?: string;
}
export interface CniResult {
  cniVersion: CniVersion;
  interfaces: ResultInterface[];
  ips: ResultIp[];
  routes: ResultRoute[];
  dns: Record<string, unknown>;
}

const ipVersion = (cidr: string): '4' | '6' => (cidr.includes(':') ? '6' : '4');
const sameFamily = (a: string, b: string): boolean => ipVersion(a) === ipVersion(b);

/** The attachment as a result of version v; interface indexes start at `base` (a prevResult's interfaces come first). */
export function toResult(a: CniAttachment, v: CniVersion, base = 0): CniResult {
  const container: ResultInterface = { name: a.ifname, mac: a.mac, sandbox: a.netns };
  if (atLeast(v, '1.1.0') && a.mtu > 0) container.mtu = a.mtu;
  const ips = a.cidrs.map((cidr) => {
    // Key order as the spec's examples write them: version (before 1.0.0), address, gateway, interface.
    const ip: ResultIp = atLeast(v, '1.0.0') ? { address: cidr } : { version: ipVersion(cidr), address: cidr };
    if (a.gateway !== undefined && sameFamily(cidr, a.gateway)) ip.gateway = a.gateway;
    ip.interface = base + 1;
    return ip;
  });
  const routes = a.routes.map((r) => (r.gw === undefined ? { dst: r.dst } : { dst: r.dst, gw: r.gw }));
  return { cniVersion: v, interfaces: [{ name: a.hostIfname, mac: a.hostMac }, container], ips, routes, dns: {} };
}

type Obj = Record<string, unknown>;
const list = (o: Obj, k: string): unknown[] => (Array.isArray(o[k]) ? (o[k] as unknown[]) : []);

/**
 * ADD with a prevResult (weft is not first in the chain): the spec has the plugin return the
 * previous result with its own additions, so weft's interfaces, addresses and routes are appended
 * and its interface indexes shifted past the earlier ones. DNS settings earlier plugins made stay.
 */
export function mergeResult(prev: Obj, a: CniAttachment, v: CniVersion): CniResult {
  const prevIfs = list(prev, 'interfaces') as ResultInterface[];
  const mine = toResult(a, v, prevIfs.length);
  const prevIps = (list(prev, 'ips') as ResultIp[]).map((ip) => {
    if (atLeast(v, '1.0.0')) {
      const { version: _drop, ...rest } = ip;
      return rest;
    }
    return ip.version ? ip : { version: ipVersion(ip.address ?? ''), ...ip };
  });
  const dns = typeof prev.dns === 'object' && prev.dns !== null ? (prev.dns as Record<string, unknown>) : {};
  return {
    cniVersion: v,
    interfaces: [...prevIfs, ...mine.interfaces],
    ips: [...prevIps, ...mine.ips],
    routes: [...(list(prev, 'routes') as ResultRoute[]), ...mine.routes],
    dns,
  };
}

/**
 * CHECK: what a prevResult says weft made, against what the router has now. Returns the
 * differences (empty: they agree). Only weft's own entries are compared: the container interface
 * named CNI_IFNAME in this sandbox, its addresses, and weft's routes.
 */
export function diffPrevResult(prev: Obj, a: CniAttachment): string[] {
  const diffs: string[] = [];
  const ifs = list(prev, 'interfaces') as ResultInterface[];
  const idx = ifs.findIndex((i) => i && i.name === a.ifname && (i.sandbox === undefined || i.sandbox === a.netns));
  if (idx < 0) {
    diffs.push(`the previous result lists no interface ${a.ifname} in ${a.netns}`);
  } else {
    const mac = ifs[idx]!.mac;
    if (mac !== undefined && mac.toLowerCase() !== a.mac.toLowerCase()) diffs.push(`${a.ifname} has MAC ${a.mac}, the previous result says ${mac}`);
  }
  const ips = (list(prev, 'ips') as ResultIp[]).filter((ip) => ip && (ip.interface === undefined || ip.interface === idx));
  const prevAddrs = new Set(ips.map((ip) => ip.address));
  for (const c of a.cidrs) if (!prevAddrs.has(c)) diffs.push(`${a.ifname} has ${c}, which the previous result does not list`);
  const have = new Set(a.cidrs);
  for (const c of prevAddrs) if (!have.has(c)) diffs.push(`the previous result lists ${c}, which ${a.ifname} no longer has`);
  const prevRoutes = new Set((list(prev, 'routes') as ResultRoute[]).map((r) => `${r?.dst} via ${r?.gw ?? '-'}`));
  for (const r of a.routes) {
    const k = `${r.dst} via ${r.gw ?? '-'}`;
    if (!prevRoutes.has(k)) diffs.push(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is in the container but not in the previous result`);
  }
  return diffs;
}

export function requirePrevResult(prev: Obj | undefined): asserts prev is Obj {
  if (prev === undefined) {
    throw new CniError(CniCode.InvalidConfig, 'CHECK needs the previous result (prevResult) of the ADD it checks; the runtime passes it', 'prevResult');
  }
}

export function checkAgainstPrev(prev: Obj | undefined, a: CniAttachment): void {
  requirePrevResult(prev);
  const diffs = diffPrevResult(prev, a);
  if (diffs.length > 0) {
    throw new CniError(CniCode.CheckMismatch, `the attachment of ${a.id}/${a.ifname} differs from its ADD result: ${diffs.join('; ')} — delete and add the container's network again`, diffs.join('\n'));
  }
}
