// The local HTTP API the CLI talks to: JSON over node:http, bound to one loopback address.
// Requests flow: node:http → only from a local program: own Host, no Origin (local-only.ts; 403)
// → method/path lookup (routes.ts) → JSON content type, bounded body (body.ts; 415, 413, 400) →
// handler → JSON reply. A handler that throws gives 500; nothing a client sends stops the server.
// Each request gets an AbortSignal that aborts when the client closes its connection before the
// reply is written (a CLI interrupted or giving up): long handlers pass it on and stop.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { MeshControl } from '../../mesh/status.js';
import type { DataplaneControl } from '../../router/status.js';
import type { IpamControl } from '../../ipam/status.js';
import { formatHostPort, parseHostPort } from './address.js';
import { readJsonBody } from './body.js';
import { foreignRequest, ownHostNames } from './local-only.js';
import { MAX_BODY_BYTES, REQUEST_ID_HEADER, type ReadyResponse, type RequestsStatus } from './protocol.js';
import { apiRoutes, replyForError, type Reply, type Route } from './routes.js';
import { cniRoutes, type CniControl } from './cni-routes.js';

export interface ApiServerOptions {
  control: MeshControl;
  /** The data plane, when the router has one. */
  dataplane?: DataplaneControl;
  /** Address management, when the router has it. */
  ipam?: IpamControl;
  /** The CNI plugin's operations, when the router has a data plane. */
  cni?: CniControl;
  /** GET /readyz without the CNI routes (src/daemon/readiness.ts); the CNI routes answer it with cni.ready. */
  ready?: () => ReadyResponse;
  /** "host:port" to bind, e.g. 127.0.0.1:6784; port 0 picks a free one. Only this address is bound. */
  addr: string;
  log: Logger;
  /** Called once, after the reply to POST /stop has been written. */
  onStop: () => void;
}

export interface ApiServer {
  /** The bound "host:port" (the real port when 0 was asked for). */
  readonly address: string;
  /** Stops listening and drops open connections; safe to call twice. */
  close(): Promise<void>;
}

/** Starts the API; rejects with a WeftError saying what to do when the address cannot be bound. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const parsed = parseHostPort(opts.addr, { requirePort: true, allowPortZero: true });
  if (!parsed.ok) throw new WeftError('usage', `HTTP API address "${opts.addr}": ${parsed.reason} — pass --http-addr host:port`);
  const { host } = parsed.value;
  const log = opts.log.child({ component: 'api' });
  let stopping = false;
  const onStop = (): void => {
    if (stopping) return;
    stopping = true;
    opts.onStop();
  };
  const inFlight = new Set<InFlight>();
  const requests = (): RequestsStatus => {
    const now = Date.now();
    // A Set iterates in insertion order: the order the requests arrived.
    return { inFlight: [...inFlight].map((r) => ({ path: r.path, ageMs: now - r.since, ...(r.id === undefined ? {} : { id: r.id }) })) };
  };
  const routes = apiRoutes(opts.control, onStop, opts.dataplane, opts.ipam, requests);
  const cni = opts.cni;
  const ready = cni ? () => cni.ready() : (opts.ready ?? ((): ReadyResponse => ({ ready: false, reasons: ['the router runs without a data plane (--no-dataplane): it cannot attach containers'] })));
  if (cni) for (const [path, route] of cniRoutes(cni, log)) routes.set(path, route);
  else routes.set('/readyz', { method: 'GET', handle: () => { const r = ready(); return { status: r.ready ? 200 : 503, body: r }; } });
  // The same answer with 200 either way, for `weft status`.
  routes.set('/status/ready', { method: 'GET', handle: () => ({ status: 200, body: ready() }) });
  // Filled in once bound (the port may be 0 until then); no request is served before that.
  const guard: Guard = { own: new Set(), port: 0, wildcard: host === '0.0.0.0' || host === '::', refused: 0 };
  const server = createServer((req, res) => void serve(routes, req, res, log, inFlight, guard));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(listenError(opts.addr, err));
    server.once('error', onError);
    server.listen({ host, port: parsed.value.port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'HTTP API server error'));
  const port = (server.address() as AddressInfo).port;
  const address = formatHostPort({ host, port });
  guard.own = ownHostNames(host, port);
  guard.port = port;
  log.info({ address }, 'HTTP API listening');

  let closed: Promise<void> | undefined;
  return {
    address,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** What a request's Host may say, and how many requests were refused for coming from elsewhere. */
interface Guard {
  own: Set<string>;
  port: number;
  wildcard: boolean;
  refused: number;
}

interface InFlight {
  path: string;
  since: number;
  id: string | undefined;
}

async function serve(routes: Map<string, Route>, req: IncomingMessage, res: ServerResponse, log: Logger, inFlight: Set<InFlight>, guard: Guard): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://api').pathname.replace(/\/+$/, '') || '/';
  const route = routes.get(path);
  const foreign = foreignRequest(req.headers, guard.own, guard.port, guard.wildcard);
  let reply: Reply;
  if (foreign !== undefined) {
    // The first refusal is worth a warning (a web page is trying the API); the rest would flood the log.
    guard.refused++;
    const fields = { method: req.method, path, host: req.headers.host, origin: req.headers.origin, refused: guard.refused };
    if (guard.refused === 1) log.warn(fields, `API request refused: ${foreign}`);
    else log.debug(fields, 'API request refused: not from a local program');
    reply = { status: 403, body: { error: foreign } };
  } else if (route === undefined) {
    reply = { status: 404, body: { error: `no such API path: ${path}` } };
  } else if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
    res.setHeader('Allow', route.method);
    reply = { status: 405, body: { error: `${path} takes ${route.method}, not ${req.method}` } };
  } else {
    // The response closes early only when the connection went away before we answered.
    const cancel = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) cancel.abort(new WeftError('closed', `the client closed the connection before ${path} was answered`));
    });
    const id = req.headers[REQUEST_ID_HEADER];
    const entry: InFlight = { path, since: Date.now(), id: typeof id === 'string' ? id.slice(0, 64) : undefined };
    if (route.method === 'POST') inFlight.add(entry);
    try {
      reply = await handle(route, req, log, cancel.signal);
    } finally {
      inFlight.delete(entry);
    }
    if (cancel.signal.aborted) {
      log.info({ path, status: reply.status }, 'API client went away before the reply; the request was cancelled');
      // What could not be cancelled (a reset) still has its sequel (the router stops).
      reply.after?.();
      return;
    }
  }
  if (reply.status >= 400) log.debug({ method: req.method, path, status: reply.status }, 'API request refused');
  send(res, reply);
}

async function handle(route: Route, req: IncomingMessage, log: Logger, signal: AbortSignal): Promise<Reply> {
  let body: unknown;
  if (route.method === 'POST') {
    const r = await readJsonBody(req, MAX_BODY_BYTES);
    if (!r.ok) return { status: r.status, body: { error: r.reason } };
    body = r.value;
  }
  try {
    return await route.handle(body, { signal, headers: req.headers });
  } catch (err) {
    return replyForError(err, signal, log);
  }
}


function send(res: ServerResponse, reply: Reply): void {
  if (reply.after !== undefined) res.once('finish', reply.after);
  // A body that was not read (refused early) would otherwise be drained over a kept-alive socket.
  if (reply.status === 413 || reply.status === 415 || reply.status === 403) res.setHeader('Connection', 'close');
  if (reply.raw !== undefined) {
    res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(reply.raw.text), ...reply.raw.headers });
    res.end(reply.raw.text);
    return;
  }
  if (reply.body === undefined) {
    res.writeHead(reply.status).end();
    return;
  }
  const text = toJson(reply.body) + '\n';
  res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * JSON with bigints as decimal strings. Without a replacer first: most bodies hold none, and a
 * replacer makes JSON.stringify call back for every value (the peers of a 100-router mesh,
 * 135 KB: 0.44 ms against 0.25 ms). A bigint makes it throw, and the replacer takes over.
 */
export function toJson(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
}

function listenError(addr: string, err: NodeJS.ErrnoException): WeftError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new WeftError('io', `${addr} is in use — is weft already running? \`weft status\` tells; or pass --http-addr`, { cause: err });
    case 'EACCES':
      return new WeftError('io', `not allowed to listen on ${addr} — pick another port with --http-addr`, { cause: err });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new WeftError('io', `${addr} is not an address of this host — pass --http-addr with a local address such as 127.0.0.1:6784`, { cause: err });
    default:
      return new WeftError('io', `cannot listen on ${addr}: ${err.message} — pass --http-addr to use another address`, { cause: err });
  }
}
