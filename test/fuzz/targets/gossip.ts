// Gossip message bodies (mesh/gossip-codec.ts). The first input byte picks unicast (odd) or
// broadcast, as the message tag does on the wire.
import { decodeGossip, encodeGossip } from '../../../mesh/gossip-codec.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

export const gossip: FuzzTarget = {
  name: 'gossip',
  sources: ['mesh/gossip-codec.ts'],
  seeds: () => [
    Buffer.concat([Buffer.from([0]), encodeGossip({ channel: 'topology', src: 0x020000000001n, payload: Buffer.from('x') })]),
    Buffer.concat([Buffer.from([1]), encodeGossip({ channel: 'weft-esp', src: 1n, dst: 2n, payload: Buffer.alloc(30, 7) })]),
  ],
  run: (data) => {
    const unicast = ((data[0] ?? 0) & 1) === 1;
    return roundTrip(data.subarray(1), `decodeGossip(unicast=${unicast})`, (b) => decodeGossip(b, unicast), encodeGossip);
  },
};
