// Every default and protocol constant in one place. Components take an options object whose
// defaults come from here; nothing else hard-codes a port, a timeout or a limit.

export const VERSION = '0.1.0';

/** Ports (the ones Weave users already open). */
export const MESH_PORT = 6783; // TCP control plane; UDP 6783 carries ESP (the encrypted data plane)
export const VXLAN_PORT = 6784; // UDP kernel VXLAN data plane (later)
export const HTTP_ADDR = '127.0.0.1:6784'; // local HTTP API used by the CLI
export const METRICS_PORT = 6782; // Prometheus /metrics, /healthz, /readyz (src/metrics/)
export const METRICS_ADDR = `127.0.0.1:${METRICS_PORT}`; // `weft launch`'s default (loopback, as Weave's); `weft router` has none

export const DATA_DIR = '/var/lib/weft';

/** Data plane (see docs/dataplane.md). */
export const IPALLOC_RANGE = '10.32.0.0/12';
/** IPAM (see docs/ipam.md). */
export const IPALLOC_RECLAIM_AFTER = '10m';
export const IPALLOC_RECLAIM_AFTER_MS = 10 * 60_000;
/** Space taken over from a gone peer is not handed out for this long (at most half the grace period). */
export const IPALLOC_QUARANTINE_MS = 30_000;
export const VXLAN_VNI = 0x5eb1;
export const MIN_MTU = 576;
export const MAX_MTU = 65_000;
/** A probe per peer this often; a direct path is down after FAIL_AFTER without an answer. */
export const PROBE_INTERVAL_MS = 300;
export const PROBE_FAIL_AFTER_MS = 1_200;
/**
 * The probe budget (docs/dataplane.md): idle peers share PROBE_IDLE_RATE probes/s (each probed every
 * max(0.3 s, idle peers / 50) s: 20 s at 1,000 peers), and the prober sends at most PROBE_BUDGET
 * probe datagrams/s in all; peers that carry traffic (a forwarding entry used within PROBE_ACTIVE_MS,
 * read from the kernel every PROBE_ACTIVITY_POLL_MS) and unsettled peers are probed every interval.
 */
export const PROBE_IDLE_RATE = 50;
export const PROBE_BUDGET = 300;
export const PROBE_ACTIVITY_POLL_MS = 1_000;
export const PROBE_ACTIVE_MS = 10_000;
/** Probes failing within this long after a peer's control connection closed mean its router stopped, not its path (router/paths.ts). */
export const PATH_SETTLE_MS = 3_000;
/** A gone peer's endpoints stay installed this long (its router may be restarting). */
export const PEER_GRACE_MS = 60_000;
/** Kernel entries found at start are kept this long while the mesh catches up. */
export const ADOPT_MS = 20_000;
export const BRIDGE_REFRESH_MS = 2_000;
/** How long a CNI ADD waits for an address (the ring forming, a fenced minority) before it answers "try again later". */
export const CNI_ADD_WAIT_MS = 30_000;

/** weaveworks/mesh protocol, version 2 (see docs/mesh-protocol.md). */
export const PROTOCOL_NAME = 'weave';
export const PROTOCOL_MAX_VERSION = 2;
/** mesh accepts versions 1–2; weft only speaks v2, and v1-only peers are refused with a clear reason. */
export const WEFT_MIN_VERSION = 2;
export const HEADER_TIMEOUT_MS = 10_000;
/** mesh's liveness, kept towards every peer that does not announce fast heartbeats (Go peers). */
export const HEARTBEAT_INTERVAL_MS = 30_000;
export const READ_DEADLINE_MS = 60_000;
/**
 * Between weft peers that both announce FEATURE_WEFT_HEARTBEAT: a heartbeat every second (skipped
 * when other messages went out) and a 4 s read deadline, so a silently dropped link is noticed in
 * seconds rather than a minute (docs/mesh-protocol.md, "Liveness").
 */
export const FAST_HEARTBEAT_INTERVAL_MS = 1_000;
export const FAST_READ_DEADLINE_MS = 4_000;
/**
 * The heartbeat a weft peer offers when the kernel watches the connection (TCP keepalive and
 * TCP_USER_TIMEOUT at FAST_READ_DEADLINE_MS, mesh/transport.ts): the link is then checked every
 * second at no cost to either program, and heartbeats only tell that the other router still runs
 * (a hung one is dropped after 60 s, mesh's own read deadline). Mesh's own 30 s, rather than 10 s
 * or 20 s: heartbeats were most of an idle mesh's CPU (at 100 routers with ~11 connections each,
 * 20 → 30 s took the idle mesh from 1.0–1.9 to 0.84–0.87 CPU-s per 30 s).
 */
export const WATCHED_HEARTBEAT_INTERVAL_MS = 30_000;
/** The kernel's keepalive probes on a watched link: after this much silence, then this often. */
export const LINK_PROBE_INTERVAL_MS = 1_000;
/** A fast read deadline spans at least this many of the interval the peer announced. */
export const FAST_DEADLINE_HEARTBEATS = 3;
export const MAX_FRAME_BYTES = 10 * 1024 * 1024;

export const GOSSIP_INTERVAL_MS = 30_000;
export const TOPOLOGY_COALESCE_MS = 1_000;
export const GC_DEFER_MS = 1_000;
/**
 * A peer named in someone's connections whose own summary we lack (a missed update): after this
 * long, our complete table goes to a neighbour, whose push-pull answer brings the summary; the
 * wait doubles while it stays missing, up to the gossip interval (docs/mesh-protocol.md).
 */
export const TOPOLOGY_REPAIR_MS = 2_000;
export const ROUTES_DEFER_MS = 100;

export const CONN_LIMIT = 100;
/**
 * How many peers discovery connects a router to when it does not encrypt (docs/mesh-protocol.md,
 * "Sparse mesh"): the mesh stays a bounded-degree random graph however many peers join. With a
 * password every peer connects to every peer it learns of (up to the connection limit), because
 * the data plane's ESP keys are agreed over a direct control connection.
 */
export const MESH_DEGREE = 8;
export const BACKOFF_INITIAL_MS = 2_000;
export const BACKOFF_FACTOR = 1.5;
export const BACKOFF_MAX_MS = 6 * 60_000;
export const BACKOFF_RESET_AFTER_MS = 60_000;
/** The connection maker re-reads the topology at most this often. */
export const MAKER_REFRESH_MS = 50;
/** A discovered peer with a lower name gets about this long to dial us before we dial it. */
export const DISCOVERY_YIELD_MS = 1_000;

/**
 * Delays that trade speed for less traffic (topology coalescing, the discovery yield) grow with
 * the mesh: 20 ms per known peer, at least a fifth of the maximum, at most the maximum. A small
 * mesh converges in well under a second; a large one sends fewer, fuller updates.
 * (Measured in-process on this machine: a fixed 200 ms gave 0.56 s at 10 peers but 12.8 s at 50,
 * a fixed 1 s gave 2.2 s at 10 and 4.8–11 s at 50.)
 */
export function scaledDelay(maxMs: number, peers: number): number {
  return Math.min(maxMs, Math.max(maxMs / 5, 20 * peers));
}

export const ACCEPT_BURST = 100;
export const ACCEPT_TOKEN_MS = 50;

export const SHORT_ID_BITS = 12;

/** Feature keys weft adds to the mesh feature map (Go peers ignore unknown keys). */
export const FEATURE_WEFT_VERSION = 'WeftVersion';
export const FEATURE_WEFT_CAPS = 'WeftCaps';
/** The heartbeat interval (ms) a weft peer will use if the other side announces one too. */
export const FEATURE_WEFT_HEARTBEAT = 'WeftHeartbeat';

// Encryption (docs/encryption.md)
/** Preferred first. AES-256-GCM leads: with AES-NI it is the faster of the two here (bench/esp-aead.ts). */
export const ESP_CIPHERS = ['aes-256-gcm', 'chacha20-poly1305'] as const;
/** Keys are replaced after this long … */
export const ESP_REKEY_AFTER_MS = 60 * 60_000;
/** … or after this many packets (the 32-bit sequence number must never wrap). */
export const ESP_REKEY_AFTER_PACKETS = 2 ** 31;
/** An old inbound SA keeps working this long after its replacement. */
export const ESP_OVERLAP_MS = 30_000;
