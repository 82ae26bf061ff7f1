// Wire format of the bootstrap consensus messages (ipam/consensus.ts). Every message is unicast
// to one peer. All integers big-endian:
//
//   u8 version (1)  u8 kind  then, by kind:
//     1 prepare    ballot
//     2 promise    ballot  u8 hasAccepted  [ballot value]     the acceptor's accepted proposal, if any
//     3 nack       ballot  ballot                            the rejected ballot, the one promised
//     4 accept     ballot  value
//     5 accepted   ballot
//     6 decided    value
//     7 query      (empty)                                   "tell me the decision if you know it"
//
//   ballot = u32 round  name[6]
//   value  = u32 count  name[6]…   strictly ascending, count ≥ 1
import type { PeerName } from '../mesh/peer-name.js';
import type { Result } from '../lib/result.js';

export const CONSENSUS_VERSION = 1;
export const MAX_ROUND = 0xffff_ffff;

/** Ballots order by round, then by proposer name. */
export interface Ballot {
  round: number;
  proposer: PeerName;
}

export interface Proposal {
  ballot: Ballot;
  /** Sorted ascending, no duplicates. */
  value: PeerName[];
}

export type ConsensusMessage =
  | { kind: 'prepare'; ballot: Ballot }
  | { kind: 'promise'; ballot: Ballot; accepted?: Proposal }
  | { kind: 'nack'; ballot: Ballot; promised: Ballot }
  | { kind: 'accept'; ballot: Ballot; value: PeerName[] }
  | { kind: 'accepted'; ballot: Ballot }
  | { kind: 'decided'; value: PeerName[] }
  | { kind: 'query' };

const KINDS = ['prepare', 'promise', 'nack', 'accept', 'accepted', 'decided', 'query'] as const;
const BALLOT_BYTES = 10;

export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  return a.proposer < b.proposer ? -1 : a.proposer > b.proposer ? 1 : 0;
}

export function sameBallot(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.proposer === b.proposer;
}

function valueBytes(v: readonly PeerName[]): number {
  return 4 + 6 * v.length;
}

function messageBytes(m: ConsensusMessage): number {
  switch (m.kind) {
    case 'prepare':
    case 'accepted':
      return BALLOT_BYTES;
    case 'promise':
      return BALLOT_BYTES + 1 + (m.accepted ? BALLOT_BYTES + valueBytes(m.accepted.value) : 0);
    case 'nack':
      return 2 * BALLOT_BYTES;
    case 'accept':
      return BALLOT_BYTES + valueBytes(m.value);
    case 'decided':
      return valueBytes(m.value);
    case 'query':
      return 0;
  }
}

function writeBallot(b: Buffer, o: number, ballot: Ballot): number {
  o = b.writeUInt32BE(ballot.round, o);
  return b.writeUIntBE(Number(ballot.proposer), o, 6);
}

function writeValue(b: Buffer, o: number, value: readonly PeerName[]): number {
  o = b.writeUInt32BE(value.length, o);
  for (const n of value) o = b.writeUIntBE(Number(n), o, 6);
  return o;
}

/** Encodes m; the caller supplies valid names (48-bit) and rounds (u32). */
export function encodeConsensus(m: ConsensusMessage): Buffer {
  const b = Buffer.alloc(2 + messageBytes(m));
  let o = b.writeUInt8(CONSENSUS_VERSION, 0);
  o = b.writeUInt8(KINDS.indexOf(m.kind) + 1, o);
  switch (m.kind) {
    case 'prepare':
    case 'accepted':
      writeBallot(b, o, m.ballot);
      break;
    case 'promise':
      o = writeBallot(b, o, m.ballot);
      o = b.writeUInt8(m.accepted ? 1 : 0, o);
      if (m.accepted) writeValue(b, writeBallot(b, o, m.accepted.ballot), m.accepted.value);
      break;
    case 'nack':
      writeBallot(b, writeBallot(b, o, m.ballot), m.promised);
      break;
    case 'accept':
      writeValue(b, writeBallot(b, o, m.ballot), m.value);
      break;
    case 'decided':
      writeValue(b, o, m.value);
      break;
    case 'query':
      break;
  }
  return b;
}

/** Reasons are fixed strings (they key the `dropped` counters). */
class Reader {
  o = 0;
  constructor(readonly b: Buffer) {}

  remaining(): number {
    return this.b.length - this.o;
  }

  ballot(): Ballot | undefined {
    if (this.remaining() < BALLOT_BYTES) return undefined;
    const round = this.b.readUInt32BE(this.o);
    const proposer = BigInt(this.b.readUIntBE(this.o + 4, 6));
    this.o += BALLOT_BYTES;
    return { round, proposer };
  }

  value(): PeerName[] | string {
    if (this.remaining() < 4) return 'truncated';
    const count = this.b.readUInt32BE(this.o);
    this.o += 4;
    if (count === 0) return 'empty value';
    if (count > this.remaining() / 6) return 'truncated';
    const out: PeerName[] = new Array<PeerName>(count);
    for (let i = 0; i < count; i++) {
      const n = BigInt(this.b.readUIntBE(this.o, 6));
      this.o += 6;
      if (i > 0 && n <= out[i - 1]!) return 'unsorted value';
      out[i] = n;
    }
    return out;
  }
}

/** Never throws: a malformed message yields a fixed reason string. */
export function decodeConsensus(buf: Buffer): Result<ConsensusMessage> {
  if (buf.length < 2) return { ok: false, reason: 'truncated' };
  if (buf[0] !== CONSENSUS_VERSION) return { ok: false, reason: 'unsupported version' };
  const kind = KINDS[buf[1]! - 1];
  if (kind === undefined) return { ok: false, reason: 'unknown kind' };
  const r = new Reader(buf);
  r.o = 2;
  let m: ConsensusMessage;
  switch (kind) {
    case 'prepare':
    case 'accepted': {
      const ballot = r.ballot();
      if (!ballot) return { ok: false, reason: 'truncated' };
      m = { kind, ballot };
      break;
    }
    case 'promise': {
      const ballot = r.ballot();
      if (!ballot || r.remaining() < 1) return { ok: false, reason: 'truncated' };
      const has = buf[r.o++];
      if (has === 0) {
        m = { kind, ballot };
        break;
      }
      if (has !== 1) return { ok: false, reason: 'bad flag' };
      const accBallot = r.ballot();
      if (!accBallot) return { ok: false, reason: 'truncated' };
      const value = r.value();
      if (typeof value === 'string') return { ok: false, reason: value };
      m = { kind, ballot, accepted: { ballot: accBallot, value } };
      break;
    }
    case 'nack': {
      const ballot = r.ballot();
      const promised = r.ballot();
      if (!ballot || !promised) return { ok: false, reason: 'truncated' };
      m = { kind, ballot, promised };
      break;
    }
    case 'accept': {
      const ballot = r.ballot();
      if (!ballot) return { ok: false, reason: 'truncated' };
      const value = r.value();
      if (typeof value === 'string') return { ok: false, reason: value };
      m = { kind, ballot, value };
      break;
    }
    case 'decided': {
      const value = r.value();
      if (typeof value === 'string') return { ok: false, reason: value };
      m = { kind, value };
      break;
    }
    case 'query':
      m = { kind };
      break;
  }
  if (r.remaining() !== 0) return { ok: false, reason: 'trailing bytes' };
  return { ok: true, value: m };
}
