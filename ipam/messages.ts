// The "weft-ipam" gossip channel's messages. Every message is
//   u8 format (1) · u8 type · body
// Ring bodies are ring-codec bytes (ipam/ring-codec.ts), carried opaquely here.
//   ring-full     ring              the whole ring (gossip(), or the answer to ring-request)
//   ring-delta    ring              some entries (broadcast after a change, relayed deltas)
//   ring-request  —                 "send me your whole ring" (unicast)
//   space-request u32 id · u8 has · [u32 start · u32 end]   any space, or exactly [start, end)
//   space-grant   u32 id · ring     the entries the donor changed (unicast to the requester)
//   space-denied  u32 id · u8 reason
//   consensus     bytes             a consensus.ts message (unicast)
//   used          used records      some peers' used-address records (ipam/used-codec.ts): broadcast
//                                   after a change of our own, relayed deltas
//   full          u32 n · ring[n] · used records   the whole ring and every record: gossip(), and
//                                   the answer to ring-request (one message, so a peer that waits
//                                   for the ring never allocates with records older than it)
import type { Result } from '../lib/result.js';
import type { Range } from './types.js';

export const IPAM_FORMAT = 1;

// 'resting': the donor's only free space was just taken over from a gone peer and rests (quarantine).
export const DENY_REASONS = ['no-space', 'in-use', 'not-owner', 'fenced', 'no-ring', 'resting'] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

export type IpamMessage =
  | { type: 'ring-full'; ring: Buffer }
  | { type: 'ring-delta'; ring: Buffer }
  | { type: 'ring-request' }
  | { type: 'space-request'; id: number; want?: Range }
  | { type: 'space-grant'; id: number; ring: Buffer }
  | { type: 'space-denied'; id: number; reason: DenyReason }
  | { type: 'consensus'; payload: Buffer }
  | { type: 'used'; used: Buffer }
  | { type: 'full'; ring: Buffer; used: Buffer };

const TYPES = ['ring-full', 'ring-delta', 'ring-request', 'space-request', 'space-grant', 'space-denied', 'consensus', 'used', 'full'] as const;

function header(type: IpamMessage['type'], bodySize: number): Buffer {
  const b = Buffer.alloc(2 + bodySize);
  b[0] = IPAM_FORMAT;
  b[1] = TYPES.indexOf(type) + 1;
  return b;
}

export function encodeMessage(m: IpamMessage): Buffer {
  switch (m.type) {
    case 'ring-full':
    case 'ring-delta':
      return Buffer.concat([header(m.type, 0), m.ring]);
    case 'ring-request':
      return header(m.type, 0);
    case 'space-request': {
      const b = header(m.type, m.want ? 13 : 5);
      b.writeUInt32BE(m.id >>> 0, 2);
      b[6] = m.want ? 1 : 0;
      if (m.want) {
        b.writeUInt32BE(m.want.start >>> 0, 7);
        // end may be 2^32 (a range ending at the top of the address space): stored as end - 1.
        b.writeUInt32BE((m.want.end - 1) >>> 0, 11);
      }
      return b;
    }
    case 'space-grant': {
      const b = header(m.type, 4);
      b.writeUInt32BE(m.id >>> 0, 2);
      return Buffer.concat([b, m.ring]);
    }
    case 'space-denied': {
      const b = header(m.type, 5);
      b.writeUInt32BE(m.id >>> 0, 2);
      b[6] = DENY_REASONS.indexOf(m.reason);
      return b;
    }
    case 'consensus':
      return Buffer.concat([header(m.type, 0), m.payload]);
    case 'used':
      return Buffer.concat([header(m.type, 0), m.used]);
    case 'full': {
      const b = header(m.type, 4);
      b.writeUInt32BE(m.ring.length, 2);
      return Buffer.concat([b, m.ring, m.used]);
    }
  }
}

export function decodeMessage(b: Buffer): Result<IpamMessage> {
  if (b.length < 2) return { ok: false, reason: 'short ipam message' };
  if (b[0] !== IPAM_FORMAT) return { ok: false, reason: `unknown ipam message format ${b[0]}` };
  const type = TYPES[b[1]! - 1];
  if (type === undefined) return { ok: false, reason: `unknown ipam message type ${b[1]}` };
  const body = b.subarray(2);
  switch (type) {
    case 'ring-full':
    case 'ring-delta':
      return { ok: true, value: { type, ring: body } };
    case 'ring-request':
      return body.length === 0 ? { ok: true, value: { type } } : { ok: false, reason: 'ring-request with a body' };
    case 'space-request': {
      if (body.length < 5) return { ok: false, reason: 'short space-request' };
      const id = body.readUInt32BE(0);
      if (body[4] === 0) return body.length === 5 ? { ok: true, value: { type, id } } : { ok: false, reason: 'space-request: trailing bytes' };
      if (body[4] !== 1 || body.length !== 13) return { ok: false, reason: 'malformed space-request range' };
      const start = body.readUInt32BE(5);
      const end = body.readUInt32BE(9) + 1;
      if (end <= start) return { ok: false, reason: 'space-request: empty range' };
      return { ok: true, value: { type, id, want: { start, end } } };
    }
    case 'space-grant':
      if (body.length < 4) return { ok: false, reason: 'short space-grant' };
      return { ok: true, value: { type, id: body.readUInt32BE(0), ring: body.subarray(4) } };
    case 'space-denied': {
      if (body.length !== 5) return { ok: false, reason: 'malformed space-denied' };
      const reason = DENY_REASONS[body[4]!];
      if (reason === undefined) return { ok: false, reason: `unknown deny reason ${body[4]}` };
      return { ok: true, value: { type, id: body.readUInt32BE(0), reason } };
    }
    case 'consensus':
      return { ok: true, value: { type, payload: body } };
    case 'used':
      return { ok: true, value: { type, used: body } };
    case 'full': {
      if (body.length < 4) return { ok: false, reason: 'short full state' };
      const n = body.readUInt32BE(0);
      if (n > body.length - 4) return { ok: false, reason: 'full state: ring beyond the message' };
      return { ok: true, value: { type, ring: body.subarray(4, 4 + n), used: body.subarray(4 + n) } };
    }
  }
}
