// Text ⇄ bytes for the addresses netlink carries: MAC "02:00:00:00:00:01", IPv4 "10.32.0.1",
// CIDR "10.32.0.1/12". Parsers throw on bad text (it comes from weft's own state, not the network);
// formatters never throw.
import { isIPv4 } from 'node:net';
import { formatMac, parseIpv4, parseMac } from '../addresses.js';

export { formatMac };

export function macBytes(mac: string): Buffer {
  const b = parseMac(mac);
  if (!b) throw new Error(`bad MAC address "${mac}"`);
  return b;
}

export function ipv4Bytes(ip: string): Buffer {
  const b = parseIpv4(ip);
  if (!b) throw new Error(`bad IPv4 address "${ip}"`);
  return b;
}

/** Dotted quad of a 4-byte address; undefined for any other length (IPv6 entries are skipped). */
export function formatIpv4(b: Buffer | undefined): string | undefined {
  return b && b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : undefined;
}

export interface Cidr {
  ip: string;
  prefix: number;
}

export function parseCidr(cidr: string): Cidr {
  const slash = cidr.indexOf('/');
  const ip = slash < 0 ? cidr : cidr.slice(0, slash);
  const prefix = slash < 0 ? 32 : Number(cidr.slice(slash + 1));
  if (!isIPv4(ip) || !Number.isInteger(prefix) || prefix < 0 || prefix > 32 || (slash >= 0 && !/^\d+$/.test(cidr.slice(slash + 1)))) {
    throw new Error(`bad IPv4 CIDR "${cidr}"`);
  }
  return { ip, prefix };
}
