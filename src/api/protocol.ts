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
//   anything else              → 404/405 ErrorResponse; bad input → 400; body > 64 KiB → 413
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
}

export function isHealthResponse(v: unknown): v is HealthResponse {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return h.ok === true && typeof h.pid === 'number' && typeof h.version === 'string' && typeof h.name === 'string';
}
