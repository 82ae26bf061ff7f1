// The desired data-plane state and the identities the reconciler diffs by. An entry's identity is
// what the kernel keys it by: a MAC entry is one per (dev, mac) and is replaced in place; the
// all-zero MAC (head-end replication) holds one entry per (dev, dst, VNI) — the same peer may be
// flooded to on the device VNI and on a relay VNI — so a change of VNI is an add and a delete.
import type { FdbEntry, Link, LinkSpec, NeighEntry } from './kernel.js';

export interface DesiredState {
  links: LinkSpec[];
  fdb: FdbEntry[];
  neigh: NeighEntry[];
}

export const ZERO_MAC = '00:00:00:00:00:00';

export function isZeroMac(mac: string): boolean {
  return mac === ZERO_MAC;
}

export function fdbKey(e: FdbEntry): string {
  return isZeroMac(e.mac) ? `${e.dev} ${e.mac} ${e.dst} ${e.vni ?? ''}` : `${e.dev} ${e.mac}`;
}

export function neighKey(e: NeighEntry): string {
  return `${e.dev} ${e.ip}`;
}

/** Total order used to make batches deterministic. */
export function compareFdb(a: FdbEntry, b: FdbEntry): number {
  return cmp(a.dev, b.dev) || cmp(a.mac, b.mac) || cmp(a.dst, b.dst) || (a.vni ?? -1) - (b.vni ?? -1);
}

export function compareNeigh(a: NeighEntry, b: NeighEntry): number {
  return cmp(a.dev, b.dev) || cmp(a.ip, b.ip) || cmp(a.mac, b.mac);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * An entry's VNI as the kernel reports it: a VNI equal to the device's own is not reported, so
 * both sides of the diff drop it.
 */
export function normalVni(vni: number | undefined, deviceVni: number | undefined): number | undefined {
  return vni === deviceVni ? undefined : vni;
}

/** Why an existing link cannot be changed into `want` in place, or undefined if it can. */
export function recreateReason(want: LinkSpec, have: Link): string | undefined {
  if (want.kind !== have.kind) return `kind ${have.kind} -> ${want.kind}`;
  if (want.mac !== undefined && want.mac.toLowerCase() !== have.mac) return `mac ${have.mac} -> ${want.mac}`;
  const w = want.vxlan;
  const h = have.vxlan;
  if (w === undefined || h === undefined) return undefined;
  if (w.vni !== h.vni) return `vni ${h.vni} -> ${w.vni}`;
  if (w.port !== h.port) return `port ${h.port} -> ${w.port}`;
  if (w.learning !== h.learning) return `learning ${h.learning} -> ${w.learning}`;
  if (w.proxy !== h.proxy) return `proxy ${h.proxy} -> ${w.proxy}`;
  return undefined;
}

/** What a link-set would change (mtu, master, up, port flags), or [] when nothing. */
export function inPlaceChanges(want: LinkSpec, have: Pick<Link, 'mtu' | 'master' | 'up' | 'port'>): string[] {
  const changes: string[] = [];
  if (want.mtu !== have.mtu) changes.push(`mtu ${have.mtu} -> ${want.mtu}`);
  if (want.master !== have.master) changes.push(`master ${have.master ?? 'none'} -> ${want.master ?? 'none'}`);
  if (want.up !== have.up) changes.push(want.up ? 'up' : 'down');
  if (want.port !== undefined) {
    if (want.port.hairpin !== have.port?.hairpin || want.port.learning !== have.port?.learning) changes.push('port flags');
  }
  return changes;
}
