// What each router tells the others about its data plane, on the "weft-dataplane" gossip
// channel: where to send VXLAN to it, its bridge MAC (probes are addressed to it), which peers it
// reaches directly (for relay choice), which relays it asked for and which it serves, and its
// endpoints (container MAC and IPs). One record per peer; the higher version wins, so a record
// is a delta-friendly unit: an update carries only the records that changed.
//
// Wire format (all integers big-endian), a message is: u8 format (1), u16 count, then records:
//   name[6] version u64 flags u8 mtu u16
//   u8 nAddr  addr[4]…                       underlay IPv4 addresses, preferred first
//   mac[6]                                    bridge MAC
//   u16 nDirect  name[6]…                     peers reached directly (probes answered)
//   u16 nWant    (dest[6] via[6])…            relays this peer uses: dest reached through via
//   u16 nServe   dest[6]…                     destinations this peer relays for others (device ready)
//   u32 nEp      (mac[6] u8 nIp ip[4]…)…      endpoints
import type { PeerName } from '../mesh/peer-name.js';
import { peerNameFromBytes, peerNameToBytes } from '../mesh/peer-name.js';
import { formatMac, parseIpv4, parseMac } from './addresses.js';
import type { Result } from '../lib/result.js';

export const RECORD_FORMAT = 1;
/** flags bit 0: the record is a tombstone (the peer left with `weft reset`). */
export const FLAG_GONE = 1;

export interface Endpoint {
  mac: string;
  ips: string[];
}

export interface PeerRecord {
  name: PeerName;
  version: bigint;
  gone: boolean;
  mtu: number;
  addresses: string[];
  bridgeMac: string;
  direct: PeerName[];
  relays: { dest: PeerName; via: PeerName }[];
  serving: PeerName[];
  endpoints: Endpoint[];
}


export function encodeRecords(records: readonly PeerRecord[]): Buffer {
  let size = 3;
  for (const r of records) {
    size += 6 + 8 + 1 + 2 + 1 + 4 * r.addresses.length + 6 + 2 + 6 * r.direct.length + 2 + 12 * r.relays.length + 2 + 6 * r.serving.length + 4;
    for (const e of r.endpoints) size += 7 + 4 * e.ips.length;
  }
  const b = Buffer.alloc(size);
  let o = b.writeUInt8(RECORD_FORMAT, 0);
  o = b.writeUInt16BE(records.length, o);
  const name = (n: PeerName): void => {
    peerNameToBytes(n).copy(b, o);
    o += 6;
  };
  for (const r of records) {
    name(r.name);
    o = b.writeBigUInt64BE(r.version, o);
    o = b.writeUInt8(r.gone ? FLAG_GONE : 0, o);
    o = b.writeUInt16BE(r.mtu, o);
    o = b.writeUInt8(r.addresses.length, o);
    for (const a of r.addresses) o = writeIp(b, o, a);
    o = writeMac(b, o, r.bridgeMac);
    o = b.writeUInt16BE(r.direct.length, o);
    r.direct.forEach(name);
    o = b.writeUInt16BE(r.relays.length, o);
    for (const x of r.relays) {
      name(x.dest);
      name(x.via);
    }
    o = b.writeUInt16BE(r.serving.length, o);
    r.serving.forEach(name);
    o = b.writeUInt32BE(r.endpoints.length, o);
    for (const e of r.endpoints) {
      o = writeMac(b, o, e.mac);
      o = b.writeUInt8(e.ips.length, o);
      for (const ip of e.ips) o = writeIp(b, o, ip);
    }
  }
  return b;
}

export function decodeRecords(buf: Buffer): Result<PeerRecord[]> {
  const r = new Reader(buf);
  const format = r.u8();
  if (format === undefined) return { ok: false, reason: 'empty dataplane message' };
  if (format !== RECORD_FORMAT) return { ok: false, reason: `unknown dataplane record format ${format}` };
  const count = r.u16();
  if (count === undefined) return { ok: false, reason: 'truncated record count' };
  const out: PeerRecord[] = [];
  for (let i = 0; i < count; i++) {
    const rec = readRecord(r);
    if (!rec) return { ok: false, reason: `truncated or malformed record ${i} of ${count}` };
    out.push(rec);
  }
  if (r.remaining !== 0) return { ok: false, reason: `${r.remaining} trailing bytes after ${count} records` };
  return { ok: true, value: out };
}

function readRecord(r: Reader): PeerRecord | undefined {
  const name = r.name();
  const version = r.u64();
  const flags = r.u8();
  const mtu = r.u16();
  const nAddr = r.u8();
  if (name === undefined || version === undefined || flags === undefined || mtu === undefined || nAddr === undefined) return undefined;
  const addresses = r.list(nAddr, () => r.ip());
  const bridgeMac = r.mac();
  const direct = r.list(r.u16(), () => r.name());
  const relays = r.list(r.u16(), () => {
    const dest = r.name();
    const via = r.name();
    return dest === undefined || via === undefined ? undefined : { dest, via };
  });
  const serving = r.list(r.u16(), () => r.name());
  const endpoints = r.list(r.u32(), () => {
    const mac = r.mac();
    const ips = r.list(r.u8(), () => r.ip());
    return mac === undefined || ips === undefined ? undefined : { mac, ips };
  });
  if (!addresses || bridgeMac === undefined || !direct || !relays || !serving || !endpoints) return undefined;
  return { name, version, gone: (flags & FLAG_GONE) !== 0, mtu, addresses, bridgeMac, direct, relays, serving, endpoints };
}

/** A bounds-checked cursor: every read returns undefined past the end instead of throwing. */
class Reader {
  private o = 0;
  constructor(private readonly b: Buffer) {}
  get remaining(): number {
    return this.b.length - this.o;
  }
  private take(n: number): number | undefined {
    if (this.o + n > this.b.length) return undefined;
    const at = this.o;
    this.o += n;
    return at;
  }
  u8(): number | undefined {
    const at = this.take(1);
    return at === undefined ? undefined : this.b[at];
  }
  u16(): number | undefined {
    const at = this.take(2);
    return at === undefined ? undefined : this.b.readUInt16BE(at);
  }
  u32(): number | undefined {
    const at = this.take(4);
    return at === undefined ? undefined : this.b.readUInt32BE(at);
  }
  u64(): bigint | undefined {
    const at = this.take(8);
    return at === undefined ? undefined : this.b.readBigUInt64BE(at);
  }
  name(): PeerName | undefined {
    const at = this.take(6);
    return at === undefined ? undefined : peerNameFromBytes(this.b.subarray(at, at + 6));
  }
  mac(): string | undefined {
    const at = this.take(6);
    return at === undefined ? undefined : formatMac(this.b.subarray(at, at + 6));
  }
  ip(): string | undefined {
    const at = this.take(4);
    return at === undefined ? undefined : `${this.b[at]}.${this.b[at + 1]}.${this.b[at + 2]}.${this.b[at + 3]}`;
  }
  /** n items, or undefined if n is undefined, the bytes cannot hold n items, or one is malformed. */
  list<T>(n: number | undefined, item: () => T | undefined): T[] | undefined {
    if (n === undefined || n > this.remaining) return undefined;
    const out: T[] = [];
    for (let i = 0; i < n; i++) {
      const v = item();
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out;
  }
}

function writeMac(b: Buffer, o: number, mac: string): number {
  const bytes = parseMac(mac) ?? Buffer.alloc(6);
  bytes.copy(b, o);
  return o + 6;
}

function writeIp(b: Buffer, o: number, ip: string): number {
  const bytes = parseIpv4(ip) ?? Buffer.alloc(4);
  bytes.copy(b, o);
  return o + 4;
}
