// The desired kernel state, computed from scratch from the peer records and the chosen paths
// (a pure function; the reconciler makes the kernel match it).
//
//   bridge `weft` ── vxlan-weft (VNI vni, learning off, proxy: ARP answered from the neighbours)
//                └─ container veths (attached by `weft attach`, not managed here)
//   per remote endpoint: FDB mac → the owner's address (direct) or the relay's address with the
//   destination's relay VNI (relay); a neighbour entry ip → mac on vxlan-weft.
//   per remote peer: one all-zero FDB entry (head-end replication of broadcast and multicast).
//   per destination we relay for: bridge wb-<name> with one port wx-<name> (VNI relayVni(dest),
//   hairpin), whose only FDB entry sends everything to dest with the data VNI. Frames arriving
//   for the relay VNI are turned around by the kernel, never reach our own bridge, and are sent
//   only to dest: no broadcast loops.
import type { PeerName } from '../mesh/peer-name.js';
import { ZERO_MAC, type DesiredState } from './desired.js';
import type { FdbEntry, LinkSpec, NeighEntry } from './kernel.js';
import type { Path } from './paths.js';
import type { PeerRecord } from './peer-record.js';

export const BRIDGE = 'weft';
export const VXLAN_DEV = 'vxlan-weft';

export interface ForwardingInputs {
  self: PeerName;
  vni: number;
  port: number;
  mtu: number;
  bridgeMac: string;
  records: Iterable<PeerRecord>;
  paths: ReadonlyMap<PeerName, Path>;
  /** Destinations we relay for, with the address we reach each at. */
  serving: ReadonlyMap<PeerName, string>;
  /** Whether a peer is in the mesh now; records of absent peers lose MAC/IP clashes. Default: all present. */
  present?: (name: PeerName) => boolean;
}

/** Relay VNIs have the top bit set, so they never clash with a data VNI below 2^23. */
export function relayVni(dest: PeerName): number {
  return 0x800000 | Number(dest & 0x7fffffn);
}

const hex = (n: PeerName): string => n.toString(16).padStart(12, '0');
export const relayBridgeName = (dest: PeerName): string => `wb-${hex(dest)}`;
export const relayVxlanName = (dest: PeerName): string => `wx-${hex(dest)}`;

/** Link names weft owns, including relay devices left by an earlier run. */
export function ownsLink(name: string): boolean {
  return name === BRIDGE || name === VXLAN_DEV || /^w[bx]-[0-9a-f]{12}$/.test(name);
}

export function computeDesired(i: ForwardingInputs): DesiredState {
  const links: LinkSpec[] = [
    { name: BRIDGE, kind: 'bridge', mtu: i.mtu, mac: i.bridgeMac, up: true },
    {
      name: VXLAN_DEV,
      kind: 'vxlan',
      mtu: i.mtu,
      master: BRIDGE,
      up: true,
      vxlan: { vni: i.vni, port: i.port, learning: false, proxy: true },
      port: { hairpin: false, learning: false },
    },
  ];
  const fdb: FdbEntry[] = [];
  const neigh: NeighEntry[] = [];
  const macs = new Set<string>();
  const ips = new Set<string>();
  const present = i.present ?? (() => true);
  const rank = (r: PeerRecord): number => (present(r.name) ? 0 : 1);
  const records = [...i.records].filter((r) => r.name !== i.self && !r.gone).sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : 1));
  for (const r of records) {
    const p = i.paths.get(r.name);
    if (!p || p.kind === 'none') continue;
    const vni = p.kind === 'relay' ? relayVni(r.name) : undefined;
    fdb.push({ dev: VXLAN_DEV, mac: ZERO_MAC, dst: p.address, vni });
    for (const e of r.endpoints) {
      // A MAC or IP claimed twice (a container moved and the old owner has not caught up, or
      // IPAM reused the address of a gone peer's container): a peer in the mesh beats one that
      // is gone, then the lowest peer name wins until the records agree.
      if (macs.has(e.mac)) continue;
      macs.add(e.mac);
      fdb.push({ dev: VXLAN_DEV, mac: e.mac, dst: p.address, vni });
      for (const ip of e.ips) {
        if (ips.has(ip)) continue;
        ips.add(ip);
        neigh.push({ dev: VXLAN_DEV, ip, mac: e.mac });
      }
    }
  }
  for (const [dest, address] of [...i.serving].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const br = relayBridgeName(dest);
    const vx = relayVxlanName(dest);
    links.push({ name: br, kind: 'bridge', mtu: i.mtu, up: true });
    links.push({
      name: vx,
      kind: 'vxlan',
      mtu: i.mtu,
      master: br,
      up: true,
      vxlan: { vni: relayVni(dest), port: i.port, learning: false, proxy: false },
      port: { hairpin: true, learning: false },
    });
    fdb.push({ dev: vx, mac: ZERO_MAC, dst: address, vni: i.vni });
  }
  return { links, fdb, neigh };
}
