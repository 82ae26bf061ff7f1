// The local HTTP API's request and response shapes (JSON), shared by the server and the CLI.
//
//   GET  /health               → HealthResponse
//   GET  /status               → RouterStatus          (mesh/status.ts)
//   GET  /status/peers         → PeerStatus[]
//   GET  /status/connections   → ConnectionStatus[]
//   GET  /status/targets       → TargetStatus[]
//   GET  /status/requests      → RequestsStatus        (what the API is busy with; the CLI's progress line)
//   POST /connect  TargetsRequest → 204
//   POST /forget   TargetsRequest (no "replace") → 204
//   POST /stop                 → 202, then the router shuts down
//   GET  /status/dataplane     → DataplaneStatus       (router/status.ts; with the data plane)
//   GET  /status/endpoints     → EndpointStatus[]
//   POST /attach {container, cidrs} → EndpointStatus   (cidrs empty: an address from IPAM)
//   POST /detach {container}   → EndpointStatus
//   POST /expose {cidr} → 204; POST /hide {cidr?} → {hidden}
//   POST /reset {}             → 202, kernel state removed, then the router shuts down
//   GET  /status/ipam          → IpamStatusJson        (ipam/status.ts)
//   POST /rmpeer {peer}        → {takenOver}
//   GET  /readyz               → ReadyResponse (200 ready, 503 not; the CNI plugin's STATUS)
//   GET  /status/ready         → ReadyResponse, 200 either way (`weft status`; src/daemon/readiness.ts)
//   POST /cni/add   CniAddRequest   → CniAttachment   (the CNI plugin, src/cni/; docs/cni.md)
//   POST /cni/del   CniKey          → CniDelResponse  (nothing attached is not an error)
//   POST /cni/check CniCheckRequest → CniAttachment   (409 ErrorResponse saying what differs)
//   POST /cni/gc    CniGcRequest    → CniGcResponse
//   POST /cni/exec  a whole plugin call from the native forwarder (native/weft-cni.c): CNI_* as
//                   X-Cni-Command|Containerid|Netns|Ifname|Args|Path headers, the network config as
//                   the body → 200 with the plugin's stdout as the body, its exit code in X-Cni-Exit
//                   and a one-line note in X-Cni-Stderr (src/api/cni-routes.ts)
//   anything else              → 404/405 ErrorResponse; bad input → 400; body > 64 KiB → 413
//   only from a local program (local-only.ts), checked before anything else, GET or POST:
//   Host not the API's own address, any Origin, Sec-Fetch-Site other than none/same-origin → 403;
//   a POST without Content-Type: application/json (even with no body) → 415
//   an ErrorResponse carries `code` (lib/errors.ts WeftErrorCode) so a client can tell
//   "try again later" ('unavailable', HTTP 503) from bad input ('usage', 400) and a missing
//   namespace ('not-found', 404)
//
// A client that closes its connection before the reply cancels the request: the handler's
// signal aborts (attach and detach stop and undo; the other operations finish regardless).

export const MAX_BODY_BYTES = 64 * 1024;

export interface HealthResponse {
  ok: true;
  pid: number;
  version: string;
  /** The router's peer name (aa:bb:cc:dd:ee:ff). */
  name: string;
}

export interface TargetsRequest {
  /** "host[:port]" each; validated by the server. */
  peers: string[];
  /** /connect only: forget the previous targets first. */
  replace?: boolean;
}

/** The header a client may tag a request with, to find it in RequestsStatus. */
export const REQUEST_ID_HEADER = 'x-weft-request';

/** The POST requests being handled right now, in the order they arrived. */
export interface RequestsStatus {
  inFlight: { path: string; ageMs: number; id?: string }[];
}

export interface ErrorResponse {
  /** What went wrong and, where it helps, what to do about it. */
  error: string;
  /** The WeftErrorCode behind it, when there is one (lib/errors.ts). */
  code?: string;
}

/** GET /readyz: ready when the mesh listens, the data plane is programmed and IPAM can allocate (or is not used). */
export interface ReadyResponse {
  ready: boolean;
  /** Why not (empty when ready). */
  reasons: string[];
}

/** A CNI attachment's key, as the CNI spec keys attachments. */
export interface CniKey {
  /** CNI_CONTAINERID. */
  id: string;
  /** CNI_IFNAME. */
  ifname: string;
}

export interface CniAddRequest extends CniKey {
  /** CNI_NETNS: the namespace path. */
  netns: string;
  /** Requested addresses ("10.32.0.9/12" or "10.32.0.9"): the `ips` capability or IP= in CNI_ARGS. Empty: one from IPAM. */
  ips?: string[];
  /** The runtime's names for display (`weft ps`): K8S_POD_NAMESPACE/K8S_POD_NAME, or podman's container name in K8S_POD_NAME. */
  names?: { namespace?: string; pod?: string };
  /** A default route via this host's overlay address (default true). */
  defaultRoute?: boolean;
  /** Masquerade traffic from the overlay range to outside it (default true). */
  masquerade?: boolean;
}

export interface CniCheckRequest extends CniKey {
  netns: string;
}

export interface CniRoute {
  /** CIDR. */
  dst: string;
  /** Next hop; absent for a route on the link. */
  gw?: string;
}

/** What an attachment made: enough for a CNI result of any version. */
export interface CniAttachment extends CniKey {
  netns: string;
  /** The container interface's MAC. */
  mac: string;
  /** The host end of the veth (on bridge "weft") and its MAC. */
  hostIfname: string;
  hostMac: string;
  mtu: number;
  /** The container interface's addresses with prefix ("10.32.0.5/12"). */
  cidrs: string[];
  /** This host's address on the overlay (the default route's next hop), when there is one. */
  gateway?: string;
  routes: CniRoute[];
}

export interface CniDelResponse {
  /** False when nothing was attached under the key (already gone). */
  released: boolean;
}

export interface CniGcRequest {
  /** cni.dev/valid-attachments: every CNI attachment of this router not listed is released. */
  keep: CniKey[];
}

export interface CniGcResponse {
  released: CniKey[];
}

export function isHealthResponse(v: unknown): v is HealthResponse {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return h.ok === true && typeof h.pid === 'number' && typeof h.version === 'string' && typeof h.name === 'string';
}
