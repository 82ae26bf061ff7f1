// What each API path does, as plain functions of (control, request body) → reply; the HTTP
// plumbing lives in server.ts. See protocol.ts for the list of paths.
import { VERSION } from '../../lib/constants.js';
import { WeftError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
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
  /** Instead of body: this text as it is, with these headers (POST /cni/exec answers with a plugin's stdout). */
  raw?: { text: string; headers: Record<string, string> };
  /** Runs once the reply has been written (used by /stop). */
  after?: () => void;
}

/** What a handler knows of its request besides the body. */
export interface RequestContext {
  /** Aborts when the client closes its connection before the reply is sent (interrupted, gave up). */
  signal: AbortSignal;
  /** The request's headers, names in lower case. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
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

/** The errors a client can act on, by HTTP status (the rest are 500). */
const STATUS_OF: Partial<Record<string, number>> = { usage: 400, 'not-found': 404, mismatch: 409, unavailable: 503 };

/** What a handler's failure answers: the errors a client can act on by their status, the rest 500 (logged). */
export function replyForError(err: unknown, signal: AbortSignal, log: Logger): Reply {
  if (err instanceof WeftError && STATUS_OF[err.code] !== undefined) return { status: STATUS_OF[err.code]!, body: { error: err.message, code: err.code } };
  if (signal.aborted) return { status: 499, body: { error: `cancelled: ${errorMessage(err)}`, code: 'aborted' } };
  log.error({ err }, 'API handler failed');
  return { status: 500, body: { error: `weft could not do that: ${errorMessage(err)}`, ...(err instanceof WeftError ? { code: err.code } : {}) } };
}
