// Peer names in mesh's "mac" flavour: a 48-bit value, written like a MAC address
// (aa:bb:cc:dd:ee:ff), carried as uint64 in gossip headers and as 6 bytes in topology.
import { randomBytes } from 'node:crypto';

export type PeerName = bigint;

export const PEER_NAME_FLAVOUR = 'mac';
const MAX = (1n << 48n) - 1n;

/**
 * Names formatted before: status and logs format the same few hundred names over and over (a
 * status of 100 peers × 12 connections is 1,300 of them). Bounded: a flood of new names only
 * empties it now and then.
 */
const formatted = new Map<PeerName, string>();
const FORMATTED_MAX = 4096;

/** Formats a name as six colon-separated lower-case hex bytes. */
export function formatPeerName(name: PeerName): string {
  let text = formatted.get(name);
  if (text === undefined) {
    text = name.toString(16).padStart(12, '0').match(/../g)!.join(':');
    if (formatted.size >= FORMATTED_MAX) formatted.clear();
    formatted.set(name, text);
  }
  return text;
}

/**
 * Parses aa:bb:cc:dd:ee:ff, also with "::" standing for a run of zero bytes (as mesh accepts,
 * e.g. "::1" = 00:00:00:00:00:01). Returns undefined if the text is not a valid name.
 */
export function parsePeerName(text: string): PeerName | undefined {
  const t = text.trim().toLowerCase();
  if (t.length === 0 || t.length > 17) return undefined;
  let parts: string[];
  const dbl = t.indexOf('::');
  if (dbl >= 0) {
    if (t.indexOf('::', dbl + 1) >= 0) return undefined;
    const left = t.slice(0, dbl) === '' ? [] : t.slice(0, dbl).split(':');
    const right = t.slice(dbl + 2) === '' ? [] : t.slice(dbl + 2).split(':');
    const fill = 6 - left.length - right.length;
    if (fill < 1) return undefined;
    parts = [...left, ...Array<string>(fill).fill('0'), ...right];
  } else {
    parts = t.split(':');
  }
  if (parts.length !== 6) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^[0-9a-f]{1,2}$/.test(p)) return undefined;
    v = (v << 8n) | BigInt(parseInt(p, 16));
  }
  return v;
}

export function peerNameToBytes(name: PeerName): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(Number(name & MAX), 0, 6);
  return b;
}

/** 6 bytes (mac flavour) → name; other lengths are rejected. */
export function peerNameFromBytes(bytes: Uint8Array): PeerName | undefined {
  if (bytes.length !== 6) return undefined;
  return BigInt(bytes[0]! * 2 ** 40 + bytes[1]! * 2 ** 32 + bytes[2]! * 2 ** 24 + bytes[3]! * 2 ** 16 + bytes[4]! * 2 ** 8 + bytes[5]!);
}

/** A random locally-administered unicast MAC-style name, as a fresh host gets once. */
export function randomPeerName(random: (n: number) => Buffer = randomBytes): PeerName {
  const b = random(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return BigInt(b.readUIntBE(0, 6));
}

export function isValidPeerName(name: bigint): boolean {
  return name >= 0n && name <= MAX;
}
