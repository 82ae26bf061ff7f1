// Text ⇄ bytes for the addresses netlink carries: MAC "02:00:00:00:00:01", IPv4 "10.32.0.1",
// CIDR "10.32.0.1/12". Parsers throw on bad text (it comes from weft's own state, not the network);
// formatters never throw.
import { formatMac, parseIpv4, parseMac } from '../addresses.js';
import { formatIpv4 as formatIpv4Number, parseCidr as parseCidrNumber, parseIpv4 as parseIpv4Number } from '../../lib/ip.js';

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

/** "10.32.0.1/12" (or a bare address, /32) → its parts; throws on anything else. */
export function parseCidr(cidr: string): Cidr {
  const r = cidr.includes('/') ? parseCidrNumber(cidr) : parseIpv4Number(cidr);
  if (!r.ok) throw new Error(`bad IPv4 CIDR "${cidr}"`);
  return typeof r.value === 'number' ? { ip: formatIpv4Number(r.value), prefix: 32 } : { ip: formatIpv4Number(r.value.ip), prefix: r.value.prefix };
}
