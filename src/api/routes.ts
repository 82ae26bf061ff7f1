// What each API path does, as plain functions of (control, request body) → reply; the HTTP
// plumbing lives in server.ts. See protocol.ts for the list of paths.
import { VERSION } from '../../lib/constants.js';
import type { MeshControl } from '../../mesh/status.js';
import type { Result } from '../../lib/result.js';
import { parsePeerAddresses } from './address.js';
import type { HealthResponse, RequestsStatus } from './protocol.js';
import type { DataplaneControl } from '../../router/status.js';
import { dataplaneRoutes, ipamRoutes } from './dataplane-routes.js';
import type { IpamControl } from '../../ipam/status.js';

export interface Reply {
  status: number;
  /** JSON-encoded; omitted for 204. */
  body?: unknown;
  /** Runs once the reply has been written (used by /stop). */
  after?: () => void;
}

/** What a handler knows of its request besides the body. */
export interface RequestContext {
  /** Aborts when the client closes its connection before the reply is sent (interrupted, gave up). */
  signal: AbortSignal;
}

export interface Route {
  method: 'GET' | 'POST';
  handle(body: unknown, req: RequestContext): Reply | Promise<Reply>;
}

export function apiRoutes(
  control: MeshControl,
  onStop: () => void,
  dataplane?: DataplaneControl,
  ipam?: IpamControl,
  requests: () => RequestsStatus = () => ({ inFlight: [] }),
): Map<string, Route> {
  const get = (fn: () => unknown): Route => ({ method: 'GET', handle: () => ({ status: 200, body: fn() }) });
  return new Map<string, Route>([
    ...(dataplane ? dataplaneRoutes(dataplane, onStop) : []),
    ...(ipam ? ipamRoutes(ipam) : []),
    ['/health', get((): HealthResponse => ({ ok: true, pid: process.pid, version: VERSION, name: control.status().name }))],
    ['/status', get(() => control.status())],
    ['/status/peers', get(() => control.peers())],
    ['/status/connections', get(() => control.connections())],
    ['/status/targets', get(() => control.status().targets)],
    ['/status/requests', get(requests)],
    [
      '/connect',
      {
        method: 'POST',
        handle(body) {
          const req = parseTargetsRequest(body, true);
          if (!req.ok) return badRequest(req.reason);
          control.connect(req.value.peers, req.value.replace);
          return { status: 204 };
        },
      },
    ],
    [
      '/forget',
      {
        method: 'POST',
        handle(body) {
          const req = parseTargetsRequest(body, false);
          if (!req.ok) return badRequest(req.reason);
          control.forget(req.value.peers);
          return { status: 204 };
        },
      },
    ],
    ['/stop', { method: 'POST', handle: () => ({ status: 202, body: { ok: true, stopping: true }, after: onStop }) }],
  ]);
}

function badRequest(reason: string): Reply {
  return { status: 400, body: { error: reason } };
}

/**
 * Checks a /connect or /forget body: `{ "peers": [...], "replace": bool }`, peers canonicalised
 * (see address.ts). Unknown fields are refused so a typo is not silently ignored.
 */
export function parseTargetsRequest(body: unknown, allowReplace: boolean): Result<{ peers: string[]; replace: boolean }> {
  const fields = allowReplace ? ['peers', 'replace'] : ['peers'];
  const example = allowReplace ? '{"peers": ["192.0.2.1:6783"], "replace": false}' : '{"peers": ["192.0.2.1:6783"]}';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, reason: `expected a JSON object like ${example}` };
  }
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !fields.includes(k));
  if (unknown.length > 0) return { ok: false, reason: `unknown field "${unknown[0]}"; expected ${fields.join(', ')}` };
  if (!Array.isArray(b.peers) || !b.peers.every((p): p is string => typeof p === 'string')) {
    return { ok: false, reason: `"peers" must be an array of "host[:port]" strings, as in ${example}` };
  }
  if (b.replace !== undefined && typeof b.replace !== 'boolean') return { ok: false, reason: '"replace" must be true or false' };
  const peers = parsePeerAddresses(b.peers);
  if (!peers.ok) return peers;
  return { ok: true, value: { peers: peers.value, replace: b.replace === true } };
}
