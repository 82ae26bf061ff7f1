// In-memory MeshControl, DataplaneControl and IpamControl with fixed, realistic status and a
// record of the calls they got: for API and CLI tests, which must not need a router.
import type { ConnectionStatus, MeshControl, PeerStatus, RouterStatus, TargetStatus } from '../../mesh/status.js';
import type { DataplaneControl, DataplaneStatus, EndpointStatus } from '../../router/status.js';
import type { IpamControl, IpamStatusJson } from '../../ipam/status.js';

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
  reachable: 2,
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

/** A DataplaneControl that records calls; with a gate set, attach and detach wait for it or for their signal. */
export class FakeDataplaneControl implements DataplaneControl {
  readonly calls: { op: string; container?: string; cidrs?: string[]; cidr?: string }[] = [];
  /** The signal each attach/detach got, in call order. */
  readonly signals: (AbortSignal | undefined)[] = [];
  /** While set, attach and detach wait until it resolves, or reject when their signal aborts. */
  gate: Promise<void> | undefined;
  private waiters: { n: number; resolve: () => void }[] = [];

  status(): DataplaneStatus {
    return SAMPLE_DATAPLANE;
  }

  endpoints(): EndpointStatus[] {
    return [];
  }

  /** Resolves once attach/detach has been called n times in all. */
  called(n = 1): Promise<void> {
    if (this.signals.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  async attach(container: string, cidrs: string[], opts: { signal?: AbortSignal } = {}): Promise<EndpointStatus> {
    this.record({ op: 'attach', container, cidrs }, opts.signal);
    await this.wait(opts.signal);
    return { peer: SAMPLE_STATUS.name, nickname: SAMPLE_STATUS.nickname, local: true, container, mac: '0a:58:0a:20:00:05', ips: cidrs.length > 0 ? cidrs : ['10.32.0.5/12'] };
  }

  async detach(container: string, opts: { signal?: AbortSignal } = {}): Promise<EndpointStatus> {
    this.record({ op: 'detach', container }, opts.signal);
    await this.wait(opts.signal);
    return { peer: SAMPLE_STATUS.name, nickname: SAMPLE_STATUS.nickname, local: true, container, mac: '0a:58:0a:20:00:05', ips: ['10.32.0.5/12'] };
  }

  async expose(cidr: string): Promise<void> {
    this.calls.push({ op: 'expose', cidr });
  }

  async hide(cidr?: string): Promise<string[]> {
    this.calls.push({ op: 'hide', ...(cidr === undefined ? {} : { cidr }) });
    return cidr === undefined ? [] : [cidr];
  }

  async reset(): Promise<void> {
    this.calls.push({ op: 'reset' });
  }

  private record(call: { op: string; container: string; cidrs?: string[] }, signal: AbortSignal | undefined): void {
    this.calls.push(call);
    this.signals.push(signal);
    for (const w of this.waiters.filter((x) => x.n <= this.signals.length)) w.resolve();
    this.waiters = this.waiters.filter((x) => x.n > this.signals.length);
  }

  private wait(signal: AbortSignal | undefined): Promise<void> {
    const gate = this.gate;
    if (gate === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal!.reason);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      void gate.then(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}

export const SAMPLE_DATAPLANE = {
  bridge: 'weft',
  vxlan: 'vxlan-6784',
  vni: 6784,
  port: 6784,
  mtu: 1410,
  addresses: ['198.18.0.1'],
  peers: [],
  relaying: [],
  probes: { sent: 0, received: 0, acked: 0, dropped: {} },
  dropped: {},
  lastError: null,
  encryption: null,
  conflicts: [],
};

/** An IpamControl whose `waiting` a test sets. */
export class FakeIpamControl implements IpamControl {
  waiting: string | null = null;

  status(): IpamStatusJson {
    return { range: '10.32.0.0/12', ready: this.waiting === null, fenced: false, waiting: this.waiting, peers: [], allocations: 0, dropped: {} };
  }

  rmpeer(_peer: string): number {
    return 3;
  }
}
