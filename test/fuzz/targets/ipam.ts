// IPAM's gossip codecs (ipam/): the message envelope, and the ring, used-address records and
// consensus messages it carries. ipam-messages also decodes what an accepted envelope carries,
// as ipam/ipam-gossip.ts does; the other three start from the inner format.
import { decodeConsensus, encodeConsensus } from '../../../ipam/consensus-codec.js';
import { decodeMessage, encodeMessage, type IpamMessage } from '../../../ipam/messages.js';
import { decodeRing, encodeRing } from '../../../ipam/ring-codec.js';
import type { RingState } from '../../../ipam/types.js';
import { decodeUsed, encodeUsed } from '../../../ipam/used-codec.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

const ring: RingState = {
  start: 0x0a200000,
  end: 0x0a300000,
  genesis: 'g-1a2b3c',
  entries: [
    { token: 0x0a200000, owner: 0x020000000001n, version: 3, free: 1000 },
    { token: 0x0a280000, owner: 0x020000000002n, version: 1_000_001, free: 0 },
  ],
};
const used = [
  { owner: 0x020000000001n, version: 4, gone: false, used: [0x0a200001, 0x0a200002, 0x0a200009] },
  { owner: 0x020000000002n, version: 1_000_000, gone: true, used: [] },
];
const ballot = { round: 2, proposer: 0x020000000001n };

function inner(m: IpamMessage): string {
  const parts: string[] = [];
  if ('ring' in m) parts.push(roundTrip(m.ring, 'decodeRing', decodeRing, encodeRing));
  if ('used' in m) parts.push(roundTrip(m.used, 'decodeUsed', decodeUsed, encodeUsed));
  if (m.type === 'consensus') parts.push(roundTrip(m.payload, 'decodeConsensus', decodeConsensus, encodeConsensus));
  return parts.join('|');
}

export const ipamMessages: FuzzTarget = {
  name: 'ipam-messages',
  sources: ['ipam/messages.ts', 'ipam/ring-codec.ts', 'ipam/used-codec.ts', 'ipam/consensus-codec.ts'],
  seeds: () => [
    encodeMessage({ type: 'ring-full', ring: encodeRing(ring) }),
    encodeMessage({ type: 'ring-request' }),
    encodeMessage({ type: 'space-request', id: 7, want: { start: 0x0a200000, end: 2 ** 32 } }),
    encodeMessage({ type: 'space-request', id: 8 }),
    encodeMessage({ type: 'space-grant', id: 7, ring: encodeRing(ring) }),
    encodeMessage({ type: 'space-denied', id: 7, reason: 'resting' }),
    encodeMessage({ type: 'consensus', payload: encodeConsensus({ kind: 'prepare', ballot }) }),
    encodeMessage({ type: 'used', used: encodeUsed(used) }),
    encodeMessage({ type: 'full', ring: encodeRing(ring), used: encodeUsed(used) }),
  ],
  run: (data) => {
    const outcome = roundTrip(data, 'decodeMessage', decodeMessage, encodeMessage);
    const m = decodeMessage(data);
    return m.ok ? `${outcome}|${inner(m.value)}` : outcome;
  },
};

export const ipamRing: FuzzTarget = {
  name: 'ipam-ring',
  sources: ['ipam/ring-codec.ts'],
  seeds: () => [encodeRing(ring), encodeRing({ ...ring, genesis: '', entries: [] })],
  run: (data) => roundTrip(data, 'decodeRing', decodeRing, encodeRing),
};

export const ipamUsed: FuzzTarget = {
  name: 'ipam-used',
  sources: ['ipam/used-codec.ts', 'ipam/used.ts'],
  seeds: () => [encodeUsed(used), encodeUsed([])],
  run: (data) => roundTrip(data, 'decodeUsed', decodeUsed, encodeUsed),
};

export const ipamConsensus: FuzzTarget = {
  name: 'ipam-consensus',
  sources: ['ipam/consensus-codec.ts'],
  seeds: () => [
    encodeConsensus({ kind: 'prepare', ballot }),
    encodeConsensus({ kind: 'promise', ballot, accepted: { ballot: { round: 1, proposer: 5n }, value: [1n, 2n, 3n] } }),
    encodeConsensus({ kind: 'promise', ballot }),
    encodeConsensus({ kind: 'nack', ballot, promised: { round: 9, proposer: 2n } }),
    encodeConsensus({ kind: 'accept', ballot, value: [1n, 0x020000000001n] }),
    encodeConsensus({ kind: 'accepted', ballot }),
    encodeConsensus({ kind: 'decided', value: [4n] }),
    encodeConsensus({ kind: 'query' }),
  ],
  run: (data) => roundTrip(data, 'decodeConsensus', decodeConsensus, encodeConsensus),
};
