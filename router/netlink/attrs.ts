// Netlink TLV attributes (struct nlattr): u16 length (header + value, unpadded), u16 type, value,
// padding to a 4-byte boundary. Host byte order, as the kernel expects, except where an attribute
// is defined big-endian (IFLA_VXLAN_PORT). Nested attributes carry NLA_F_NESTED.
import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK } from './constants.js';
import type { Result } from '../../lib/result.js';

/** An attribute to encode: raw bytes, or a list of attributes nested inside it. */
export interface Attr {
  type: number;
  value: Buffer | Attr[];
}

/** Decoded attributes of one level, by type (flags masked off); a repeated type keeps the last. */
export type AttrMap = Map<number, Buffer>;


export const align4 = (n: number): number => (n + 3) & ~3;

export function attrSize(attr: Attr): number {
  return align4(NLA_HDRLEN + valueSize(attr));
}

function valueSize(attr: Attr): number {
  if (Buffer.isBuffer(attr.value)) return attr.value.length;
  let n = 0;
  for (const a of attr.value) n += attrSize(a);
  return n;
}

export function attrsSize(attrs: Attr[]): number {
  let n = 0;
  for (const a of attrs) n += attrSize(a);
  return n;
}

/** Writes attrs at off (buf must be zeroed for the padding); returns the offset after them. */
export function writeAttrs(buf: Buffer, off: number, attrs: Attr[]): number {
  for (const a of attrs) {
    const len = NLA_HDRLEN + valueSize(a);
    buf.writeUInt16LE(len, off);
    if (Buffer.isBuffer(a.value)) {
      buf.writeUInt16LE(a.type, off + 2);
      a.value.copy(buf, off + NLA_HDRLEN);
    } else {
      buf.writeUInt16LE(a.type | NLA_F_NESTED, off + 2);
      writeAttrs(buf, off + NLA_HDRLEN, a.value);
    }
    off += align4(len);
  }
  return off;
}

export function encodeAttrs(attrs: Attr[]): Buffer {
  const buf = Buffer.alloc(attrsSize(attrs));
  writeAttrs(buf, 0, attrs);
  return buf;
}

/** Parses one level of attributes. The last attribute may omit its padding, as the kernel allows. */
export function parseAttrs(buf: Buffer): Result<AttrMap> {
  const map: AttrMap = new Map();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN) return { ok: false, reason: `attribute ${type} at ${off}: length ${len} < ${NLA_HDRLEN}` };
    if (off + len > buf.length) return { ok: false, reason: `attribute ${type} at ${off}: length ${len} runs past ${buf.length}` };
    map.set(type, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  if (off < buf.length) return { ok: false, reason: `${buf.length - off} trailing bytes after attributes` };
  return { ok: true, value: map };
}

// Value encoders.
export const u8 = (type: number, v: number): Attr => ({ type, value: Buffer.from([v & 0xff]) });
export function u16(type: number, v: number): Attr {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return { type, value: b };
}
export function u32(type: number, v: number): Attr {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return { type, value: b };
}
export function be16(type: number, v: number): Attr {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return { type, value: b };
}
/** A NUL-terminated string. */
export const str = (type: number, s: string): Attr => ({ type, value: Buffer.from(`${s}\0`, 'utf8') });
export const bytes = (type: number, value: Buffer): Attr => ({ type, value });
export const nested = (type: number, value: Attr[]): Attr => ({ type, value });

// Value decoders: undefined when absent or the wrong size.
export function getU8(m: AttrMap, type: number): number | undefined {
  const b = m.get(type);
  return b && b.length >= 1 ? b[0] : undefined;
}
export function getU16BE(m: AttrMap, type: number): number | undefined {
  const b = m.get(type);
  return b && b.length >= 2 ? b.readUInt16BE(0) : undefined;
}
export function getU32(m: AttrMap, type: number): number | undefined {
  const b = m.get(type);
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}
export function getStr(m: AttrMap, type: number): string | undefined {
  const b = m.get(type);
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}
export function getNested(m: AttrMap, type: number): AttrMap | undefined {
  const b = m.get(type);
  if (!b) return undefined;
  const r = parseAttrs(b);
  return r.ok ? r.value : undefined;
}
