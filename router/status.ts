// The data-plane shapes `weft status connections|endpoints` and `weft ps` show (JSON field names
// are what users' scripts read: change them with care).
import type { EncryptionSummary, PeerEncryption } from './encryption.js';

/** How traffic to one remote peer travels, and why. */
export interface PathStatus {
  peer: string;
  nickname: string | null;
  /** 'direct' | 'relay via NAME' | 'none' */
  path: string;
  /** The relay's peer name, for a relay path. */
  via: string | null;
  /** Underlay address VXLAN packets are sent to (the peer's, or the relay's). */
  address: string | null;
  /** Overlay MTU on this path. */
  mtu: number;
  /** Round trip of the last answered probe. */
  rttMs: number | null;
  reason: string;
  /** How many endpoints the peer announces. */
  endpoints: number;
  /** null without a password. */
  encryption: PeerEncryption | null;
}

export interface DataplaneStatus {
  bridge: string;
  vxlan: string;
  vni: number;
  port: number;
  mtu: number;
  /** Our underlay addresses as announced to the others. */
  addresses: string[];
  peers: PathStatus[];
  /** Destinations this router relays for. */
  relaying: string[];
  /** Probes we sent, probes we received, acks to ours that matched, probes of others we acked; drops by reason. */
  probes: {
    sent: number; received: number; acked: number; answered?: number; dropped: Record<string, number>;
    /** Peers probed every round (traffic, unsettled), peers probed idly, and how often each idle one is (docs/dataplane.md, "Probe budget"). */
    fast?: number; idle?: number; idlePeriodMs?: number;
  };
  /** Malformed dataplane gossip dropped, by reason. */
  dropped: Record<string, number>;
  /** The last kernel update error, if the last update failed. */
  lastError: string | null;
  /** null without a password. */
  encryption: EncryptionSummary | null;
  /** Addresses announced by more than one live peer (this one included): one container must go. */
  conflicts: { ip: string; peers: string[] }[];
}

export interface EndpointStatus {
  peer: string;
  nickname: string;
  local: boolean;
  /** The container (as given to `weft attach`), for local attached endpoints. */
  container: string | null;
  mac: string;
  /** CIDRs for local endpoints, IPs for remote ones. */
  ips: string[];
}

/** What the local API needs from the data plane. */
export interface DataplaneControl {
  status(): DataplaneStatus;
  endpoints(): EndpointStatus[];
  /**
   * Connects a container. opts.signal aborts when the asking client goes away (the CLI was
   * interrupted or gave up): the attach then stops and undoes what it did, rejecting.
   */
  attach(container: string, cidrs: string[], opts?: { signal?: AbortSignal }): Promise<EndpointStatus>;
  /** Disconnects a container; opts.signal as for attach. */
  detach(container: string, opts?: { signal?: AbortSignal }): Promise<EndpointStatus>;
  expose(cidr: string): Promise<void>;
  hide(cidr?: string): Promise<string[]>;
  /** Removes all kernel state weft created, then the router stops. */
  reset(): Promise<void>;
}
