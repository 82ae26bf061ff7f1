// The metrics listener (TCP 6782 by default, --metrics-addr): read-only, three paths and nothing
// else, so unlike the local API (src/api/, loopback only, guarded by local-only.ts) it may listen
// on the node's address for Prometheus and a DaemonSet's probes.
//   GET /metrics  Prometheus text format (metrics.ts)
//   GET /healthz  200 {"alive":true,…} while the process answers at all
//   GET /readyz   200 or 503 with src/daemon/readiness.ts's answer {"ready","reasons"}
//   anything else 404; another method 405
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { formatHostPort, parseHostPort } from '../api/address.js';
import type { ReadyResponse } from '../api/protocol.js';

export interface MetricsServerOptions {
  /** "host:port" to bind; port 0 picks a free one. */
  addr: string;
  metrics: { text(): Promise<string>; contentType: string };
  ready(): ReadyResponse;
  health(): Record<string, unknown>;
  log: Logger;
}

export interface MetricsServer {
  /** The bound "host:port". */
  readonly address: string;
  /** Stops listening and drops open connections; safe to call twice. */
  close(): Promise<void>;
}

/** Starts the listener; rejects with a WeftError saying what to do when the address cannot be bound. */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const parsed = parseHostPort(o.addr, { requirePort: true, allowPortZero: true });
  if (!parsed.ok) throw new WeftError('usage', `--metrics-addr "${o.addr}": ${parsed.reason} — write host:port, e.g. 127.0.0.1:6782, or off`);
  const { host } = parsed.value;
  const log = o.log.child({ component: 'metrics' });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    const route = ROUTES[path];
    if (route === undefined) return json(res, 404, { error: `no such path: ${path} (this listener serves /metrics, /healthz and /readyz)` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return json(res, 405, { error: `${path} takes GET` });
    }
    if (route === 'health') return json(res, 200, { alive: true, ...o.health() });
    if (route === 'ready') {
      const r = o.ready();
      return json(res, r.ready ? 200 : 503, r);
    }
    o.metrics.text().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': o.metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'collecting metrics failed');
        json(res, 500, { error: `collecting metrics failed: ${errorMessage(err)}` });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(listenError(o.addr, err));
    server.once('error', onError);
    server.listen({ host, port: parsed.value.port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: errorMessage(err) }, 'metrics server error'));
  const address = formatHostPort({ host, port: (server.address() as AddressInfo).port });
  log.info({ address }, 'metrics listening');
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

const ROUTES: Record<string, 'metrics' | 'health' | 'ready'> = { '/metrics': 'metrics', '/healthz': 'health', '/readyz': 'ready' };

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function listenError(addr: string, err: NodeJS.ErrnoException): WeftError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new WeftError('io', `metrics address ${addr} is in use (another weft, or another exporter on that port) — pass --metrics-addr with another host:port, or --metrics-addr off`, { cause: err });
    case 'EACCES':
      return new WeftError('io', `not allowed to listen on ${addr} for metrics — pick another port with --metrics-addr`, { cause: err });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new WeftError('io', `${addr} is not an address of this host — pass --metrics-addr with a local address such as 127.0.0.1:6782 (or the node's address for Prometheus)`, { cause: err });
    default:
      return new WeftError('io', `cannot listen on ${addr} for metrics: ${err.message} — pass --metrics-addr to use another address, or --metrics-addr off`, { cause: err });
  }
}
