// The ring on the wire and on disk (a whole ring or a delta), all integers big-endian:
//   u8 format (1) · u32 start · u32 end · u8 n · genesis[n] (printable ASCII)
//   u32 count · count × (u32 token · owner[6] · u32 version · u32 free)
// decodeRing checks the layout only; Ring.merge drops entries that do not fit the ring.
import type { Result } from '../lib/result.js';
import { peerNameFromBytes, peerNameToBytes } from '../mesh/peer-name.js';
import { WeftError } from '../lib/errors.js';
import type { Entry, RingState } from './types.js';

export const RING_FORMAT = 1;
const HEADER = 1 + 4 + 4 + 1;
const ENTRY_SIZE = 4 + 6 + 4 + 4;
const PRINTABLE = /^[\x20-\x7e]*$/;

export function ringSize(s: RingState): number {
  return HEADER + s.genesis.length + 4 + ENTRY_SIZE * s.entries.length;
}

/** Throws WeftError 'usage' on a state that cannot be encoded (values beyond u32, long genesis). */
export function encodeRing(s: RingState): Buffer {
  if (s.genesis.length > 255 || !PRINTABLE.test(s.genesis)) throw new WeftError('usage', 'ring genesis must be at most 255 printable ASCII characters');
  const b = Buffer.alloc(ringSize(s));
  try {
    let o = b.writeUInt8(RING_FORMAT, 0);
    o = b.writeUInt32BE(s.start, o);
    o = b.writeUInt32BE(s.end, o);
    o = b.writeUInt8(s.genesis.length, o);
    o += b.write(s.genesis, o, 'latin1');
    o = b.writeUInt32BE(s.entries.length, o);
    for (const e of s.entries) {
      o = b.writeUInt32BE(e.token, o);
      peerNameToBytes(e.owner).copy(b, o);
      o += 6;
      o = b.writeUInt32BE(e.version, o);
      o = b.writeUInt32BE(e.free, o);
    }
  } catch (err) {
    throw new WeftError('usage', `ring state cannot be encoded: ${(err as Error).message}`, { cause: err });
  }
  return b;
}

export function decodeRing(b: Buffer): Result<RingState> {
  if (b.length < HEADER) return { ok: false, reason: `ring too short (${b.length} bytes)` };
  const format = b.readUInt8(0);
  if (format !== RING_FORMAT) return { ok: false, reason: `unknown ring format ${format}` };
  const start = b.readUInt32BE(1);
  const end = b.readUInt32BE(5);
  if (start >= end) return { ok: false, reason: `empty ring range [${start}, ${end})` };
  const n = b.readUInt8(9);
  if (b.length < HEADER + n + 4) return { ok: false, reason: 'ring truncated in its genesis or count' };
  const genesis = b.toString('latin1', HEADER, HEADER + n);
  if (!PRINTABLE.test(genesis)) return { ok: false, reason: 'ring genesis is not printable ASCII' };
  let o = HEADER + n;
  const count = b.readUInt32BE(o);
  o += 4;
  if (b.length - o !== count * ENTRY_SIZE) {
    return { ok: false, reason: `ring of ${count} entries needs ${count * ENTRY_SIZE} bytes, has ${b.length - o}` };
  }
  const entries: Entry[] = new Array<Entry>(count);
  for (let i = 0; i < count; i++) {
    const token = b.readUInt32BE(o);
    const owner = peerNameFromBytes(b.subarray(o + 4, o + 10))!;
    entries[i] = { token, owner, version: b.readUInt32BE(o + 10), free: b.readUInt32BE(o + 14) };
    o += ENTRY_SIZE;
  }
  return { ok: true, value: { start, end, genesis, entries } };
}
