// IPv4 text ⇄ numbers, strictly: the one address parser (built on ip-address's Address4).
//
// Accepted: a dotted quad of decimal octets 0–255 without leading zeros ("10.32.0.5", not
// "010.32.0.5", " 10.32.0.5" or "10.32.5"), and for CIDRs "/N" with N 0–32, also without
// leading zeros. Addresses are held as unsigned 32-bit integers (0 … 2^32-1). Parsers return a
// Result and never throw, whatever the text.
import { Address4 } from 'ip-address';
import { err, ok, type Result } from './result.js';

/** An IPv4 prefix: `ip` as written (host bits may be set), `prefix` 0–32. */
export interface Cidr {
  ip: number;
  prefix: number;
}

const DOTTED_QUAD = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;
const PREFIX = /^(0|[1-9][0-9]?)$/;

/** "10.32.0.5" → 0x0a200005. */
export function parseIpv4(text: string): Result<number> {
  if (typeof text !== 'string' || !DOTTED_QUAD.test(text)) {
    return err(`"${text}" is not an IPv4 address: write four numbers 0–255 without leading zeros, like 10.32.0.5`);
  }
  try {
    // Address4 checks each octet's range (the pattern above only its shape).
    return ok(Number(new Address4(text).bigInt()));
  } catch {
    return err(`"${text}" is not an IPv4 address: each of the four numbers must be 0–255, like 10.32.0.5`);
  }
}

/** 0x0a200005 → "10.32.0.5". The number must be an integer 0 … 2^32-1. */
export function formatIpv4(n: number): string {
  return Address4.fromInteger(n).correctForm();
}

/** "10.32.0.5/12" → { ip: 10.32.0.5, prefix: 12 }; host bits may be set (an interface address). */
export function parseCidr(text: string): Result<Cidr> {
  if (typeof text !== 'string') return err(`${String(text)} is not ADDR/PREFIX`);
  const slash = text.indexOf('/');
  if (slash < 0) return err(`"${text}" has no prefix length: write ADDR/PREFIX, like 10.32.0.5/12`);
  const ip = parseIpv4(text.slice(0, slash));
  if (!ip.ok) return err(`"${text}" is not ADDR/PREFIX: ${ip.reason}`);
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!PREFIX.test(prefixText) || prefix > 32) return err(`"${text}" is not ADDR/PREFIX: the prefix length must be a number 0–32, like 10.32.0.5/12`);
  return ok({ ip: ip.value, prefix });
}

/** A network ("10.32.0.0/12", for ranges): like parseCidr, but no host bits may be set. */
export function parseNetwork(text: string): Result<Cidr> {
  const c = parseCidr(text);
  if (!c.ok) return c;
  const net = networkOf(c.value);
  if (net !== c.value.ip) {
    return err(`"${text}" is not a network: its host bits are set; the network is ${formatCidr({ ip: net, prefix: c.value.prefix })}`);
  }
  return c;
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.ip)}/${c.prefix}`;
}

/** The mask of a prefix length as an unsigned integer (/12 → 0xfff00000). */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The first address of the prefix (host bits cleared). */
export function networkOf(c: Cidr): number {
  return (c.ip & maskOf(c.prefix)) >>> 0;
}

/** The last address of the prefix (host bits set). */
export function broadcastOf(c: Cidr): number {
  return (networkOf(c) | ~maskOf(c.prefix)) >>> 0;
}

/** True when ip lies inside the prefix `net` (its host bits are ignored). */
export function contains(net: Cidr, ip: number): boolean {
  return ((ip & maskOf(net.prefix)) >>> 0) === networkOf(net);
}

/** True when every address of `inner` lies inside `outer`. */
export function covers(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.ip);
}

const EXAMPLE = 'like 10.32.0.5/12';

/**
 * Checks the address of a container (or of this host on the overlay): ADDR/PREFIX naming one
 * unicast address that can be routed between hosts. Refused, each with why and what to write:
 * prefix /0; 0.0.0.0/8 ("this network"); loopback 127/8; link-local 169.254/16 (never routed,
 * and a container there would shadow the cloud metadata address 169.254.169.254); multicast
 * 224/4; reserved 240/4 and 255.255.255.255; and, for prefixes up to /30, the network and
 * broadcast address of its own prefix (/31 and /32 have neither).
 */
export function checkHostCidr(text: string): Result<Cidr> {
  const c = parseCidr(text);
  if (!c.ok) return c;
  const { ip, prefix } = c.value;
  const a = Address4.fromInteger(ip);
  const say = (what: string, need = `a container needs a unicast address, ${EXAMPLE}`): Result<Cidr> => err(`"${text}" ${what}: ${need}`);
  if (prefix === 0) return say('has prefix length 0 (every address)', `give the overlay's prefix length, ${EXAMPLE}`);
  if (ip >>> 24 === 0) return say('is in 0.0.0.0/8, which means "this host" and is never assigned');
  if (a.isLoopback()) return say('is a loopback address (127.0.0.0/8), which never leaves its own namespace');
  if (a.isLinkLocal()) return say('is a link-local address (169.254.0.0/16), which is never routed between hosts');
  if (a.isMulticast()) return say('is a multicast address');
  if (a.isBroadcast()) return say('is the broadcast address');
  if (a.isReserved()) return say('is in the reserved range 240.0.0.0/4');
  if (prefix <= 30) {
    const net = formatCidr({ ip: networkOf(c.value), prefix });
    if (ip === networkOf(c.value)) return say(`is the network address of ${net}`, `pick an address inside it, like ${formatIpv4(ip + 1)}/${prefix}`);
    if (ip === broadcastOf(c.value)) return say(`is the broadcast address of ${net}`, `pick an address inside it, like ${formatIpv4(ip - 1)}/${prefix}`);
  }
  return c;
}

/** Why text is not a usable host address with a prefix (checkHostCidr's reason), or undefined when it is. */
export function hostCidrProblem(text: string): string | undefined {
  const r = checkHostCidr(text);
  return r.ok ? undefined : r.reason;
}

/** Whether an IPv4 address (text) lies in the network `range` (CIDR text); false for anything that does not parse. */
export function inNetwork(range: string): (ip: string) => boolean {
  const net = parseNetwork(range);
  return (ip) => {
    const a = parseIpv4(ip);
    return net.ok && a.ok && contains(net.value, a.value);
  };
}
