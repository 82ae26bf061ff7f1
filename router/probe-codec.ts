// Path probes: full-size VXLAN datagrams that a router sends from user space to a peer's UDP
// VXLAN port. The peer's kernel decapsulates them like any VXLAN packet and its bridge hands the
// inner frame (addressed to the bridge's MAC, ethertype PROBE_ETHERTYPE) to the router, which
// answers with an ack the same way. An answered probe proves both directions of the exact path
// container traffic takes, at the full MTU.
//
// Outer UDP payload: VXLAN header (8: flags 0x08, VNI in bytes 4–6) + Ethernet header (14) + body:
//   "WFTP" u8 kind (1 probe, 2 ack) from[6] to[6] u32 seq replyTo[4] probed[4] u16 mtu, zero padding.
import type { PeerName } from '../mesh/peer-name.js';
import { peerNameFromBytes, peerNameToBytes } from '../mesh/peer-name.js';
import { parseIpv4, parseMac } from './addresses.js';
import type { Result } from '../lib/result.js';

/** IEEE 802 "local experimental" ethertype 1. */
export const PROBE_ETHERTYPE = 0x88b5;
export const VXLAN_HEADER = 8;
export const ETH_HEADER = 14;
const MAGIC = 0x57465450; // "WFTP"
const BODY = 4 + 1 + 6 + 6 + 4 + 4 + 4 + 2;

export type ProbeKind = 'probe' | 'ack';

export interface Probe {
  kind: ProbeKind;
  from: PeerName;
  to: PeerName;
  seq: number;
  /** Where the sender wants the ack (its own underlay address). */
  replyTo: string;
  /** The address the probe was sent to (echoed in the ack, so the prober knows which one works). */
  probed: string;
  /** The overlay MTU the frame was padded to. */
  mtu: number;
}

/** The UDP payload: VXLAN + Ethernet + probe body, padded so the inner frame carries `mtu` bytes. */
export function encodeProbeDatagram(p: Probe, o: { vni: number; dstMac: string; srcMac: string }): Buffer {
  // At least the 46-byte minimum Ethernet payload.
  const b = Buffer.alloc(VXLAN_HEADER + ETH_HEADER + Math.max(p.mtu, BODY, 46));
  b[0] = 0x08;
  b.writeUIntBE(o.vni & 0xffffff, 4, 3);
  (parseMac(o.dstMac) ?? Buffer.alloc(6)).copy(b, 8);
  (parseMac(o.srcMac) ?? Buffer.alloc(6)).copy(b, 14);
  b.writeUInt16BE(PROBE_ETHERTYPE, 20);
  let off = VXLAN_HEADER + ETH_HEADER;
  off = b.writeUInt32BE(MAGIC, off);
  off = b.writeUInt8(p.kind === 'probe' ? 1 : 2, off);
  peerNameToBytes(p.from).copy(b, off);
  peerNameToBytes(p.to).copy(b, off + 6);
  off = b.writeUInt32BE(p.seq >>> 0, off + 12);
  (parseIpv4(p.replyTo) ?? Buffer.alloc(4)).copy(b, off);
  (parseIpv4(p.probed) ?? Buffer.alloc(4)).copy(b, off + 4);
  b.writeUInt16BE(p.mtu, off + 8);
  return b;
}

/** An Ethernet frame as the bridge delivers it (header included). */
export function decodeProbeFrame(frame: Buffer): Result<Probe> {
  if (frame.length < ETH_HEADER + BODY) return { ok: false, reason: 'short probe frame' };
  if (frame.readUInt16BE(12) !== PROBE_ETHERTYPE) return { ok: false, reason: 'not a probe ethertype' };
  let off = ETH_HEADER;
  if (frame.readUInt32BE(off) !== MAGIC) return { ok: false, reason: 'bad probe magic' };
  const kind = frame[off + 4];
  if (kind !== 1 && kind !== 2) return { ok: false, reason: `unknown probe kind ${kind}` };
  off += 5;
  const from = peerNameFromBytes(frame.subarray(off, off + 6))!;
  const to = peerNameFromBytes(frame.subarray(off + 6, off + 12))!;
  const seq = frame.readUInt32BE(off + 12);
  const ip = (at: number): string => `${frame[at]}.${frame[at + 1]}.${frame[at + 2]}.${frame[at + 3]}`;
  const replyTo = ip(off + 16);
  const probed = ip(off + 20);
  const mtu = frame.readUInt16BE(off + 24);
  return { ok: true, value: { kind: kind === 1 ? 'probe' : 'ack', from, to, seq, replyTo, probed, mtu } };
}

/** The inner frame of a VXLAN datagram, if vni matches (what the receiving kernel does). */
export function decapsulate(datagram: Buffer, vni: number): Buffer | undefined {
  if (datagram.length < VXLAN_HEADER + ETH_HEADER || (datagram[0]! & 0x08) === 0) return undefined;
  if (datagram.readUIntBE(4, 3) !== vni) return undefined;
  return datagram.subarray(VXLAN_HEADER);
}
