// An in-memory MeshControl with fixed, realistic status and a record of the calls it got:
// for API and CLI tests, which must not need a router.
import type { ConnectionStatus, MeshControl, PeerStatus, RouterStatus, TargetStatus } from '../../mesh/status.js';

export const SAMPLE_TARGETS: TargetStatus[] = [
  { address: '198.18.0.2:6783', state: 'connected', lastError: null, retryInMs: null },
  { address: '198.18.0.9:6783', state: 'waiting', lastError: 'connect ECONNREFUSED 198.18.0.9:6783', retryInMs: 125_000 },
];

export const SAMPLE_STATUS: RouterStatus = {
  version: '0.1.0',
  protocol: 'weave',
  protocolVersion: 2,
  name: '02:00:00:00:00:01',
  nickname: 'host1',
  uid: '1234567890123',
  port: 6783,
  encryption: true,
  peerDiscovery: true,
  peers: 3,
  connections: { established: 2, pending: 1, failed: 1 },
  connLimit: 100,
  targets: SAMPLE_TARGETS,
  dropped: {},
};

export const SAMPLE_PEERS: PeerStatus[] = [
  {
    name: '02:00:00:00:00:02',
    nickname: 'host2',
    uid: '22',
    shortId: 2,
    version: '5',
    self: false,
    via: '02:00:00:00:00:02',
    connections: [{ name: '02:00:00:00:00:01', nickname: 'host1', address: '198.18.0.1:47001', outbound: false, established: true }],
  },
  {
    name: '02:00:00:00:00:01',
    nickname: 'host1',
    uid: '1234567890123',
    shortId: 1,
    version: '7',
    self: true,
    via: null,
    connections: [
      { name: '02:00:00:00:00:02', nickname: 'host2', address: '198.18.0.2:6783', outbound: true, established: true },
      { name: '02:00:00:00:00:03', nickname: '', address: '198.18.0.3:51234', outbound: false, established: false },
    ],
  },
];

export const SAMPLE_CONNECTIONS: ConnectionStatus[] = [
  { peer: '02:00:00:00:00:02', nickname: 'host2', address: '198.18.0.2:6783', outbound: true, state: 'established', encrypted: true, info: 'protocol v2' },
  { peer: '02:00:00:00:00:03', nickname: '', address: '198.18.0.3:51234', outbound: false, state: 'pending', encrypted: true, info: '' },
  { peer: null, nickname: null, address: '198.18.0.9:6783', outbound: true, state: 'failed', encrypted: false, info: 'connect ECONNREFUSED' },
];

export class FakeMeshControl implements MeshControl {
  readonly calls: { op: 'connect' | 'forget'; addresses: string[]; replace?: boolean }[] = [];
  /** When set, connect/forget throw it (to exercise error replies). */
  failWith: Error | undefined;

  status(): RouterStatus {
    return SAMPLE_STATUS;
  }

  peers(): PeerStatus[] {
    return SAMPLE_PEERS;
  }

  connections(): ConnectionStatus[] {
    return SAMPLE_CONNECTIONS;
  }

  connect(addresses: string[], replace?: boolean): void {
    if (this.failWith) throw this.failWith;
    this.calls.push({ op: 'connect', addresses, replace });
  }

  forget(addresses: string[]): void {
    if (this.failWith) throw this.failWith;
    this.calls.push({ op: 'forget', addresses });
  }
}
