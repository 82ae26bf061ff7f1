// Used-address records on the wire (ipam/used.ts), all integers big-endian:
//   u32 count · count × (owner[6] · u32 version · u8 flags (1 = gone) · u32 runs · runs × (u32 start · u32 length))
// Addresses travel as runs: allocation is lowest-free, so a peer with 100 containers usually
// needs one or two runs (~30 bytes a record, ~30 KB for 1,000 peers in a full exchange).
// decodeUsed never throws: it returns a reason, and bounds what a message may make us allocate.
import type { Result } from '../lib/result.js';
import { peerNameFromBytes, peerNameToBytes } from '../mesh/peer-name.js';
import { fromRuns, toRuns, type UsedRecord } from './used.js';

const RECORD_HEADER = 6 + 4 + 1 + 4;
const RUN = 8;
/** More addresses than this in one message is refused (a /12 holds ~1M). */
export const MAX_USED_ADDRESSES = 1 << 21;

export function encodeUsed(records: readonly UsedRecord[]): Buffer {
  const runs = records.map((r) => toRuns(r.used));
  const b = Buffer.alloc(4 + runs.reduce((n, rs) => n + RECORD_HEADER + RUN * rs.length, 0));
  let o = b.writeUInt32BE(records.length, 0);
  records.forEach((r, i) => {
    peerNameToBytes(r.owner).copy(b, o);
    o += 6;
    o = b.writeUInt32BE(r.version >>> 0, o);
    o = b.writeUInt8(r.gone ? 1 : 0, o);
    o = b.writeUInt32BE(runs[i]!.length, o);
    for (const [s, n] of runs[i]!) {
      o = b.writeUInt32BE(s >>> 0, o);
      o = b.writeUInt32BE(n >>> 0, o);
    }
  });
  return b;
}

export function decodeUsed(b: Buffer): Result<UsedRecord[]> {
  if (b.length < 4) return { ok: false, reason: 'short used records' };
  const count = b.readUInt32BE(0);
  if (count > (b.length - 4) / RECORD_HEADER) return { ok: false, reason: 'used records: count beyond the message' };
  const out: UsedRecord[] = [];
  let o = 4;
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (o + RECORD_HEADER > b.length) return { ok: false, reason: 'short used record' };
    const owner = peerNameFromBytes(b.subarray(o, o + 6));
    const version = b.readUInt32BE(o + 6);
    const flags = b[o + 10]!;
    const n = b.readUInt32BE(o + 11);
    o += RECORD_HEADER;
    if (owner === undefined || owner === 0n) return { ok: false, reason: 'used record: bad owner' };
    if (flags > 1) return { ok: false, reason: 'used record: unknown flags' };
    if (n > (b.length - o) / RUN) return { ok: false, reason: 'used record: runs beyond the message' };
    const runs: [number, number][] = [];
    let prevEnd = -1;
    for (let k = 0; k < n; k++) {
      const s = b.readUInt32BE(o);
      const len = b.readUInt32BE(o + 4);
      o += RUN;
      if (len === 0 || s + len > 2 ** 32 || s <= prevEnd) return { ok: false, reason: 'used record: bad run' };
      total += len;
      if (total > MAX_USED_ADDRESSES) return { ok: false, reason: 'used records: too many addresses' };
      prevEnd = s + len - 1;
      runs.push([s, len]);
    }
    if (flags === 1 && runs.length > 0) return { ok: false, reason: 'used record: gone but holding addresses' };
    out.push({ owner, version, gone: flags === 1, used: fromRuns(runs) });
  }
  if (o !== b.length) return { ok: false, reason: 'used records: trailing bytes' };
  return { ok: true, value: out };
}
