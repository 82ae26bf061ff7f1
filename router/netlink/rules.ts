// FIB rules (policy routing) over rtnetlink: RTM_NEWRULE / RTM_DELRULE / RTM_GETRULE, as
// `ip rule add to PEER/32 ipproto udp dport 6784 lookup 6784 priority 100` sends them.
//
//   fib_rule_hdr (12): u8 family | u8 dst_len | u8 src_len | u8 tos | u8 table | u8 res1 | u8 res2 | u8 action | u32 flags
//   then FRA_* attributes; port ranges are struct fib_rule_port_range { u16 start; u16 end } in host order.
import { bytes, getU32, getU8, parseAttrs, u32, u8, writeAttrs, attrsSize, type Attr } from './attrs.js';
import { formatIpv4, ipv4Bytes, parseCidr } from './address-text.js';
import type { NlRequest } from './codec.js';
import { AF_INET, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL } from './constants.js';
import type { Result } from '../../lib/result.js';

// <linux/rtnetlink.h>, <linux/fib_rules.h>
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
export const FIB_RULE_HDR_LEN = 12;
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_PRIORITY = 6;
export const FRA_TABLE = 15;
export const FRA_PROTOCOL = 21;
export const FRA_IP_PROTO = 22;
export const FRA_SPORT_RANGE = 23;
export const FRA_DPORT_RANGE = 24;
export const FR_ACT_TO_TBL = 1;
export const FR_ACT_BLACKHOLE = 6;
export const RT_TABLE_UNSPEC = 0;
/** A protocol number the UAPI header assigns to no daemon; weft marks its rules with it so they can be told apart. */
export const RTPROT_WEFT = 0x5e;

/** One IPv4 rule: a selector and either a table lookup or a blackhole. */
export interface FibRule {
  priority: number;
  /** CIDR the destination must be in; absent = any. */
  to?: string;
  from?: string;
  /** IP protocol number (17 = UDP). */
  ipProto?: number;
  sport?: [number, number];
  dport?: [number, number];
  /** Table to look up (any u32); absent with action 'blackhole'. */
  table?: number;
  action: 'lookup' | 'blackhole';
  /** FRA_PROTOCOL: who installed the rule. */
  protocol?: number;
}

function portRange(type: number, r: [number, number]): Attr {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(r[0], 0);
  b.writeUInt16LE(r[1], 2);
  return bytes(type, b);
}

function ruleAttrs(rule: FibRule): { attrs: Attr[]; dstLen: number; srcLen: number } {
  const attrs: Attr[] = [];
  let dstLen = 0;
  let srcLen = 0;
  if (rule.to !== undefined) {
    const c = parseCidr(rule.to);
    dstLen = c.prefix;
    attrs.push(bytes(FRA_DST, ipv4Bytes(c.ip)));
  }
  if (rule.from !== undefined) {
    const c = parseCidr(rule.from);
    srcLen = c.prefix;
    attrs.push(bytes(FRA_SRC, ipv4Bytes(c.ip)));
  }
  attrs.push(u32(FRA_PRIORITY, rule.priority));
  if (rule.action === 'lookup') {
    if (rule.table === undefined) throw new Error('a lookup rule needs a table');
    attrs.push(u32(FRA_TABLE, rule.table));
  }
  if (rule.protocol !== undefined) attrs.push(u8(FRA_PROTOCOL, rule.protocol));
  if (rule.ipProto !== undefined) attrs.push(u8(FRA_IP_PROTO, rule.ipProto));
  if (rule.sport) attrs.push(portRange(FRA_SPORT_RANGE, rule.sport));
  if (rule.dport) attrs.push(portRange(FRA_DPORT_RANGE, rule.dport));
  return { attrs, dstLen, srcLen };
}

function ruleMsg(rule: FibRule): Buffer {
  const { attrs, dstLen, srcLen } = ruleAttrs(rule);
  const buf = Buffer.alloc(FIB_RULE_HDR_LEN + attrsSize(attrs));
  buf[0] = AF_INET;
  buf[1] = dstLen;
  buf[2] = srcLen;
  // Tables above 255 travel in FRA_TABLE only; the header byte then says RT_TABLE_UNSPEC.
  buf[4] = rule.action === 'lookup' && rule.table! < 256 ? rule.table! : RT_TABLE_UNSPEC;
  buf[7] = rule.action === 'lookup' ? FR_ACT_TO_TBL : FR_ACT_BLACKHOLE;
  writeAttrs(buf, FIB_RULE_HDR_LEN, attrs);
  return buf;
}

/** `ip rule add …`; EEXIST if the same rule is there (rules have no REPLACE). */
export const newRule = (rule: FibRule): NlRequest => ({ type: RTM_NEWRULE, flags: NLM_F_CREATE | NLM_F_EXCL, payload: ruleMsg(rule) });
/** `ip rule del …`: the kernel deletes the first rule matching every given field. */
export const delRule = (rule: FibRule): NlRequest => ({ type: RTM_DELRULE, flags: 0, payload: ruleMsg(rule) });
export const dumpRules = (): NlRequest => ({ type: RTM_GETRULE, flags: NLM_F_DUMP, payload: Buffer.from([AF_INET, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) });

/** Decodes an RTM_NEWRULE (dump entry or event); rules with actions other than lookup/blackhole keep action 'other'. */
export function decodeRule(payload: Buffer): Result<Omit<FibRule, 'action'> & { action: FibRule['action'] | 'other' }> {
  if (payload.length < FIB_RULE_HDR_LEN) return { ok: false, reason: `fib_rule_hdr: ${payload.length} bytes, header needs ${FIB_RULE_HDR_LEN}` };
  if (payload[0] !== AF_INET) return { ok: false, reason: `family ${payload[0]} is not AF_INET` };
  const a = parseAttrs(payload.subarray(FIB_RULE_HDR_LEN));
  if (!a.ok) return { ok: false, reason: `fib_rule_hdr: ${a.reason}` };
  const m = a.value;
  const act = payload[7];
  const rule: Omit<FibRule, 'action'> & { action: FibRule['action'] | 'other' } = {
    priority: getU32(m, FRA_PRIORITY) ?? 0,
    action: act === FR_ACT_TO_TBL ? 'lookup' : act === FR_ACT_BLACKHOLE ? 'blackhole' : 'other',
  };
  const dst = formatIpv4(m.get(FRA_DST));
  if (dst !== undefined) rule.to = `${dst}/${payload[1]}`;
  const src = formatIpv4(m.get(FRA_SRC));
  if (src !== undefined) rule.from = `${src}/${payload[2]}`;
  if (act === FR_ACT_TO_TBL) rule.table = getU32(m, FRA_TABLE) ?? payload[4];
  const proto = getU8(m, FRA_IP_PROTO);
  if (proto !== undefined) rule.ipProto = proto;
  const by = getU8(m, FRA_PROTOCOL);
  if (by !== undefined) rule.protocol = by;
  for (const [type, key] of [[FRA_SPORT_RANGE, 'sport'], [FRA_DPORT_RANGE, 'dport']] as const) {
    const b = m.get(type);
    if (b && b.length >= 4) rule[key] = [b.readUInt16LE(0), b.readUInt16LE(2)];
  }
  return { ok: true, value: rule };
}
