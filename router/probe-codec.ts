// Path probes: VXLAN datagrams that a router sends from user space to a peer's UDP VXLAN port.
// The peer's kernel decapsulates them like any VXLAN packet and its bridge hands the inner frame
// (addressed to the bridge's MAC, ethertype PROBE_ETHERTYPE) to the router, which answers with a
// small ack the same way. An answered probe proves the path container traffic takes towards the
// peer, at the size the probe was padded to (the ack says how many bytes arrived).
//
// Outer UDP payload: VXLAN header (8: flags 0x08, VNI in bytes 4–6) + Ethernet header (14) + body:
//   "WFTP" u8 version<<4|kind (version 2; kind 1 probe, 2 ack) from[6] to[6] u32 seq nonce[16]
//   replyTo[4] probed[4] u16 mtu u16 received, zero padding.
// Version 1 (weft before issue 13) had the kind alone in that byte (0x01/0x02), no nonce and no
// `received`; its frames are refused here, and ours are refused by it ("unknown probe kind").
import type { PeerName } from '../mesh/peer-name.js';
import { peerNameFromBytes, peerNameToBytes } from '../mesh/peer-name.js';
import { parseIpv4, parseMac } from './addresses.js';
import { err, ok, type Result } from '../lib/result.js';

/** IEEE 802 "local experimental" ethertype 1. */
export const PROBE_ETHERTYPE = 0x88b5;
export const VXLAN_HEADER = 8;
export const ETH_HEADER = 14;
export const PROBE_VERSION = 2;
export const NONCE_BYTES = 16;
const MAGIC = 0x57465450; // "WFTP"
const BODY = 4 + 1 + 6 + 6 + 4 + NONCE_BYTES + 4 + 4 + 2 + 2;
/** The shortest probe frame (the 46-byte Ethernet payload minimum or the body); acks are this size. */
export const MIN_PROBE_FRAME = ETH_HEADER + Math.max(BODY, 46);

export type ProbeKind = 'probe' | 'ack';

export interface Probe {
  kind: ProbeKind;
  from: PeerName;
  to: PeerName;
  seq: number;
  /** Random per probe; the ack must echo it, so only a receiver of the probe can answer it. */
  nonce: Buffer;
  /**
   * Probe: where the sender wants the ack (its own underlay address; the responder sees only the
   * decapsulated frame, never the outer source, and answers only an address the sender announced).
   * Ack: the address that was probed.
   */
  replyTo: string;
  /** The address the probe was sent to (echoed in the ack, so the prober knows which one works). */
  probed: string;
  /** Probe: the overlay MTU the frame was padded to. Ack: echoed. */
  mtu: number;
  /** Ack: the bytes after the Ethernet header with which the probe arrived. Probe: 0. */
  received: number;
}

/** The inner frame's length for a probe padded to mtu (at least MIN_PROBE_FRAME). */
export function probeFrameLength(mtu: number): number {
  return ETH_HEADER + Math.max(mtu, MIN_PROBE_FRAME - ETH_HEADER);
}

/**
 * The UDP payload: VXLAN + Ethernet + probe body. A probe is padded so the inner frame carries
 * `mtu` bytes; an ack is never padded (it must not be larger than the probe it answers).
 */
export function encodeProbeDatagram(p: Probe, o: { vni: number; dstMac: string; srcMac: string }): Buffer {
  const b = Buffer.alloc(VXLAN_HEADER + (p.kind === 'probe' ? probeFrameLength(p.mtu) : MIN_PROBE_FRAME));
  b[0] = 0x08;
  b.writeUIntBE(o.vni & 0xffffff, 4, 3);
  (parseMac(o.dstMac) ?? Buffer.alloc(6)).copy(b, 8);
  (parseMac(o.srcMac) ?? Buffer.alloc(6)).copy(b, 14);
  b.writeUInt16BE(PROBE_ETHERTYPE, 20);
  let off = VXLAN_HEADER + ETH_HEADER;
  off = b.writeUInt32BE(MAGIC, off);
  off = b.writeUInt8((PROBE_VERSION << 4) | (p.kind === 'probe' ? 1 : 2), off);
  peerNameToBytes(p.from).copy(b, off);
  peerNameToBytes(p.to).copy(b, off + 6);
  off = b.writeUInt32BE(p.seq >>> 0, off + 12);
  p.nonce.copy(b, off, 0, NONCE_BYTES);
  off += NONCE_BYTES;
  (parseIpv4(p.replyTo) ?? Buffer.alloc(4)).copy(b, off);
  (parseIpv4(p.probed) ?? Buffer.alloc(4)).copy(b, off + 4);
  off = b.writeUInt16BE(p.mtu & 0xffff, off + 8);
  b.writeUInt16BE(Math.min(p.received, 0xffff), off);
  return b;
}

/** An Ethernet frame as the bridge delivers it (header included). */
export function decodeProbeFrame(frame: Buffer): Result<Probe> {
  if (frame.length < 19) return err('short probe frame');
  if (frame.readUInt16BE(12) !== PROBE_ETHERTYPE) return err('not a probe ethertype');
  let off = ETH_HEADER;
  if (frame.readUInt32BE(off) !== MAGIC) return err('bad probe magic');
  const version = frame[off + 4]! >> 4;
  const kind = frame[off + 4]! & 0x0f;
  if (version !== PROBE_VERSION) return err(`unsupported probe version ${version}`);
  if (kind !== 1 && kind !== 2) return err(`unknown probe kind ${kind}`);
  if (frame.length < ETH_HEADER + BODY) return err('short probe frame');
  off += 5;
  const from = peerNameFromBytes(frame.subarray(off, off + 6))!;
  const to = peerNameFromBytes(frame.subarray(off + 6, off + 12))!;
  const seq = frame.readUInt32BE(off + 12);
  off += 16;
  const nonce = Buffer.from(frame.subarray(off, off + NONCE_BYTES));
  off += NONCE_BYTES;
  const ip = (at: number): string => `${frame[at]}.${frame[at + 1]}.${frame[at + 2]}.${frame[at + 3]}`;
  const replyTo = ip(off);
  const probed = ip(off + 4);
  const mtu = frame.readUInt16BE(off + 8);
  const received = frame.readUInt16BE(off + 10);
  return ok({ kind: kind === 1 ? 'probe' : 'ack', from, to, seq, nonce, replyTo, probed, mtu, received });
}

/** The inner frame of a VXLAN datagram, if vni matches (what the receiving kernel does). */
export function decapsulate(datagram: Buffer, vni: number): Buffer | undefined {
  if (datagram.length < VXLAN_HEADER + ETH_HEADER || (datagram[0]! & 0x08) === 0) return undefined;
  if (datagram.readUIntBE(4, 3) !== vni) return undefined;
  return datagram.subarray(VXLAN_HEADER);
}
