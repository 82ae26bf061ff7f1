// The IPAM shapes `weft status ipam` shows (JSON field names are what users' scripts read).

export interface IpamPeerStatus {
  name: string;
  nickname: string;
  /** Addresses in the ranges this peer owns. */
  owned: number;
  used: number;
  free: number;
  reachable: boolean;
  /** For an unreachable owner: milliseconds until its space is reclaimed; null if it is not going to be (see note). */
  reclaimInMs: number | null;
  note?: string;
}

export interface IpamStatusJson {
  /** The allocation range, e.g. 10.32.0.0/12. */
  range: string;
  /** A ring exists (seeded, agreed or learnt). */
  ready: boolean;
  /** This peer cannot reach a majority of owners and refuses new allocations. */
  fenced: boolean;
  /** What allocation is waiting for, if anything (consensus, space from a peer). */
  waiting: string | null;
  /** One entry per peer that owns space. */
  peers: IpamPeerStatus[];
  /** Allocations held by this peer. */
  allocations: number;
  dropped: Record<string, number>;
  /** Why a ring from another peer was refused (a different range or genesis), if one was. */
  refused?: string;
  /** Allocations this peer lost because the ring says another peer owns their address now. */
  lost?: { container: string; ip: string }[];
}

/** What the local API needs from IPAM. */
export interface IpamControl {
  status(): IpamStatusJson;
  /** Takes over a gone peer's space at once; returns how many addresses were taken over. */
  rmpeer(peer: string): number;
}
