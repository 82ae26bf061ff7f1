// The seam between weft's data plane and the Linux network stack. The reconciler
// (router/reconciler.ts) is the only writer of the objects below; it reads what the kernel has,
// diffs it against the desired state and hands the difference to apply() in one batch. Two
// implementations: router/netlink-kernel.ts (rtnetlink, real) and router/memory-kernel.ts
// (in memory, renders itself as `ip link`/`bridge fdb`/`ip neigh` lines for golden tests).
//
// Addresses are strings in their usual text form: MAC "02:00:00:00:00:01" (lower case),
// IPv4 "10.32.0.1", CIDR "10.32.0.1/12".

/** The devices weft creates. Everything on them belongs to weft; nothing else is touched. */
export type LinkKind = 'bridge' | 'vxlan';

export interface VxlanSpec {
  vni: number;
  /** UDP destination (and listen) port. */
  port: number;
  /** Always false for weft: forwarding comes from static entries, never from learning. */
  learning: boolean;
  /** ARP/ND suppression: the device answers ARP from its neighbour table (`proxy`). */
  proxy: boolean;
}

/** A bridge port's flags (set through AF_BRIDGE IFLA_PROTINFO). */
export interface PortSpec {
  hairpin: boolean;
  learning: boolean;
}

export interface LinkSpec {
  name: string;
  kind: LinkKind;
  mtu: number;
  /** Fixed MAC address; undefined = whatever the kernel picks. */
  mac?: string;
  /** Name of the bridge this link is a port of. */
  master?: string;
  up: boolean;
  vxlan?: VxlanSpec;
  port?: PortSpec;
}

/** A link as read back from the kernel. */
export interface Link extends LinkSpec {
  index: number;
  /** The kernel's MAC for the link (always known when read back). */
  mac: string;
}

/** A static (`self permanent`) forwarding entry of a VXLAN device: frames for mac go to dst. */
export interface FdbEntry {
  /** The VXLAN device. */
  dev: string;
  /** 00:00:00:00:00:00 = head-end replication: broadcast/unknown copies go to every such dst. */
  mac: string;
  /** The remote VTEP's underlay IPv4 address. */
  dst: string;
  /**
   * VNI override for this entry; undefined = the device's VNI. The kernel reports an entry's VNI
   * only when it differs from the device's, so compare them normalised (desired.ts normalVni).
   */
  vni?: number;
}

/** A static FDB entry with how recently it forwarded (the kernel's NDA_CACHEINFO for it). */
export interface FdbUse extends FdbEntry {
  /** Milliseconds since the entry last forwarded a frame (ndm_used; being created counts as a use). */
  usedAgoMs: number;
  /** Milliseconds since the entry was last added or replaced (ndm_updated). */
  updatedAgoMs: number;
}

/** A static (`nud permanent`) neighbour entry: ARP for ip is answered with mac. */
export interface NeighEntry {
  dev: string;
  ip: string;
  mac: string;
}

/** The part of the kernel the reconciler owns. */
export interface KernelState {
  links: Link[];
  fdb: FdbEntry[];
  neigh: NeighEntry[];
}

/**
 * One change. Ops within a batch are applied in order; a failing op does not stop the rest.
 * fdb-del matches (dev, mac, dst, vni); neigh-del matches (dev, ip).
 */
export type KernelOp =
  | { op: 'link-add'; link: LinkSpec }
  /** Changes mtu/master/up/port flags in place; kind, mac and vxlan settings need a re-add. */
  | { op: 'link-set'; link: LinkSpec }
  | { op: 'link-del'; name: string }
  | { op: 'fdb-add'; entry: FdbEntry }
  | { op: 'fdb-del'; entry: FdbEntry }
  | { op: 'neigh-add'; entry: NeighEntry }
  | { op: 'neigh-del'; entry: NeighEntry };

export interface OpResult {
  op: KernelOp;
  /** undefined = applied. */
  error?: string;
}

/** A container's end of the network, as `weft attach` creates it. */
export interface AttachSpec {
  /** Host end of the veth pair, a port of `bridge`. */
  hostIfname: string;
  bridge: string;
  /** Path of the container's network namespace (/run/netns/NAME or /proc/PID/ns/net). */
  netns: string;
  /** Name of the interface inside the container. */
  ifname: string;
  /** MAC for the container interface; undefined = the kernel picks one. */
  mac?: string;
  mtu: number;
  /** CIDRs given to the container interface. */
  addresses: string[];
  /** Extra routes via the container interface (the overlay range, when wider than the prefixes). */
  routes: string[];
  /** A default route through this next hop (this host's address on the overlay), when set. */
  gateway?: string;
  /** Hairpin mode on the bridge port, so traffic the host turns back to the container (port mappings) reaches it. */
  hairpin?: boolean;
}

/** What a container's interface looks like from inside its namespace (`Kernel.inspect`). */
export interface ContainerInterface {
  mac: string;
  mtu: number;
  /** IPv4 CIDRs on the interface. */
  addresses: string[];
  /** IPv4 routes in the main table through the interface. */
  routes: { dst: string; gw?: string }[];
  /** Index of the host end of the veth, when the interface is a veth. */
  peerIndex?: number;
}

export interface Attached {
  hostIfname: string;
  /** The container interface's MAC. */
  mac: string;
  /** The host end's MAC. */
  hostMac: string;
}

/** A MAC the bridge has learnt on one of its ports (not the VXLAN device). */
export interface BridgeMac {
  mac: string;
  port: string;
}

/** What the route lookup says about reaching an underlay address. */
export interface UnderlayRoute {
  dev: string;
  mtu: number;
  /** The source address the kernel would use. */
  src?: string;
}

/**
 * Steering of weft's VXLAN packets into the user-space ESP engine (docs/encryption.md): every UDP
 * packet to `port` is looked up in `table`, whose routes are
 * `default dev TUN` and, below it, a blackhole guard — so with the engine down, nothing leaves in
 * clear. The TUN gets no IPv6.
 */
export interface EspSteering {
  /** The engine's TUN device; it may not exist yet (then only the guard routes). */
  tun: string;
  table: number;
  /** The VXLAN port. */
  port: number;
  /** Priority of the two FIB rules. */
  priority: number;
}

export interface Kernel {
  /** Reads the links named in `names` (missing ones are absent) and the FDB/neighbour entries on them. */
  read(names: string[]): Promise<KernelState>;
  /** Applies ops in order, as few round trips as possible. Never rejects for a failed op. */
  apply(ops: KernelOp[]): Promise<OpResult[]>;
  /**
   * The static FDB entries of the named VXLAN devices (missing devices have none), each with how
   * long ago it last forwarded a frame: which peers carry traffic (the prober probes those fast).
   * Resolution 10 ms (the kernel's clock ticks). With usedWithinMs, only entries used that
   * recently (the others cost no decoding: a poll of 100,000 mostly idle entries stays cheap).
   */
  fdbUse(devs: string[], usedWithinMs?: number): Promise<FdbUse[]>;

  /** Creates the veth pair, moves one end into the namespace and configures it. Idempotent per hostIfname. */
  attach(spec: AttachSpec): Promise<Attached>;
  /** The interface ifname inside the namespace at netns, or undefined when it has none by that name. */
  inspect(netns: string, ifname: string): Promise<ContainerInterface | undefined>;
  /** Removes the veth pair (both ends). Missing is not an error. */
  detach(hostIfname: string): Promise<void>;
  /** Names of every link in the namespace (to find weft's devices left by an earlier run). */
  linkNames(): Promise<string[]>;
  /** Names of the bridge's veth ports (links whose master is bridge and whose kind is veth). */
  ports(bridge: string): Promise<string[]>;
  /** MACs learnt (dynamic, `master`) on the bridge's ports other than the VXLAN device. */
  bridgeMacs(bridge: string): Promise<BridgeMac[]>;

  /** IPv4 CIDRs on dev. */
  addresses(dev: string): Promise<string[]>;
  addAddress(dev: string, cidr: string): Promise<void>;
  /** Missing is not an error. */
  delAddress(dev: string, cidr: string): Promise<void>;

  /** The route the kernel would use to reach dst; undefined if unreachable. */
  routeTo(dst: string): Promise<UnderlayRoute | undefined>;

  /**
   * Makes the ESP steering exactly `spec` (undefined = none of weft's rules and table routes).
   * Idempotent; returns what it had to change ([] when nothing). Rejects if the guard cannot be
   * put in place — the caller must then not send to encrypted peers.
   */
  steerEsp(spec: EspSteering | undefined): Promise<string[]>;

  /**
   * Calls onChange (coalesced by the caller) when links, bridge FDB or neighbour entries change,
   * and after an event overflow (the caller then re-reads). Returns an unsubscribe function.
   */
  watch(onChange: () => void): () => void;

  close(): void;
}
