// XFRM, the kernel's IPsec state (SA) and policy databases, over NETLINK_XFRM: the messages
// `ip xfrm state|policy add|delete|list|flush` send, as NlRequests and decoders. Layouts are those
// of <linux/xfrm.h> on 64-bit little-endian hosts (u64 aligned to 8); __be fields are big-endian.
//
//   xfrm_selector (56)          daddr 0 | saddr 16 | dport 32 | dport_mask 34 | sport 36 | sport_mask 38
//                               | family u16 40 | prefixlen_d 42 | prefixlen_s 43 | proto 44 | ifindex 48 | user 52
//   xfrm_id (24)                daddr 0 | spi be32 16 | proto 20
//   xfrm_usersa_info (224)      sel 0 | id 56 | saddr 80 | lft 96 (8 × u64 limits) | curlft 160 (bytes, packets,
//                               add_time, use_time) | stats 192 (replay_window, replay, integrity_failed)
//                               | seq 204 | reqid 208 | family u16 212 | mode 214 | replay_window 215 | flags 216
//   xfrm_usersa_id (24)         daddr 0 | spi be32 16 | family u16 20 | proto 22
//   xfrm_userpolicy_info (168)  sel 0 | lft 56 | curlft 120 | priority 152 | index 156 | dir 160 | action 161
//                               | flags 162 | share 163
//   xfrm_userpolicy_id (64)     sel 0 | index 56 | dir 60
//   xfrm_user_tmpl (64)         id 0 | family u16 24 | saddr 28 | reqid 44 | mode 48 | share 49 | optional 50
//                               | aalgos 52 | ealgos 56 | calgos 60
//   xfrm_algo_aead (72 + key)   alg_name char[64] | alg_key_len (bits) 64 | alg_icv_len (bits) 68 | key
//   xfrm_encap_tmpl (24)        encap_type u16 0 | sport be16 2 | dport be16 4 | encap_oa 8
//   xfrm_replay_state (12)      oseq | seq | bitmap
//   xfrm_replay_state_esn (24+) bmp_len | oseq | seq | oseq_hi | seq_hi | replay_window | bmp[bmp_len]
//
// An address (xfrm_address_t) is 16 bytes; IPv4 uses the first 4. weft installs IPv4 only; the
// decoders also read IPv6 entries that other software put there.
import { parseAttrs, u32, u8, bytes, attrsSize, writeAttrs, getU32, type Attr, type AttrMap } from './attrs.js';
import { ipv4Bytes, parseCidr } from './address-text.js';
import type { NlRequest } from './codec.js';
import { AF_INET, NLM_F_DUMP } from './constants.js';
import type { EspCipher, EspSaKeys } from '../../crypto/esp-sa.js';
import type { Result } from '../../lib/result.js';

export const NETLINK_XFRM = 6;
export const AF_INET6 = 10;
export const IPPROTO_ESP = 50;
/** Matches every IPsec protocol in a flush. */
export const IPSEC_PROTO_ANY = 255;
/** RFC 3948 ESP in UDP (the `encap espinudp` of iproute2); also the UDP_ENCAP socket option's value. */
export const UDP_ENCAP_ESPINUDP = 2;

export const XFRM_MSG_NEWSA = 0x10;
export const XFRM_MSG_DELSA = 0x11;
export const XFRM_MSG_GETSA = 0x12;
export const XFRM_MSG_NEWPOLICY = 0x13;
export const XFRM_MSG_DELPOLICY = 0x14;
export const XFRM_MSG_GETPOLICY = 0x15;
export const XFRM_MSG_EXPIRE = 0x18;
export const XFRM_MSG_UPDPOLICY = 0x19;
export const XFRM_MSG_UPDSA = 0x1a;
export const XFRM_MSG_FLUSHSA = 0x1c;
export const XFRM_MSG_FLUSHPOLICY = 0x1d;
/** Multicast group of XFRM_MSG_EXPIRE (soft and hard lifetime events). */
export const XFRMNLGRP_EXPIRE = 2;

export const XFRMA_ENCAP = 4;
export const XFRMA_TMPL = 5;
export const XFRMA_REPLAY_VAL = 10;
export const XFRMA_SRCADDR = 13;
export const XFRMA_ALG_AEAD = 18;
export const XFRMA_MARK = 21;
export const XFRMA_REPLAY_ESN_VAL = 23;
export const XFRMA_PROTO = 25;
export const XFRMA_IF_ID = 31;

export const USERSA_INFO_LEN = 224;
export const USERSA_ID_LEN = 24;
export const USERPOLICY_INFO_LEN = 168;
export const USERPOLICY_ID_LEN = 64;
export const USER_TMPL_LEN = 64;
export const ENCAP_TMPL_LEN = 24;
export const ALGO_AEAD_LEN = 72;
export const USER_EXPIRE_LEN = 232;
const ALG_NAME_LEN = 64;
const REPLAY_ESN_LEN = 24;
/** The legacy replay state holds a 32-bit bitmap; larger windows travel in XFRMA_REPLAY_ESN_VAL. */
export const LEGACY_REPLAY_WINDOW_MAX = 32;
/** XFRMA_REPLAY_ESN_MAX bits. */
export const REPLAY_WINDOW_MAX = 4096;
const XFRM_INF = 0xffff_ffff_ffff_ffffn;

export const XFRM_AEAD_ALGORITHMS: Readonly<Record<EspCipher, string>> = {
  'aes-256-gcm': 'rfc4106(gcm(aes))',
  'chacha20-poly1305': 'rfc7539esp(chacha20,poly1305)',
};
const ICV_BITS = 128;

export type XfrmMode = 'transport' | 'tunnel';
export type XfrmDir = 'in' | 'out' | 'fwd';
const MODES: readonly XfrmMode[] = ['transport', 'tunnel'];
const DIRS: readonly XfrmDir[] = ['in', 'out', 'fwd'];

/** Traffic an SA or policy applies to. Ports are exact (mask 0xffff) or absent (any). */
export interface XfrmSelector {
  /** CIDR; '0.0.0.0/0' = any. */
  src: string;
  dst: string;
  /** IP protocol number; 0 or absent = any. */
  proto?: number;
  sport?: number;
  dport?: number;
}

/** An AEAD transform: `key` is the cipher key followed by the 4-byte salt (RFC 4106 §8.1, RFC 7634 §2). */
export interface XfrmAead { name: string; key: Buffer; icvBits: number }

/**
 * UDP encapsulation of an SA (type UDP_ENCAP_ESPINUDP). The receiving host must also hold a UDP
 * socket on dport with setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP): only such a socket
 * hands ESP to xfrm; without it the datagrams go to a plain socket on the port, or are refused.
 */
export interface XfrmEncap { type: number; sport: number; dport: number }

/** Limits in bytes, packets or seconds (positive); absent = none. The kernel reports reaching one with XFRM_MSG_EXPIRE. */
export interface XfrmLifetime {
  softBytes?: number; hardBytes?: number;
  softPackets?: number; hardPackets?: number;
  softAddSeconds?: number; hardAddSeconds?: number;
  softUseSeconds?: number; hardUseSeconds?: number;
}
const LIFETIME_KEYS: readonly (keyof XfrmLifetime)[] = [
  'softBytes', 'hardBytes', 'softPackets', 'hardPackets', 'softAddSeconds', 'hardAddSeconds', 'softUseSeconds', 'hardUseSeconds',
];

export interface XfrmMark { value: number; mask: number }

/** An SA (xfrm state) as weft installs it: IPv4 endpoints, one AEAD transform. */
export interface XfrmSa {
  src: string;
  dst: string;
  spi: number;
  /** IPPROTO_ESP unless given. */
  proto?: number;
  mode: XfrmMode;
  /** Ties the SA to policy templates with the same reqid; 0 = none. */
  reqid?: number;
  /** Absent = any traffic. */
  selector?: XfrmSelector;
  aead: XfrmAead;
  encap?: XfrmEncap;
  /** Inbound replay window in packets: up to 32 in the legacy field, up to 4096 as a bitmap attribute; 0/absent = no check. */
  replayWindow?: number;
  /** XFRM_STATE_* flags. */
  flags?: number;
  lifetime?: XfrmLifetime;
  mark?: XfrmMark;
  ifId?: number;
}

/** An SA as the kernel reports it (GETSA, dumps, events): what was installed plus its counters. */
export interface XfrmSaInfo extends Omit<XfrmSa, 'aead' | 'selector'> {
  family: number;
  selector: XfrmSelector;
  /** Absent for SAs with separate encryption and authentication (not weft's). */
  aead?: XfrmAead;
  /** curlft: bytes and packets processed, add/use times in seconds since the epoch (use 0 = never). */
  current: { bytes: number; packets: number; addTime: number; useTime: number };
  /** Inbound drops: out of window, replayed, failed ICV. */
  stats: { replayWindow: number; replay: number; integrityFailed: number };
  /** Last sequence number sent and highest received. */
  replay?: { outbound: number; inbound: number };
}

/** One policy template: the SA a packet must go through (out) or must have come through (in). */
export interface XfrmTemplate {
  src: string;
  dst: string;
  /** IPPROTO_ESP unless given. */
  proto?: number;
  /** 0/absent = any SPI. */
  spi?: number;
  mode: XfrmMode;
  reqid?: number;
  optional?: boolean;
}

export interface XfrmPolicy {
  selector: XfrmSelector;
  dir: XfrmDir;
  /** 'allow' (default) applies the templates; 'block' drops. */
  action?: 'allow' | 'block';
  /** Lower wins; the kernel default is 0. */
  priority?: number;
  /** Kernel-assigned; 0/absent on creation. */
  index?: number;
  templates: XfrmTemplate[];
  mark?: XfrmMark;
  ifId?: number;
}

export interface XfrmPolicyInfo extends XfrmPolicy {
  family: number;
  action: 'allow' | 'block';
  priority: number;
  index: number;
  /** Packets and bytes matched so far, add/use times in seconds. */
  current: { bytes: number; packets: number; addTime: number; useTime: number };
}

/** Identifies one SA: destination, SPI, protocol (the kernel's lookup key). */
export interface XfrmSaId {
  dst: string;
  spi: number;
  proto?: number;
  /** Narrows a delete to this source. */
  src?: string;
  mark?: XfrmMark;
}

/** The xfrm_algo_aead for weft's ciphers and keys. */
export function aeadFor(keys: EspSaKeys): XfrmAead {
  return { name: XFRM_AEAD_ALGORITHMS[keys.cipher], key: Buffer.concat([keys.key, keys.salt]), icvBits: ICV_BITS };
}

/** weft's keys back from an xfrm AEAD; undefined for any algorithm weft does not speak. */
export function espKeysOf(aead: XfrmAead): EspSaKeys | undefined {
  const cipher = (Object.keys(XFRM_AEAD_ALGORITHMS) as EspCipher[]).find((c) => XFRM_AEAD_ALGORITHMS[c] === aead.name);
  if (!cipher || aead.icvBits !== ICV_BITS || aead.key.length !== 36) return undefined;
  return { cipher, key: Buffer.from(aead.key.subarray(0, 32)), salt: Buffer.from(aead.key.subarray(32)) };
}

// ---- encoding (input is weft's own state: bad values throw) ----

function writeAddr(b: Buffer, off: number, ip: string): void {
  ipv4Bytes(ip).copy(b, off);
}

function checkU32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`${name} ${v} is not a u32`);
  return v;
}

function writeSelector(b: Buffer, off: number, s: XfrmSelector | undefined): void {
  const dst = parseCidr(s?.dst ?? '0.0.0.0/0');
  const src = parseCidr(s?.src ?? '0.0.0.0/0');
  writeAddr(b, off, dst.ip);
  writeAddr(b, off + 16, src.ip);
  if (s?.dport !== undefined) {
    b.writeUInt16BE(s.dport, off + 32);
    b.writeUInt16BE(0xffff, off + 34);
  }
  if (s?.sport !== undefined) {
    b.writeUInt16BE(s.sport, off + 36);
    b.writeUInt16BE(0xffff, off + 38);
  }
  b.writeUInt16LE(AF_INET, off + 40);
  b[off + 42] = dst.prefix;
  b[off + 43] = src.prefix;
  b[off + 44] = s?.proto ?? 0;
}

// "No limit" is XFRM_INF for bytes and packets but 0 for seconds: the kernel adds a time limit to the
// SA's add time, so XFRM_INF there would wrap and expire the SA at its first timer tick.
const noLimit = (k: keyof XfrmLifetime): bigint => (k.endsWith('Seconds') ? 0n : XFRM_INF);

function writeLifetime(b: Buffer, off: number, l: XfrmLifetime | undefined): void {
  LIFETIME_KEYS.forEach((k, i) => {
    const v = l?.[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) throw new RangeError(`lifetime ${k} ${v} is not a positive count`);
    b.writeBigUInt64LE(v === undefined ? noLimit(k) : BigInt(v), off + 8 * i);
  });
}

function aeadAttr(a: XfrmAead): Attr {
  const name = Buffer.from(a.name, 'utf8');
  if (name.length >= ALG_NAME_LEN) throw new RangeError(`algorithm name "${a.name}" is longer than ${ALG_NAME_LEN - 1} bytes`);
  const b = Buffer.alloc(ALGO_AEAD_LEN + a.key.length);
  name.copy(b, 0);
  b.writeUInt32LE(a.key.length * 8, 64);
  b.writeUInt32LE(a.icvBits, 68);
  a.key.copy(b, ALGO_AEAD_LEN);
  return bytes(XFRMA_ALG_AEAD, b);
}

function encapAttr(e: XfrmEncap): Attr {
  const b = Buffer.alloc(ENCAP_TMPL_LEN);
  b.writeUInt16LE(e.type, 0);
  b.writeUInt16BE(e.sport, 2);
  b.writeUInt16BE(e.dport, 4);
  return bytes(XFRMA_ENCAP, b);
}

/** A bitmap replay state (no ESN flag): the kernel then checks a window of `window` packets. */
function replayEsnAttr(window: number): Attr {
  const words = Math.ceil(window / 32);
  const b = Buffer.alloc(REPLAY_ESN_LEN + 4 * words);
  b.writeUInt32LE(words, 0);
  b.writeUInt32LE(window, 20);
  return bytes(XFRMA_REPLAY_ESN_VAL, b);
}

function markAttr(m: XfrmMark): Attr {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(checkU32('mark', m.value), 0);
  b.writeUInt32LE(checkU32('mark mask', m.mask), 4);
  return bytes(XFRMA_MARK, b);
}

function withAttrs(head: Buffer, attrs: Attr[]): Buffer {
  const b = Buffer.alloc(head.length + attrsSize(attrs));
  head.copy(b);
  writeAttrs(b, head.length, attrs);
  return b;
}

function usersaInfo(sa: XfrmSa): Buffer {
  const window = sa.replayWindow ?? 0;
  if (!Number.isInteger(window) || window < 0 || window > REPLAY_WINDOW_MAX) throw new RangeError(`replay window ${window} is not 0..${REPLAY_WINDOW_MAX}`);
  const b = Buffer.alloc(USERSA_INFO_LEN);
  writeSelector(b, 0, sa.selector);
  writeAddr(b, 56, sa.dst);
  b.writeUInt32BE(checkU32('SPI', sa.spi), 72);
  b[76] = sa.proto ?? IPPROTO_ESP;
  writeAddr(b, 80, sa.src);
  writeLifetime(b, 96, sa.lifetime);
  b.writeUInt32LE(checkU32('reqid', sa.reqid ?? 0), 208);
  b.writeUInt16LE(AF_INET, 212);
  b[214] = MODES.indexOf(sa.mode);
  // With XFRMA_REPLAY_ESN_VAL present the kernel requires this byte to be 0.
  b[215] = window <= LEGACY_REPLAY_WINDOW_MAX ? window : 0;
  b[216] = sa.flags ?? 0;
  const attrs: Attr[] = [aeadAttr(sa.aead)];
  if (sa.encap) attrs.push(encapAttr(sa.encap));
  if (window > LEGACY_REPLAY_WINDOW_MAX) attrs.push(replayEsnAttr(window));
  if (sa.mark) attrs.push(markAttr(sa.mark));
  if (sa.ifId !== undefined) attrs.push(u32(XFRMA_IF_ID, sa.ifId));
  return withAttrs(b, attrs);
}

function usersaId(id: XfrmSaId): Buffer {
  const b = Buffer.alloc(USERSA_ID_LEN);
  writeAddr(b, 0, id.dst);
  b.writeUInt32BE(checkU32('SPI', id.spi), 16);
  b.writeUInt16LE(AF_INET, 20);
  b[22] = id.proto ?? IPPROTO_ESP;
  const attrs: Attr[] = [];
  if (id.src !== undefined) {
    const a = Buffer.alloc(16);
    writeAddr(a, 0, id.src);
    attrs.push(bytes(XFRMA_SRCADDR, a));
  }
  if (id.mark) attrs.push(markAttr(id.mark));
  return withAttrs(b, attrs);
}

function userTmpl(b: Buffer, off: number, t: XfrmTemplate): void {
  writeAddr(b, off, t.dst);
  b.writeUInt32BE(checkU32('SPI', t.spi ?? 0), off + 16);
  b[off + 20] = t.proto ?? IPPROTO_ESP;
  b.writeUInt16LE(AF_INET, off + 24);
  writeAddr(b, off + 28, t.src);
  b.writeUInt32LE(checkU32('reqid', t.reqid ?? 0), off + 44);
  b[off + 48] = MODES.indexOf(t.mode);
  b[off + 50] = t.optional ? 1 : 0;
  // All algorithms allowed, as iproute2 does: the inbound check tests the SA's algorithm against these masks.
  b.writeUInt32LE(0xffff_ffff, off + 52);
  b.writeUInt32LE(0xffff_ffff, off + 56);
  b.writeUInt32LE(0xffff_ffff, off + 60);
}

function userpolicyInfo(p: XfrmPolicy): Buffer {
  const b = Buffer.alloc(USERPOLICY_INFO_LEN);
  writeSelector(b, 0, p.selector);
  writeLifetime(b, 56, undefined);
  b.writeUInt32LE(checkU32('priority', p.priority ?? 0), 152);
  b.writeUInt32LE(checkU32('index', p.index ?? 0), 156);
  b[160] = DIRS.indexOf(p.dir);
  b[161] = p.action === 'block' ? 1 : 0;
  const attrs: Attr[] = [];
  if (p.templates.length > 0) {
    const t = Buffer.alloc(USER_TMPL_LEN * p.templates.length);
    p.templates.forEach((tmpl, i) => userTmpl(t, USER_TMPL_LEN * i, tmpl));
    attrs.push(bytes(XFRMA_TMPL, t));
  }
  if (p.mark) attrs.push(markAttr(p.mark));
  if (p.ifId !== undefined) attrs.push(u32(XFRMA_IF_ID, p.ifId));
  return withAttrs(b, attrs);
}

function userpolicyId(p: Pick<XfrmPolicy, 'selector' | 'dir' | 'index' | 'mark'>): Buffer {
  const b = Buffer.alloc(USERPOLICY_ID_LEN);
  writeSelector(b, 0, p.selector);
  b.writeUInt32LE(checkU32('index', p.index ?? 0), 56);
  b[60] = DIRS.indexOf(p.dir);
  return withAttrs(b, p.mark ? [markAttr(p.mark)] : []);
}

/** `ip xfrm state add`: EEXIST if an SA with this dst/SPI/proto exists. */
export const newSa = (sa: XfrmSa): NlRequest => ({ type: XFRM_MSG_NEWSA, flags: 0, payload: usersaInfo(sa) });
/** `ip xfrm state update`: replaces an existing SA (ESRCH if there is none). */
export const updateSa = (sa: XfrmSa): NlRequest => ({ type: XFRM_MSG_UPDSA, flags: 0, payload: usersaInfo(sa) });
/** `ip xfrm state delete`: ESRCH if there is no such SA. */
export const deleteSa = (id: XfrmSaId): NlRequest => ({ type: XFRM_MSG_DELSA, flags: 0, payload: usersaId(id) });
/** `ip xfrm state get`: the reply is one XFRM_MSG_NEWSA (decodeSa), with the counters. */
export const getSa = (id: XfrmSaId): NlRequest => ({ type: XFRM_MSG_GETSA, flags: 0, payload: usersaId(id) });
/** `ip xfrm state list`: every SA (of `proto`, if given) as XFRM_MSG_NEWSA. */
export const dumpSas = (proto?: number): NlRequest => ({
  type: XFRM_MSG_GETSA, flags: NLM_F_DUMP, payload: proto === undefined ? Buffer.alloc(0) : withAttrs(Buffer.alloc(0), [u8(XFRMA_PROTO, proto)]),
});
/** `ip xfrm state flush [proto P]`: deletes every SA of the protocol (IPSEC_PROTO_ANY = all). */
export const flushSas = (proto = IPSEC_PROTO_ANY): NlRequest => ({ type: XFRM_MSG_FLUSHSA, flags: 0, payload: Buffer.from([proto]) });

/** `ip xfrm policy add`: EEXIST if a policy with this selector and direction exists. */
export const newPolicy = (p: XfrmPolicy): NlRequest => ({ type: XFRM_MSG_NEWPOLICY, flags: 0, payload: userpolicyInfo(p) });
/** `ip xfrm policy update`: creates or replaces. */
export const updatePolicy = (p: XfrmPolicy): NlRequest => ({ type: XFRM_MSG_UPDPOLICY, flags: 0, payload: userpolicyInfo(p) });
/** `ip xfrm policy delete`: by selector and direction (or by index when given); ENOENT if none. */
export const deletePolicy = (p: Pick<XfrmPolicy, 'selector' | 'dir' | 'index' | 'mark'>): NlRequest => ({
  type: XFRM_MSG_DELPOLICY, flags: 0, payload: userpolicyId(p),
});
/** `ip xfrm policy get`: the reply is one XFRM_MSG_NEWPOLICY (decodePolicy). */
export const getPolicy = (p: Pick<XfrmPolicy, 'selector' | 'dir' | 'index' | 'mark'>): NlRequest => ({
  type: XFRM_MSG_GETPOLICY, flags: 0, payload: userpolicyId(p),
});
export const dumpPolicies = (): NlRequest => ({ type: XFRM_MSG_GETPOLICY, flags: NLM_F_DUMP, payload: Buffer.alloc(0) });
/** `ip xfrm policy flush`: every main-type policy. */
export const flushPolicies = (): NlRequest => ({ type: XFRM_MSG_FLUSHPOLICY, flags: 0, payload: Buffer.alloc(0) });

// ---- decoding (input is from the kernel: never throws) ----

function formatAddr(b: Buffer, off: number, family: number): string {
  if (family === AF_INET6) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(off + i).toString(16));
    return groups.join(':');
  }
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function readSelector(b: Buffer, off: number): XfrmSelector {
  const family = b.readUInt16LE(off + 40);
  const s: XfrmSelector = {
    src: `${formatAddr(b, off + 16, family)}/${b[off + 43]}`,
    dst: `${formatAddr(b, off, family)}/${b[off + 42]}`,
  };
  if (b[off + 44]) s.proto = b[off + 44];
  if (b.readUInt16BE(off + 34) !== 0) s.dport = b.readUInt16BE(off + 32);
  if (b.readUInt16BE(off + 38) !== 0) s.sport = b.readUInt16BE(off + 36);
  return s;
}

const u64 = (b: Buffer, off: number): number => Number(b.readBigUInt64LE(off));

function readLifetime(b: Buffer, off: number): XfrmLifetime {
  const l: XfrmLifetime = {};
  LIFETIME_KEYS.forEach((k, i) => {
    const v = b.readBigUInt64LE(off + 8 * i);
    if (v !== XFRM_INF && v !== 0n) l[k] = Number(v);
  });
  return l;
}

const readCurrent = (b: Buffer, off: number): XfrmSaInfo['current'] => ({
  bytes: u64(b, off), packets: u64(b, off + 8), addTime: u64(b, off + 16), useTime: u64(b, off + 24),
});

function readMark(m: AttrMap): XfrmMark | undefined {
  const b = m.get(XFRMA_MARK);
  return b && b.length >= 8 ? { value: b.readUInt32LE(0), mask: b.readUInt32LE(4) } : undefined;
}

function readAead(b: Buffer | undefined): Result<XfrmAead | undefined> {
  if (!b) return { ok: true, value: undefined };
  if (b.length < ALGO_AEAD_LEN) return { ok: false, reason: `XFRMA_ALG_AEAD of ${b.length} bytes` };
  const bits = b.readUInt32LE(64);
  const keyBytes = Math.ceil(bits / 8);
  if (ALGO_AEAD_LEN + keyBytes > b.length) return { ok: false, reason: `XFRMA_ALG_AEAD key of ${bits} bits in ${b.length - ALGO_AEAD_LEN} bytes` };
  const nul = b.indexOf(0);
  const name = b.toString('utf8', 0, nul < 0 || nul > ALG_NAME_LEN ? ALG_NAME_LEN : nul);
  return { ok: true, value: { name, key: Buffer.from(b.subarray(ALGO_AEAD_LEN, ALGO_AEAD_LEN + keyBytes)), icvBits: b.readUInt32LE(68) } };
}

/** Decodes xfrm_usersa_info and its attributes: an XFRM_MSG_NEWSA/UPDSA payload (GETSA replies, dumps, events). */
export function decodeSa(payload: Buffer): Result<XfrmSaInfo> {
  return decodeSaAt(payload, USERSA_INFO_LEN);
}

function decodeSaAt(payload: Buffer, attrsAt: number): Result<XfrmSaInfo> {
  if (payload.length < attrsAt) return { ok: false, reason: `xfrm SA message of ${payload.length} bytes, needs ${attrsAt}` };
  const b = payload;
  const attrs = parseAttrs(b.subarray(attrsAt));
  if (!attrs.ok) return { ok: false, reason: `xfrm SA: ${attrs.reason}` };
  const m = attrs.value;
  const family = b.readUInt16LE(212);
  const mode = MODES[b[214]!];
  if (!mode) return { ok: false, reason: `xfrm SA mode ${b[214]} is not transport or tunnel` };
  const aead = readAead(m.get(XFRMA_ALG_AEAD));
  if (!aead.ok) return aead;
  const sa: XfrmSaInfo = {
    family,
    src: formatAddr(b, 80, family),
    dst: formatAddr(b, 56, family),
    spi: b.readUInt32BE(72),
    proto: b[76]!,
    mode,
    reqid: b.readUInt32LE(208),
    selector: readSelector(b, 0),
    replayWindow: b[215]!,
    flags: b[216]!,
    lifetime: readLifetime(b, 96),
    current: readCurrent(b, 160),
    stats: { replayWindow: b.readUInt32LE(192), replay: b.readUInt32LE(196), integrityFailed: b.readUInt32LE(200) },
  };
  if (aead.value) sa.aead = aead.value;
  const encap = m.get(XFRMA_ENCAP);
  if (encap && encap.length >= 6) sa.encap = { type: encap.readUInt16LE(0), sport: encap.readUInt16BE(2), dport: encap.readUInt16BE(4) };
  const legacy = m.get(XFRMA_REPLAY_VAL);
  if (legacy && legacy.length >= 12) sa.replay = { outbound: legacy.readUInt32LE(0), inbound: legacy.readUInt32LE(4) };
  const esn = m.get(XFRMA_REPLAY_ESN_VAL);
  if (esn && esn.length >= REPLAY_ESN_LEN) {
    sa.replay = {
      outbound: esn.readUInt32LE(12) * 2 ** 32 + esn.readUInt32LE(4),
      inbound: esn.readUInt32LE(16) * 2 ** 32 + esn.readUInt32LE(8),
    };
    sa.replayWindow = esn.readUInt32LE(20);
  }
  const mark = readMark(m);
  if (mark) sa.mark = mark;
  const ifId = getU32(m, XFRMA_IF_ID);
  if (ifId !== undefined) sa.ifId = ifId;
  return { ok: true, value: sa };
}

/** Decodes an XFRM_MSG_EXPIRE (xfrm_user_expire): the SA and whether the hard limit was hit (it is gone). */
export function decodeExpire(payload: Buffer): Result<{ sa: XfrmSaInfo; hard: boolean }> {
  if (payload.length < USER_EXPIRE_LEN) return { ok: false, reason: `xfrm expire of ${payload.length} bytes, needs ${USER_EXPIRE_LEN}` };
  const sa = decodeSaAt(payload, USER_EXPIRE_LEN);
  return sa.ok ? { ok: true, value: { sa: sa.value, hard: payload[USERSA_INFO_LEN] !== 0 } } : sa;
}

/** Decodes xfrm_userpolicy_info and its attributes: an XFRM_MSG_NEWPOLICY/UPDPOLICY payload. */
export function decodePolicy(payload: Buffer): Result<XfrmPolicyInfo> {
  const b = payload;
  if (b.length < USERPOLICY_INFO_LEN) return { ok: false, reason: `xfrm policy message of ${b.length} bytes, needs ${USERPOLICY_INFO_LEN}` };
  const attrs = parseAttrs(b.subarray(USERPOLICY_INFO_LEN));
  if (!attrs.ok) return { ok: false, reason: `xfrm policy: ${attrs.reason}` };
  const m = attrs.value;
  const dir = DIRS[b[160]!];
  if (!dir) return { ok: false, reason: `xfrm policy direction ${b[160]}` };
  const templates: XfrmTemplate[] = [];
  const t = m.get(XFRMA_TMPL);
  if (t) {
    if (t.length % USER_TMPL_LEN !== 0) return { ok: false, reason: `XFRMA_TMPL of ${t.length} bytes is not a multiple of ${USER_TMPL_LEN}` };
    for (let off = 0; off < t.length; off += USER_TMPL_LEN) {
      const family = t.readUInt16LE(off + 24);
      const mode = MODES[t[off + 48]!];
      if (!mode) return { ok: false, reason: `xfrm template mode ${t[off + 48]}` };
      const tmpl: XfrmTemplate = {
        src: formatAddr(t, off + 28, family),
        dst: formatAddr(t, off, family),
        proto: t[off + 20]!,
        spi: t.readUInt32BE(off + 16),
        mode,
        reqid: t.readUInt32LE(off + 44),
      };
      if (t[off + 50]) tmpl.optional = true;
      templates.push(tmpl);
    }
  }
  const p: XfrmPolicyInfo = {
    family: b.readUInt16LE(40),
    selector: readSelector(b, 0),
    dir,
    action: b[161] === 1 ? 'block' : 'allow',
    priority: b.readUInt32LE(152),
    index: b.readUInt32LE(156),
    templates,
    current: readCurrent(b, 120),
  };
  const mark = readMark(m);
  if (mark) p.mark = mark;
  const ifId = getU32(m, XFRMA_IF_ID);
  if (ifId !== undefined) p.ifId = ifId;
  return { ok: true, value: p };
}

const TYPE_NAMES: Record<number, string> = {
  [XFRM_MSG_NEWSA]: 'XFRM_MSG_NEWSA', [XFRM_MSG_DELSA]: 'XFRM_MSG_DELSA', [XFRM_MSG_GETSA]: 'XFRM_MSG_GETSA',
  [XFRM_MSG_NEWPOLICY]: 'XFRM_MSG_NEWPOLICY', [XFRM_MSG_DELPOLICY]: 'XFRM_MSG_DELPOLICY', [XFRM_MSG_GETPOLICY]: 'XFRM_MSG_GETPOLICY',
  [XFRM_MSG_EXPIRE]: 'XFRM_MSG_EXPIRE', [XFRM_MSG_UPDPOLICY]: 'XFRM_MSG_UPDPOLICY', [XFRM_MSG_UPDSA]: 'XFRM_MSG_UPDSA',
  [XFRM_MSG_FLUSHSA]: 'XFRM_MSG_FLUSHSA', [XFRM_MSG_FLUSHPOLICY]: 'XFRM_MSG_FLUSHPOLICY',
};

/** The message type's name, for error messages (the netlink client names rtnetlink types only). */
export const xfrmMessageName = (type: number): string => TYPE_NAMES[type] ?? `xfrm message type ${type}`;
