// MAC and IPv4 text ⇄ bytes, shared by the data plane's codecs, the netlink layer and the
// in-memory kernel. Parsers return undefined on bad text; callers decide whether that throws.
// IPv4 text is read by the one address parser, lib/ip.ts.
import { parseIpv4 as parseIpv4Number } from '../lib/ip.js';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function formatMac(b: Uint8Array): string {
  // A table, not toString/padStart/join per byte: a dump of 100,000 entries formats 100,000 MACs.
  if (b.length === 6) return `${HEX[b[0]!]}:${HEX[b[1]!]}:${HEX[b[2]!]}:${HEX[b[3]!]}:${HEX[b[4]!]}:${HEX[b[5]!]}`;
  let s = '';
  for (let i = 0; i < b.length; i++) s += (i === 0 ? '' : ':') + HEX[b[i]!];
  return s;
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
