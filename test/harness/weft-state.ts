// What a host's containers look like from the three places that must agree: the router's view
// (`weft ps --json`), IPAM's (`weft status ipam --json`, and the allocations it persisted), and the
// kernel's (veths on bridge `weft` in the host namespace, eth0 inside each container namespace).
// End-to-end tests compare them after races and crashes; nothing here changes any state.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Host } from './netns.js';
import type { WeftHost } from './weft.js';
import type { EndpointStatus } from '../../router/status.js';
import type { IpamStatusJson } from '../../ipam/status.js';

export const WEFT_BRIDGE = 'weft';

/** The namespace path weft keys a container by when it was attached by name. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** The host-side veth name weft gives a container (router/dataplane.ts hostIfnameFor). */
export function vethFor(netns: string): string {
  return `vethwe${createHash('sha256').update(netns).digest('hex').slice(0, 8)}`;
}

interface IpLink {
  ifname: string;
  address?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Names of the ports of bridge `weft` in the host namespace ([] if there is no bridge). */
export async function bridgePorts(host: Host): Promise<string[]> {
  const r = await host.exec('ip', ['-j', 'link', 'show', 'master', WEFT_BRIDGE]);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) return [];
    throw new Error(`${host.name}: ip link show master ${WEFT_BRIDGE} failed: ${r.stderr.trim()}`);
  }
  return (JSON.parse(r.stdout || '[]') as IpLink[]).map((l) => l.ifname);
}

/** Names of every link in the namespace. */
export async function linkNames(host: Host): Promise<string[]> {
  const r = await host.exec('ip', ['-j', 'link', 'show']);
  if (r.code !== 0) throw new Error(`${host.name}: ip link show failed: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout || '[]') as IpLink[]).map((l) => l.ifname);
}

/** A container's eth0 as the kernel sees it: its MAC and IPv4 addresses; mac null without eth0. */
export async function containerEth0(ns: Host): Promise<{ mac: string | null; ips: string[] }> {
  const r = await ns.exec('ip', ['-j', 'addr', 'show', 'dev', 'eth0']);
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) return { mac: null, ips: [] };
    throw new Error(`${ns.name}: ip addr show dev eth0 failed: ${r.stderr.trim()}`);
  }
  const link = (JSON.parse(r.stdout || '[]') as IpLink[])[0];
  if (!link) return { mac: null, ips: [] };
  return { mac: link.address ?? null, ips: (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`) };
}

/** `weft ps --json`: this host's attached containers. */
export function ps(w: WeftHost): Promise<EndpointStatus[]> {
  return w.json<EndpointStatus[]>(['ps']);
}

function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** IPAM's allocations on this host, container (namespace path) → address (see weftViews). */
export async function ipamAllocations(w: WeftHost): Promise<Map<string, string>> {
  return (await weftViews(w)).allocs;
}

/** The first address of a CIDR list entry ("10.44.0.3/28" → "10.44.0.3"). */
export function ipOf(cidr: string): string {
  return cidr.split('/')[0]!;
}

/**
 * `weft ps --json` and IPAM's allocations (container namespace path → address), read through one
 * CLI process. `weft status ipam --json` lists the allocations if its `allocations` is a list; if
 * it is only a count, the list comes from what IPAM persisted in <data-dir>/ipam.json (saved
 * before an address is returned and when a release completes), and the count must match it.
 */
export async function weftViews(w: WeftHost): Promise<{ eps: EndpointStatus[]; allocs: Map<string, string> }> {
  const [p, s] = await w.weftConcurrently([['ps', '--json'], ['status', 'ipam', '--json']]);
  if (p!.code !== 0 || s!.code !== 0) throw new Error(`weft ps / status ipam on ${w.host.name} failed: ${p!.stderr}${s!.stderr}`);
  const eps = JSON.parse(p!.stdout) as EndpointStatus[];
  const listed = (JSON.parse(s!.stdout) as IpamStatusJson).allocations as unknown;
  if (Array.isArray(listed)) return { eps, allocs: new Map((listed as { container: string; ip: string }[]).map((a) => [a.container, ipOf(a.ip)])) };
  const file = JSON.parse(await readFile(join(w.dataDir, 'ipam.json'), 'utf8')) as { allocations: [string, number][] };
  const allocs = new Map(file.allocations.map(([c, ip]) => [c, formatIp(ip)]));
  if (allocs.size !== listed) throw new Error(`status ipam counts ${String(listed)} allocations but ${w.dataDir}/ipam.json holds ${allocs.size}`);
  return { eps, allocs };
}
