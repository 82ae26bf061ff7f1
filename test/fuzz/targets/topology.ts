// The "topology" gossip channel (mesh/topology-codec.ts): any peer may send updates.
import { decodeTopology, encodeTopology } from '../../../mesh/topology-codec.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

export const topology: FuzzTarget = {
  name: 'topology',
  sources: ['mesh/topology-codec.ts', 'mesh/gob/access.ts'],
  seeds: () => [
    encodeTopology([]),
    encodeTopology([
      { name: 0x020000000001n, nickname: 'h1', uid: 11n, version: 4n, shortId: 1, connections: [{ name: 0x020000000002n, remoteTcpAddr: '198.18.0.2:6783', outbound: true, established: true }] },
      { name: 0x020000000002n, nickname: 'h2', uid: 0n, version: 0n, shortId: undefined, connections: [] },
    ]),
  ],
  run: (data) => roundTrip(data, 'decodeTopology', decodeTopology, encodeTopology),
};
