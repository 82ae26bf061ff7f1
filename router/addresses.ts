// MAC and IPv4 text ⇄ bytes, shared by the data plane's codecs, the netlink layer and the
// in-memory kernel. Parsers return undefined on bad text; callers decide whether that throws.
// IPv4 text is read by the one address parser, lib/ip.ts.
import { parseIpv4 as parseIpv4Number } from '../lib/ip.js';

export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** "02:00:00:00:00:01" (either case) → 6 bytes. */
export function parseMac(text: string): Buffer | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(text);
  return m ? Buffer.from(m.slice(1).map((h) => parseInt(h, 16))) : undefined;
}

/** "10.32.0.1" → 4 bytes. */
export function parseIpv4(text: string): Buffer | undefined {
  const r = parseIpv4Number(text);
  if (!r.ok) return undefined;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(r.value);
  return b;
}
