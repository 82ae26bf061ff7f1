// The dataplane records gossip channel (router/peer-record.ts): every peer's addresses, routes and
// endpoints, relayed through the mesh.
import { decodeRecords, encodeRecords, type PeerRecord } from '../../../router/peer-record.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

const record: PeerRecord = {
  name: 0x020000000001n,
  version: 5n,
  gone: false,
  mtu: 1410,
  addresses: ['198.18.0.1', '10.32.0.1'],
  bridgeMac: '02:00:00:00:aa:01',
  direct: [0x020000000002n],
  relays: [{ dest: 0x020000000003n, via: 0x020000000002n }],
  serving: [0x020000000003n],
  endpoints: [{ mac: '02:00:0a:20:00:05', ips: ['10.32.0.5'] }],
};

export const peerRecords: FuzzTarget = {
  name: 'peer-records',
  sources: ['router/peer-record.ts'],
  seeds: () => [encodeRecords([]), encodeRecords([record]), encodeRecords([{ ...record, name: 9n, gone: true, addresses: [], direct: [], relays: [], serving: [], endpoints: [] }, record])],
  run: (data) => roundTrip(data, 'decodeRecords', decodeRecords, encodeRecords),
};
