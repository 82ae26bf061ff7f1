// Netlink message framing (struct nlmsghdr, 16 bytes, host byte order = little-endian on the
// machines weft supports):
//
//   u32 len (header + payload, unpadded) | u16 type | u16 flags | u32 seq | u32 port id | payload…
//
// Messages in a datagram are each padded to 4 bytes. NLMSG_ERROR carries an int errno (0 = ACK,
// negative = failure), the request's header (and its payload unless NLM_F_CAPPED), then extended-ack
// attributes when NLM_F_ACK_TLVS is set. NLMSG_DONE ends a dump and carries an int (negative = failed).
import { align4, parseAttrs, getStr } from './attrs.js';
import { NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSGERR_ATTR_MSG } from './constants.js';
import type { Result } from '../../lib/result.js';

/** A request before the client gives it a sequence number. */
export interface NlRequest {
  type: number;
  /** NLM_F_* flags; the client adds NLM_F_REQUEST (and NLM_F_ACK where it waits for one). */
  flags: number;
  payload: Buffer;
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  port: number;
  payload: Buffer;
}

export function messageSize(payloadLength: number): number {
  return align4(NLMSG_HDRLEN + payloadLength);
}

/** Writes one message at off (buf zeroed for the padding); returns the offset after it. */
export function writeMessage(buf: Buffer, off: number, m: { type: number; flags: number; seq: number; port?: number; payload: Buffer }): number {
  buf.writeUInt32LE(NLMSG_HDRLEN + m.payload.length, off);
  buf.writeUInt16LE(m.type, off + 4);
  buf.writeUInt16LE(m.flags, off + 6);
  buf.writeUInt32LE(m.seq >>> 0, off + 8);
  buf.writeUInt32LE((m.port ?? 0) >>> 0, off + 12);
  m.payload.copy(buf, off + NLMSG_HDRLEN);
  return off + messageSize(m.payload.length);
}

export function encodeMessage(m: { type: number; flags: number; seq: number; port?: number; payload: Buffer }): Buffer {
  const buf = Buffer.alloc(messageSize(m.payload.length));
  writeMessage(buf, 0, m);
  return buf;
}

/** Splits a datagram into messages. Payloads are views into the datagram. */
export function parseMessages(datagram: Buffer): Result<NlMessage[]> {
  const out: NlMessage[] = [];
  let off = 0;
  while (off < datagram.length) {
    if (off + NLMSG_HDRLEN > datagram.length) return { ok: false, reason: `${datagram.length - off} bytes left at ${off}, shorter than a netlink header` };
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN) return { ok: false, reason: `message at ${off}: length ${len} < ${NLMSG_HDRLEN}` };
    if (off + len > datagram.length) return { ok: false, reason: `message at ${off}: length ${len} runs past ${datagram.length}` };
    out.push({
      type: datagram.readUInt16LE(off + 4),
      flags: datagram.readUInt16LE(off + 6),
      seq: datagram.readUInt32LE(off + 8),
      port: datagram.readUInt32LE(off + 12),
      payload: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return { ok: true, value: out };
}

export interface NlError {
  /** Positive errno; 0 = acknowledged. */
  errno: number;
  /** The kernel's extended-ack text (NLMSGERR_ATTR_MSG), when it sent one. */
  message?: string;
}

/** Decodes an NLMSG_ERROR payload; `flags` are the NLMSG_ERROR message's own flags. */
export function parseError(payload: Buffer, flags: number): Result<NlError> {
  if (payload.length < 4) return { ok: false, reason: `NLMSG_ERROR payload of ${payload.length} bytes` };
  const errno = -payload.readInt32LE(0) || 0;
  if (errno < 0) return { ok: false, reason: `NLMSG_ERROR with positive error ${-errno}` };
  if (!(flags & NLM_F_ACK_TLVS) || payload.length < 4 + NLMSG_HDRLEN) return { ok: true, value: { errno } };
  // The echoed request: its header always, its payload too unless capped (ACKs are always capped).
  const echoedLen = flags & NLM_F_CAPPED || errno === 0 ? NLMSG_HDRLEN : payload.readUInt32LE(4);
  const tlvStart = 4 + align4(Math.max(NLMSG_HDRLEN, echoedLen));
  if (tlvStart > payload.length) return { ok: true, value: { errno } };
  const attrs = parseAttrs(payload.subarray(tlvStart));
  const message = attrs.ok ? getStr(attrs.value, NLMSGERR_ATTR_MSG) : undefined;
  return { ok: true, value: message ? { errno, message } : { errno } };
}

/** Decodes an NLMSG_DONE payload: the dump's status (0 or a positive errno), plus ext-ack text. */
export function parseDone(payload: Buffer, flags: number): NlError {
  if (payload.length < 4) return { errno: 0 };
  const errno = Math.max(0, -payload.readInt32LE(0));
  if (!(flags & NLM_F_ACK_TLVS) || payload.length <= 4) return { errno };
  const attrs = parseAttrs(payload.subarray(4));
  const message = attrs.ok ? getStr(attrs.value, NLMSGERR_ATTR_MSG) : undefined;
  return message ? { errno, message } : { errno };
}
