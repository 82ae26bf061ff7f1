// What the topology says about one peer: the summary mesh gossips (peerSummary plus its
// []connectionSummary), as plain data. mesh/peers.ts owns the table of these.
import type { PeerName } from './peer-name.js';

export interface ConnectionSummary {
  /** The peer at the other end. */
  readonly name: PeerName;
  /** "ip:port" of the remote end as the owning peer sees it. */
  readonly remoteTcpAddr: string;
  /** True if the owning peer dialled this connection. */
  readonly outbound: boolean;
  readonly established: boolean;
}

export interface PeerSummary {
  readonly name: PeerName;
  readonly nickname: string;
  /** Random per process start; 0n for a placeholder (a peer only heard of). */
  readonly uid: bigint;
  /** Bumped on every change of this peer's connections. */
  readonly version: bigint;
  /** 12-bit short ID, or undefined if the peer has none (yet). */
  readonly shortId: number | undefined;
  readonly connections: readonly ConnectionSummary[];
}

export function isPlaceholder(p: PeerSummary): boolean {
  return p.uid === 0n;
}
