// The shapes `weft status` shows, produced by the mesh router and served by the local API.
// Field names here are the JSON the CLI and users' scripts read: change them with care.

export interface PeerConnectionStatus {
  name: string;
  nickname: string;
  address: string;
  outbound: boolean;
  established: boolean;
}

export interface PeerStatus {
  name: string;
  nickname: string;
  uid: string;
  shortId: number | null;
  version: string;
  /** True if this is the local peer. */
  self: boolean;
  /** Next hop from the local peer over established symmetric connections, if any. */
  via: string | null;
  connections: PeerConnectionStatus[];
}

/** established: up; pending: dialling or handshaking; failed: broke or was refused (info says why). */
export type ConnectionState = 'established' | 'pending' | 'failed';

export interface ConnectionStatus {
  /** Remote peer name, or null if the handshake has not told us yet. */
  peer: string | null;
  nickname: string | null;
  /** Remote "ip:port". */
  address: string;
  outbound: boolean;
  state: ConnectionState;
  encrypted: boolean;
  /** Human-readable detail: why it failed, when the next attempt is, protocol version. */
  info: string;
}

export interface TargetStatus {
  address: string;
  /** 'connected' | 'attempting' | 'waiting' | 'suspended' | 'failed' */
  state: string;
  lastError: string | null;
  /** Milliseconds until the next attempt, null if none is planned. */
  retryInMs: number | null;
}

export interface RouterStatus {
  version: string;
  protocol: string;
  protocolVersion: number;
  name: string;
  nickname: string;
  uid: string;
  port: number;
  encryption: boolean;
  peerDiscovery: boolean;
  peers: number;
  /** Peers (not counting this one) that this router has a route to; peers − 1 − reachable are cut off. */
  reachable: number;
  connections: { established: number; pending: number; failed: number };
  connLimit: number;
  targets: TargetStatus[];
  /** Counts of malformed input dropped, by reason. */
  dropped: Record<string, number>;
}

/** What the local API needs from the router: read status, change targets. */
export interface MeshControl {
  status(): RouterStatus;
  peers(): PeerStatus[];
  connections(): ConnectionStatus[];
  /** Adds connection targets ("host[:port]"); replace=true forgets the previous ones first. */
  connect(addresses: string[], replace?: boolean): void;
  /** Removes connection targets; existing connections stay up. */
  forget(addresses: string[]): void;
}
