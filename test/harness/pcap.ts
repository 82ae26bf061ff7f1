// Test packets and pcap files: builders for Ethernet, IPv4, UDP, ICMP echo, TCP SYN and VXLAN,
// a classic pcap writer (LINKTYPE_RAW: each record is an IPv4 packet) and a reader for it.
// Checksums are real so that an independent dissector sees well-formed packets.
import { readFile, writeFile } from 'node:fs/promises';

export const LINKTYPE_RAW = 101;
export const ETHERTYPE_IPV4 = 0x0800;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export function ipv4Bytes(addr: string): Buffer {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new RangeError(`not an IPv4 address: ${addr}`);
  }
  return Buffer.from(parts);
}

/** The Internet checksum (RFC 1071) of the concatenated parts. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const part of parts) {
    for (const byte of part) {
      if (odd === undefined) {
        odd = byte;
      } else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudoHeader(src: string, dst: string, proto: number, length: number): Buffer {
  const b = Buffer.alloc(12);
  ipv4Bytes(src).copy(b, 0);
  ipv4Bytes(dst).copy(b, 4);
  b[9] = proto;
  b.writeUInt16BE(length, 10);
  return b;
}

export function ipv4(opts: { src: string; dst: string; proto: number; id?: number; ttl?: number }, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(opts.id ?? 1, 4);
  h.writeUInt16BE(0x4000, 6); // don't fragment
  h[8] = opts.ttl ?? 64;
  h[9] = opts.proto;
  ipv4Bytes(opts.src).copy(h, 12);
  ipv4Bytes(opts.dst).copy(h, 16);
  h.writeUInt16BE(internetChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

/** A UDP header and payload; with addresses the checksum is computed, without it is 0 (as the kernel's VXLAN sends). */
export function udp(opts: { srcPort: number; dstPort: number; src?: string; dst?: string }, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt16BE(opts.srcPort, 0);
  b.writeUInt16BE(opts.dstPort, 2);
  b.writeUInt16BE(b.length, 4);
  b.set(payload, 8);
  if (opts.src !== undefined && opts.dst !== undefined) {
    const sum = internetChecksum(pseudoHeader(opts.src, opts.dst, IPPROTO_UDP, b.length), b);
    b.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  }
  return b;
}

export function ipv4Udp(
  opts: { src: string; dst: string; srcPort: number; dstPort: number; id?: number; udpChecksum?: boolean },
  payload: Uint8Array,
): Buffer {
  const addrs = opts.udpChecksum === false ? {} : { src: opts.src, dst: opts.dst };
  return ipv4({ src: opts.src, dst: opts.dst, proto: IPPROTO_UDP, id: opts.id }, udp({ ...opts, ...addrs }, payload));
}

export function macBytes(mac: string): Buffer {
  const b = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  if (b.length !== 6) throw new RangeError(`not a MAC address: ${mac}`);
  return b;
}

export function ethernet(opts: { dst: string; src: string; type: number }, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(14);
  macBytes(opts.dst).copy(h, 0);
  macBytes(opts.src).copy(h, 6);
  h.writeUInt16BE(opts.type, 12);
  return Buffer.concat([h, payload]);
}

export function icmpEchoRequest(opts: { id: number; seq: number }, data: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b[0] = 8;
  b.writeUInt16BE(opts.id, 4);
  b.writeUInt16BE(opts.seq, 6);
  b.set(data, 8);
  b.writeUInt16BE(internetChecksum(b), 2);
  return b;
}

export function tcpSyn(opts: { src: string; dst: string; srcPort: number; dstPort: number; seq: number }): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(opts.srcPort, 0);
  b.writeUInt16BE(opts.dstPort, 2);
  b.writeUInt32BE(opts.seq, 4);
  b[12] = 5 << 4;
  b[13] = 0x02;
  b.writeUInt16BE(65535, 14);
  b.writeUInt16BE(internetChecksum(pseudoHeader(opts.src, opts.dst, IPPROTO_TCP, b.length), b), 16);
  return b;
}

/** The 8-byte VXLAN header (RFC 7348, I flag set) and the inner frame. */
export function vxlan(vni: number, frame: Uint8Array): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0x08;
  h.writeUIntBE(vni, 4, 3);
  return Buffer.concat([h, frame]);
}

export interface PcapRecord {
  /** Seconds since the epoch (fractional part kept to the microsecond). */
  time: number;
  data: Buffer;
}

export function encodePcap(records: readonly PcapRecord[], linktype = LINKTYPE_RAW): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262_144, 16);
  header.writeUInt32LE(linktype, 20);
  const parts: Buffer[] = [header];
  for (const r of records) {
    const h = Buffer.alloc(16);
    const secs = Math.floor(r.time);
    h.writeUInt32LE(secs, 0);
    h.writeUInt32LE(Math.round((r.time - secs) * 1e6), 4);
    h.writeUInt32LE(r.data.length, 8);
    h.writeUInt32LE(r.data.length, 12);
    parts.push(h, r.data);
  }
  return Buffer.concat(parts);
}

/** Decodes a little-endian microsecond pcap file; undefined if it is not one. */
export function decodePcap(file: Buffer): { linktype: number; records: PcapRecord[] } | undefined {
  if (file.length < 24 || file.readUInt32LE(0) !== 0xa1b2c3d4) return undefined;
  const linktype = file.readUInt32LE(20);
  const records: PcapRecord[] = [];
  let p = 24;
  while (p + 16 <= file.length) {
    const caplen = file.readUInt32LE(p + 8);
    if (p + 16 + caplen > file.length) return undefined;
    records.push({ time: file.readUInt32LE(p) + file.readUInt32LE(p + 4) / 1e6, data: file.subarray(p + 16, p + 16 + caplen) });
    p += 16 + caplen;
  }
  return { linktype, records };
}

export async function writePcap(path: string, records: readonly PcapRecord[]): Promise<void> {
  await writeFile(path, encodePcap(records));
}

export async function readPcap(path: string): Promise<{ linktype: number; records: PcapRecord[] } | undefined> {
  return decodePcap(await readFile(path));
}

/** The UDP payload of a raw IPv4/UDP packet (no options checks beyond the IHL), or undefined. */
export function udpPayload(packet: Buffer): { srcPort: number; dstPort: number; payload: Buffer } | undefined {
  if (packet.length < 20 || packet[0]! >> 4 !== 4 || packet[9] !== IPPROTO_UDP) return undefined;
  const ihl = (packet[0]! & 0x0f) * 4;
  if (packet.length < ihl + 8) return undefined;
  const len = packet.readUInt16BE(ihl + 4);
  if (len < 8 || ihl + len > packet.length) return undefined;
  return { srcPort: packet.readUInt16BE(ihl), dstPort: packet.readUInt16BE(ihl + 2), payload: packet.subarray(ihl + 8, ihl + len) };
}
