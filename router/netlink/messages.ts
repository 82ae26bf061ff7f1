// rtnetlink payloads: the fixed header of each family (ifinfomsg, ndmsg, ifaddrmsg, rtmsg) followed
// by attributes. Encoders build payloads; decoders turn RTM_NEW* messages (dump entries, replies,
// events) into plain objects and return a reason instead of throwing on malformed bytes.
//
//   ifinfomsg (16): u8 family | u8 pad | u16 type | i32 index | u32 flags | u32 change
//   ndmsg     (12): u8 family | u8 pad | u16 pad | i32 ifindex | u16 state | u8 flags | u8 type
//   ifaddrmsg  (8): u8 family | u8 prefixlen | u8 flags | u8 scope | u32 index
//   rtmsg     (12): u8 family | u8 dst_len | u8 src_len | u8 tos | u8 table | u8 protocol | u8 scope | u8 type | u32 flags
import { attrsSize, getNested, getStr, getU16BE, getU32, getU8, parseAttrs, writeAttrs, type Attr, type AttrMap } from './attrs.js';
import { formatIpv4, formatMac } from './address-text.js';
import {
  IFADDRMSG_LEN, IFA_ADDRESS, IFA_LABEL, IFA_LOCAL, IFINFOMSG_LEN, IFLA_ADDRESS, IFLA_BRPORT_LEARNING, IFLA_BRPORT_MODE,
  IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINK, IFLA_LINKINFO, IFLA_LINK_NETNSID, IFLA_MASTER, IFLA_MTU,
  IFLA_OPERSTATE, IFLA_PROTINFO, IFLA_VXLAN_ID, NLA_HDRLEN, NLA_TYPE_MASK, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PORT, IFLA_VXLAN_PROXY, NDA_CACHEINFO, NDA_DST,
  NDA_LLADDR, NDA_MASTER, NDA_VNI, NDMSG_LEN, RTAX_MTU, RTA_DST, RTA_GATEWAY, RTA_METRICS, RTA_OIF, RTA_PREFSRC,
  RTA_TABLE, RTMSG_LEN,
} from './constants.js';
import type { Result } from '../../lib/result.js';

export interface IfInfoMsg {
  family: number;
  type?: number;
  index: number;
  flags?: number;
  change?: number;
}

export interface NdMsg {
  family: number;
  ifindex: number;
  state: number;
  flags: number;
  type?: number;
}

export interface IfAddrMsg {
  family: number;
  prefixlen: number;
  flags?: number;
  scope: number;
  index: number;
}

export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen?: number;
  tos?: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags?: number;
}

function withAttrs(headerLen: number, attrs: Attr[], writeHeader: (b: Buffer) => void): Buffer {
  const buf = Buffer.alloc(headerLen + attrsSize(attrs));
  writeHeader(buf);
  writeAttrs(buf, headerLen, attrs);
  return buf;
}

export function ifinfomsg(h: IfInfoMsg, attrs: Attr[] = []): Buffer {
  return withAttrs(IFINFOMSG_LEN, attrs, (b) => {
    b.writeUInt8(h.family, 0);
    b.writeUInt16LE(h.type ?? 0, 2);
    b.writeInt32LE(h.index, 4);
    b.writeUInt32LE((h.flags ?? 0) >>> 0, 8);
    b.writeUInt32LE((h.change ?? 0) >>> 0, 12);
  });
}

export function ndmsg(h: NdMsg, attrs: Attr[] = []): Buffer {
  return withAttrs(NDMSG_LEN, attrs, (b) => {
    b.writeUInt8(h.family, 0);
    b.writeInt32LE(h.ifindex, 4);
    b.writeUInt16LE(h.state, 8);
    b.writeUInt8(h.flags, 10);
    b.writeUInt8(h.type ?? 0, 11);
  });
}

export function ifaddrmsg(h: IfAddrMsg, attrs: Attr[] = []): Buffer {
  return withAttrs(IFADDRMSG_LEN, attrs, (b) => {
    b.writeUInt8(h.family, 0);
    b.writeUInt8(h.prefixlen, 1);
    b.writeUInt8(h.flags ?? 0, 2);
    b.writeUInt8(h.scope, 3);
    b.writeUInt32LE(h.index >>> 0, 4);
  });
}

export function rtmsg(h: RtMsg, attrs: Attr[] = []): Buffer {
  return withAttrs(RTMSG_LEN, attrs, (b) => {
    b.writeUInt8(h.family, 0);
    b.writeUInt8(h.dstLen, 1);
    b.writeUInt8(h.srcLen ?? 0, 2);
    b.writeUInt8(h.tos ?? 0, 3);
    b.writeUInt8(h.table, 4);
    b.writeUInt8(h.protocol, 5);
    b.writeUInt8(h.scope, 6);
    b.writeUInt8(h.type, 7);
    b.writeUInt32LE((h.flags ?? 0) >>> 0, 8);
  });
}

function split(payload: Buffer, headerLen: number, what: string): Result<AttrMap> {
  if (payload.length < headerLen) return { ok: false, reason: `${what}: ${payload.length} bytes, header needs ${headerLen}` };
  const attrs = parseAttrs(payload.subarray(headerLen));
  return attrs.ok ? attrs : { ok: false, reason: `${what}: ${attrs.reason}` };
}

/** An RTM_NEWLINK message (dump entry, reply or event). */
export interface LinkMessage {
  family: number;
  index: number;
  /** IFF_* flags. */
  flags: number;
  name?: string;
  mtu?: number;
  mac?: string;
  master?: number;
  /** IFLA_LINK: the peer's index (veth), in the namespace given by linkNetnsid when present. */
  link?: number;
  linkNetnsid?: number;
  operstate?: number;
  kind?: string;
  vxlan?: { vni?: number; port?: number; learning?: boolean; proxy?: boolean };
  /** Bridge-port flags, present in AF_BRIDGE dumps of bridge ports. */
  port?: { hairpin?: boolean; learning?: boolean };
}

export function decodeLink(payload: Buffer): Result<LinkMessage> {
  const a = split(payload, IFINFOMSG_LEN, 'ifinfomsg');
  if (!a.ok) return a;
  const m = a.value;
  const link: LinkMessage = { family: payload[0]!, index: payload.readInt32LE(4), flags: payload.readUInt32LE(8) };
  const name = getStr(m, IFLA_IFNAME);
  if (name !== undefined) link.name = name;
  const mtu = getU32(m, IFLA_MTU);
  if (mtu !== undefined) link.mtu = mtu;
  const mac = m.get(IFLA_ADDRESS);
  if (mac) link.mac = formatMac(mac);
  const master = getU32(m, IFLA_MASTER);
  if (master !== undefined) link.master = master;
  const peer = getU32(m, IFLA_LINK);
  if (peer !== undefined) link.link = peer;
  const nsid = m.get(IFLA_LINK_NETNSID);
  if (nsid && nsid.length >= 4) link.linkNetnsid = nsid.readInt32LE(0);
  const operstate = getU8(m, IFLA_OPERSTATE);
  if (operstate !== undefined) link.operstate = operstate;
  const info = getNested(m, IFLA_LINKINFO);
  if (info) {
    const kind = getStr(info, IFLA_INFO_KIND);
    if (kind !== undefined) link.kind = kind;
    const data = kind === 'vxlan' ? getNested(info, IFLA_INFO_DATA) : undefined;
    if (data) {
      const learning = getU8(data, IFLA_VXLAN_LEARNING);
      const proxy = getU8(data, IFLA_VXLAN_PROXY);
      link.vxlan = {
        vni: getU32(data, IFLA_VXLAN_ID),
        port: getU16BE(data, IFLA_VXLAN_PORT),
        learning: learning === undefined ? undefined : learning !== 0,
        proxy: proxy === undefined ? undefined : proxy !== 0,
      };
    }
  }
  const prot = getNested(m, IFLA_PROTINFO);
  if (prot) {
    const mode = getU8(prot, IFLA_BRPORT_MODE);
    const learning = getU8(prot, IFLA_BRPORT_LEARNING);
    link.port = { hairpin: mode === undefined ? undefined : mode !== 0, learning: learning === undefined ? undefined : learning !== 0 };
  }
  return { ok: true, value: link };
}

/** An RTM_NEWNEIGH message: a neighbour (AF_INET) or forwarding (AF_BRIDGE) entry. */
export interface NeighMessage {
  family: number;
  ifindex: number;
  /** NUD_* state. */
  state: number;
  /** NTF_* flags. */
  flags: number;
  /** NDA_DST: the neighbour's IP (AF_INET) or the remote VTEP (VXLAN FDB). */
  dst?: string;
  lladdr?: string;
  vni?: number;
  master?: number;
  /** NDA_CACHEINFO in milliseconds: since the entry was last used and last updated. */
  usedAgoMs?: number;
  updatedAgoMs?: number;
}

/** Clock ticks per second of nda_cacheinfo (USER_HZ: 100 on every architecture Linux runs weft on). */
const USER_HZ = 100;

/**
 * NDA_CACHEINFO's ndm_used of an RTM_NEWNEIGH payload in milliseconds, without decoding the rest
 * (undefined when absent or malformed): a poll skips idle entries at this cost.
 */
export function neighUsedAgoMs(payload: Buffer): number | undefined {
  let off = NDMSG_LEN;
  while (off + 4 <= payload.length) {
    const len = payload.readUInt16LE(off);
    if (len < 4 || off + len > payload.length) return undefined;
    if ((payload.readUInt16LE(off + 2) & 0x3fff) === NDA_CACHEINFO) return len >= 4 + 12 ? (payload.readUInt32LE(off + 8) * 1000) / USER_HZ : undefined;
    off += (len + 3) & ~3;
  }
  return undefined;
}

export function decodeNeigh(payload: Buffer): Result<NeighMessage> {
  // One pass over the attributes with offsets, no map and no slice per attribute: a dump of
  // 100,000 entries decodes 100,000 of these. Same rules as parseAttrs (the last of a type wins).
  if (payload.length < NDMSG_LEN) return { ok: false, reason: `ndmsg: ${payload.length} bytes, header needs ${NDMSG_LEN}` };
  const n: NeighMessage = { family: payload[0]!, ifindex: payload.readInt32LE(4), state: payload.readUInt16LE(8), flags: payload[10]! };
  let dst = -1;
  let dstLen = 0;
  let ll = -1;
  let llLen = 0;
  let vni = -1;
  let vniLen = 0;
  let master = -1;
  let masterLen = 0;
  let ci = -1;
  let ciLen = 0;
  let off = NDMSG_LEN;
  while (off + NLA_HDRLEN <= payload.length) {
    const len = payload.readUInt16LE(off);
    const type = payload.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    const at = off - NDMSG_LEN;
    if (len < NLA_HDRLEN) return { ok: false, reason: `ndmsg: attribute ${type} at ${at}: length ${len} < ${NLA_HDRLEN}` };
    if (off + len > payload.length) return { ok: false, reason: `ndmsg: attribute ${type} at ${at}: length ${len} runs past ${payload.length - NDMSG_LEN}` };
    const v = off + NLA_HDRLEN;
    const vlen = len - NLA_HDRLEN;
    if (type === NDA_DST) {
      dst = v;
      dstLen = vlen;
    } else if (type === NDA_LLADDR) {
      ll = v;
      llLen = vlen;
    } else if (type === NDA_VNI) {
      vni = v;
      vniLen = vlen;
    } else if (type === NDA_MASTER) {
      master = v;
      masterLen = vlen;
    } else if (type === NDA_CACHEINFO) {
      ci = v;
      ciLen = vlen;
    }
    off += (len + 3) & ~3;
  }
  if (off < payload.length) return { ok: false, reason: `ndmsg: ${payload.length - off} trailing bytes after attributes` };
  if (dst >= 0 && dstLen === 4) n.dst = `${payload[dst]}.${payload[dst + 1]}.${payload[dst + 2]}.${payload[dst + 3]}`;
  if (ll >= 0) n.lladdr = formatMac(payload.subarray(ll, ll + llLen));
  if (vni >= 0 && vniLen >= 4) n.vni = payload.readUInt32LE(vni);
  if (master >= 0 && masterLen >= 4) n.master = payload.readUInt32LE(master);
  if (ci >= 0 && ciLen >= 12) {
    n.usedAgoMs = (payload.readUInt32LE(ci + 4) * 1000) / USER_HZ;
    n.updatedAgoMs = (payload.readUInt32LE(ci + 8) * 1000) / USER_HZ;
  }
  return { ok: true, value: n };
}

export interface AddrMessage {
  family: number;
  prefixlen: number;
  scope: number;
  index: number;
  address?: string;
  local?: string;
  label?: string;
}

export function decodeAddr(payload: Buffer): Result<AddrMessage> {
  const a = split(payload, IFADDRMSG_LEN, 'ifaddrmsg');
  if (!a.ok) return a;
  const m = a.value;
  const r: AddrMessage = { family: payload[0]!, prefixlen: payload[1]!, scope: payload[3]!, index: payload.readUInt32LE(4) };
  const address = formatIpv4(m.get(IFA_ADDRESS));
  if (address !== undefined) r.address = address;
  const local = formatIpv4(m.get(IFA_LOCAL));
  if (local !== undefined) r.local = local;
  const label = getStr(m, IFA_LABEL);
  if (label !== undefined) r.label = label;
  return { ok: true, value: r };
}

export interface RouteMessage {
  family: number;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  dst?: string;
  oif?: number;
  gateway?: string;
  prefsrc?: string;
  /** RTAX_MTU from RTA_METRICS, when the route sets one. */
  mtu?: number;
}

export function decodeRoute(payload: Buffer): Result<RouteMessage> {
  const a = split(payload, RTMSG_LEN, 'rtmsg');
  if (!a.ok) return a;
  const m = a.value;
  const r: RouteMessage = {
    family: payload[0]!, dstLen: payload[1]!, table: getU32(m, RTA_TABLE) ?? payload[4]!,
    protocol: payload[5]!, scope: payload[6]!, type: payload[7]!,
  };
  const dst = formatIpv4(m.get(RTA_DST));
  if (dst !== undefined) r.dst = dst;
  const oif = getU32(m, RTA_OIF);
  if (oif !== undefined) r.oif = oif;
  const gw = formatIpv4(m.get(RTA_GATEWAY));
  if (gw !== undefined) r.gateway = gw;
  const src = formatIpv4(m.get(RTA_PREFSRC));
  if (src !== undefined) r.prefsrc = src;
  const metrics = getNested(m, RTA_METRICS);
  const mtu = metrics ? getU32(metrics, RTAX_MTU) : undefined;
  if (mtu) r.mtu = mtu;
  return { ok: true, value: r };
}
