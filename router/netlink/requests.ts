// The rtnetlink requests weft sends, as NlRequests (the client adds REQUEST/ACK and the sequence
// number). Each builder is pure, so its bytes are tested without a kernel.
import { be16, bytes, nested, str, u32, u8, type Attr } from './attrs.js';
import { ipv4Bytes, macBytes, parseCidr } from './address-text.js';
import type { NlRequest } from './codec.js';
import {
  AF_BRIDGE, AF_INET, AF_UNSPEC, IFA_ADDRESS, IFA_LOCAL, IFF_UP, IFLA_ADDRESS, IFLA_BRPORT_LEARNING, IFLA_BRPORT_MODE,
  IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINKINFO, IFLA_MASTER, IFLA_MTU, IFLA_NET_NS_FD, IFLA_PROTINFO,
  IFLA_VXLAN_ID, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PORT, IFLA_VXLAN_PROXY, NDA_DST, NDA_LLADDR, NDA_VNI, NLM_F_APPEND,
  NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NTF_SELF, NUD_PERMANENT, RTA_DST, RTA_GATEWAY, RTA_OIF, RTM_DELADDR,
  RTM_DELLINK, RTM_DELNEIGH, RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK,
  RTM_NEWNEIGH, RTM_NEWROUTE, RTM_SETLINK, RTN_UNICAST, RTN_BLACKHOLE, RTA_PRIORITY, RTA_TABLE, RTM_DELROUTE, RTPROT_BOOT, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN,
  VETH_INFO_PEER,
} from './constants.js';
import { ifaddrmsg, ifinfomsg, ndmsg, rtmsg } from './messages.js';
import type { FdbEntry, LinkSpec, NeighEntry } from '../kernel.js';

const ZERO_MAC = '00:00:00:00:00:00';

export const dumpLinks = (family = AF_UNSPEC): NlRequest => ({ type: RTM_GETLINK, flags: NLM_F_DUMP, payload: ifinfomsg({ family, index: 0 }) });
export const dumpNeigh = (family: number): NlRequest => ({ type: RTM_GETNEIGH, flags: NLM_F_DUMP, payload: ndmsg({ family, ifindex: 0, state: 0, flags: 0 }) });
export const dumpAddrs = (): NlRequest => ({ type: RTM_GETADDR, flags: NLM_F_DUMP, payload: ifaddrmsg({ family: AF_INET, prefixlen: 0, scope: 0, index: 0 }) });

/** RTM_GETLINK for one link by name; the reply is its RTM_NEWLINK. */
export const getLink = (name: string): NlRequest => ({ type: RTM_GETLINK, flags: 0, payload: ifinfomsg({ family: AF_UNSPEC, index: 0 }, [str(IFLA_IFNAME, name)]) });

/** Creates a bridge or VXLAN device (no LOCAL/GROUP: remotes come from the FDB). */
export function newLink(link: LinkSpec, masterIndex: number | undefined): NlRequest {
  const info: Attr[] = [str(IFLA_INFO_KIND, link.kind)];
  if (link.kind === 'vxlan') {
    if (!link.vxlan) throw new Error(`vxlan link ${link.name} has no vxlan settings`);
    const v = link.vxlan;
    info.push(nested(IFLA_INFO_DATA, [
      u32(IFLA_VXLAN_ID, v.vni), be16(IFLA_VXLAN_PORT, v.port), u8(IFLA_VXLAN_LEARNING, v.learning ? 1 : 0), u8(IFLA_VXLAN_PROXY, v.proxy ? 1 : 0),
    ]));
  }
  const attrs: Attr[] = [str(IFLA_IFNAME, link.name), u32(IFLA_MTU, link.mtu)];
  if (link.mac) attrs.push(bytes(IFLA_ADDRESS, macBytes(link.mac)));
  if (masterIndex !== undefined) attrs.push(u32(IFLA_MASTER, masterIndex));
  attrs.push(nested(IFLA_LINKINFO, info));
  return {
    type: RTM_NEWLINK, flags: NLM_F_CREATE | NLM_F_EXCL,
    payload: ifinfomsg({ family: AF_UNSPEC, index: 0, flags: link.up ? IFF_UP : 0, change: IFF_UP }, attrs),
  };
}

/** Changes mtu, master (0 = none) and up on an existing link. */
export function setLink(index: number, link: Pick<LinkSpec, 'mtu' | 'up'>, masterIndex: number): NlRequest {
  return {
    type: RTM_NEWLINK, flags: 0,
    payload: ifinfomsg({ family: AF_UNSPEC, index, flags: link.up ? IFF_UP : 0, change: IFF_UP }, [u32(IFLA_MTU, link.mtu), u32(IFLA_MASTER, masterIndex)]),
  };
}

export const setUp = (index: number): NlRequest => ({ type: RTM_NEWLINK, flags: 0, payload: ifinfomsg({ family: AF_UNSPEC, index, flags: IFF_UP, change: IFF_UP }) });

/** Bridge-port flags: AF_BRIDGE RTM_SETLINK with a nested IFLA_PROTINFO. */
export function setPortFlags(index: number, port: { hairpin: boolean; learning: boolean }): NlRequest {
  return {
    type: RTM_SETLINK, flags: 0,
    payload: ifinfomsg({ family: AF_BRIDGE, index }, [nested(IFLA_PROTINFO, [u8(IFLA_BRPORT_MODE, port.hairpin ? 1 : 0), u8(IFLA_BRPORT_LEARNING, port.learning ? 1 : 0)])]),
  };
}

export const delLinkByName = (name: string): NlRequest => ({ type: RTM_DELLINK, flags: 0, payload: ifinfomsg({ family: AF_UNSPEC, index: 0 }, [str(IFLA_IFNAME, name)]) });

/** A veth pair whose peer is created directly in the namespace open as netnsFd. */
export function newVeth(spec: { hostIfname: string; ifname: string; mtu: number; mac?: string }, masterIndex: number, netnsFd: number): NlRequest {
  const peerAttrs = [str(IFLA_IFNAME, spec.ifname), u32(IFLA_MTU, spec.mtu), u32(IFLA_NET_NS_FD, netnsFd)];
  if (spec.mac) peerAttrs.push(bytes(IFLA_ADDRESS, macBytes(spec.mac)));
  const peer = ifinfomsg({ family: AF_UNSPEC, index: 0 }, peerAttrs);
  return {
    type: RTM_NEWLINK, flags: NLM_F_CREATE | NLM_F_EXCL,
    payload: ifinfomsg({ family: AF_UNSPEC, index: 0, flags: IFF_UP, change: IFF_UP }, [
      str(IFLA_IFNAME, spec.hostIfname), u32(IFLA_MTU, spec.mtu), u32(IFLA_MASTER, masterIndex),
      nested(IFLA_LINKINFO, [str(IFLA_INFO_KIND, 'veth'), nested(IFLA_INFO_DATA, [bytes(VETH_INFO_PEER, peer)])]),
    ]),
  };
}

function fdbAttrs(e: FdbEntry): Attr[] {
  const attrs = [bytes(NDA_LLADDR, macBytes(e.mac)), bytes(NDA_DST, ipv4Bytes(e.dst))];
  if (e.vni !== undefined) attrs.push(u32(NDA_VNI, e.vni));
  return attrs;
}

/** A `self permanent` VXLAN FDB entry; the all-zero MAC appends to the head-end list instead of replacing it. */
export function newFdb(ifindex: number, e: FdbEntry): NlRequest {
  return {
    type: RTM_NEWNEIGH, flags: NLM_F_CREATE | (e.mac === ZERO_MAC ? NLM_F_APPEND : NLM_F_REPLACE),
    payload: ndmsg({ family: AF_BRIDGE, ifindex, state: NUD_PERMANENT, flags: NTF_SELF }, fdbAttrs(e)),
  };
}

export function delFdb(ifindex: number, e: FdbEntry): NlRequest {
  return { type: RTM_DELNEIGH, flags: 0, payload: ndmsg({ family: AF_BRIDGE, ifindex, state: NUD_PERMANENT, flags: NTF_SELF }, fdbAttrs(e)) };
}

export function newNeigh(ifindex: number, e: NeighEntry): NlRequest {
  return {
    type: RTM_NEWNEIGH, flags: NLM_F_CREATE | NLM_F_REPLACE,
    payload: ndmsg({ family: AF_INET, ifindex, state: NUD_PERMANENT, flags: 0 }, [bytes(NDA_DST, ipv4Bytes(e.ip)), bytes(NDA_LLADDR, macBytes(e.mac))]),
  };
}

export function delNeigh(ifindex: number, ip: string): NlRequest {
  return { type: RTM_DELNEIGH, flags: 0, payload: ndmsg({ family: AF_INET, ifindex, state: 0, flags: 0 }, [bytes(NDA_DST, ipv4Bytes(ip))]) };
}

function addrPayload(index: number, cidr: string): Buffer {
  const { ip, prefix } = parseCidr(cidr);
  const b = ipv4Bytes(ip);
  return ifaddrmsg({ family: AF_INET, prefixlen: prefix, scope: RT_SCOPE_UNIVERSE, index }, [bytes(IFA_LOCAL, b), bytes(IFA_ADDRESS, b)]);
}

export const newAddr = (index: number, cidr: string): NlRequest => ({ type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: addrPayload(index, cidr) });
export const delAddr = (index: number, cidr: string): NlRequest => ({ type: RTM_DELADDR, flags: 0, payload: addrPayload(index, cidr) });

/** A directly connected route (`ip route replace CIDR dev X scope link`) in the main table. */
export function newLinkRoute(oif: number, cidr: string): NlRequest {
  const { ip, prefix } = parseCidr(cidr);
  return {
    type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_REPLACE,
    payload: rtmsg({ family: AF_INET, dstLen: prefix, table: RT_TABLE_MAIN, protocol: RTPROT_BOOT, scope: RT_SCOPE_LINK, type: RTN_UNICAST }, [bytes(RTA_DST, ipv4Bytes(ip)), u32(RTA_OIF, oif)]),
  };
}

/** A route through a next hop on a link (`ip route replace CIDR via GW dev X`) in the main table. */
export function newGatewayRoute(oif: number, cidr: string, gateway: string): NlRequest {
  const { ip, prefix } = parseCidr(cidr);
  return {
    type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_REPLACE,
    payload: rtmsg({ family: AF_INET, dstLen: prefix, table: RT_TABLE_MAIN, protocol: RTPROT_BOOT, scope: RT_SCOPE_UNIVERSE, type: RTN_UNICAST }, [
      bytes(RTA_DST, ipv4Bytes(ip)), bytes(RTA_GATEWAY, ipv4Bytes(gateway)), u32(RTA_OIF, oif),
    ]),
  };
}

/** `ip route get DST`: the reply is one RTM_NEWROUTE. */
export function getRoute(dst: string): NlRequest {
  return { type: RTM_GETROUTE, flags: 0, payload: rtmsg({ family: AF_INET, dstLen: 32, table: 0, protocol: 0, scope: 0, type: 0 }, [bytes(RTA_DST, ipv4Bytes(dst))]) };
}

/** RTM_GETLINK for one link by index. */
export const getLinkByIndex = (index: number): NlRequest => ({ type: RTM_GETLINK, flags: 0, payload: ifinfomsg({ family: AF_UNSPEC, index }) });

/** A default route in `table` (a number above 255 travels in RTA_TABLE only): through `oif`, or a blackhole at `metric`. */
function tableDefault(table: number, route: { oif: number } | { blackhole: true; metric: number }, protocol: number): Buffer {
  const attrs = [u32(RTA_TABLE, table)];
  if ('oif' in route) attrs.push(u32(RTA_OIF, route.oif));
  else attrs.push(u32(RTA_PRIORITY, route.metric));
  const type = 'oif' in route ? RTN_UNICAST : RTN_BLACKHOLE;
  return rtmsg({ family: AF_INET, dstLen: 0, table: table < 256 ? table : 0, protocol, scope: 'oif' in route ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, type }, attrs);
}

/** `ip route replace default dev X table T` or `ip route replace blackhole default metric M table T`. */
export const replaceTableDefault = (table: number, route: { oif: number } | { blackhole: true; metric: number }, protocol: number): NlRequest =>
  ({ type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: tableDefault(table, route, protocol) });
export const delTableDefault = (table: number, route: { oif: number } | { blackhole: true; metric: number }, protocol: number): NlRequest =>
  ({ type: RTM_DELROUTE, flags: 0, payload: tableDefault(table, route, protocol) });
/** Every IPv4 route (filtered by table in the caller). */
export const dumpRoutes = (): NlRequest => ({ type: RTM_GETROUTE, flags: NLM_F_DUMP, payload: rtmsg({ family: AF_INET, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0 }) });
