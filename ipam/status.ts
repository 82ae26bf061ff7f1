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
  /**
   * Not sent since issue 10 (allocations are never dropped now: see `foreign`); kept so a CLI
   * can still read an older daemon's status.
   */
  lost?: { container: string; ip: string }[];
  /**
   * Our addresses that someone else uses too (the residual corner of docs/ipam.md): each with
   * its holders, "name(nickname) container" for ours, "name(nickname)" for another peer's.
   * Detaching and re-attaching one of the containers resolves it.
   */
  conflicts?: { ip: string; holders: string[] }[];
  /** Our containers whose address lies in another peer's space now; that peer holds it for us. */
  foreign?: { container: string; ip: string; owner: string }[];
  /** Addresses in our space held for other peers' containers, per peer. */
  held?: IpamHeldStatus[];
}

export interface IpamHeldStatus {
  peer: string;
  nickname: string;
  count: number;
  reachable: boolean;
  /** For an unreachable peer: what frees them. */
  note?: string;
}

/** What the local API needs from IPAM. */
export interface IpamControl {
  status(): IpamStatusJson;
  /** Takes over a gone peer's space at once; returns how many addresses were taken over. */
  rmpeer(peer: string): number;
}
