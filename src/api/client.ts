// A client for the local API (used by the CLI and the launcher). Every failure becomes a
// WeftError whose message tells the user what to do next.
//
// Two limits: connecting (short, so an absent or wedged listener is reported fast) and the whole
// request (5 s by default for status reads; long operations pass their own, see
// src/cli/long-operation.ts). Aborting a call's signal closes the connection, which makes the
// daemon cancel the request (server.ts).
import { request } from 'node:http';
import { WeftError } from '../../lib/errors.js';
import { parseHostPort } from './address.js';
import { REQUEST_ID_HEADER, isHealthResponse, type HealthResponse } from './protocol.js';

export interface ApiClientOptions {
  /** Most milliseconds until the connection is accepted (default 2000). */
  connectTimeoutMs?: number;
  /** Per-request limit in milliseconds, connecting included (default 5000); a call may pass its own. */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Aborting closes the request (the daemon cancels what it can); the call rejects with a WeftError 'closed'. */
  signal?: AbortSignal;
  /** This call's limit instead of the client's timeoutMs. */
  timeoutMs?: number;
  /** Tags the request so GET /status/requests can show where it stands. */
  requestId?: string;
}

export const CONNECT_TIMEOUT_MS = 2000;
export const REQUEST_TIMEOUT_MS = 5000;

export class ApiClient {
  readonly addr: string;
  private readonly host: string;
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;

  /** addr is "host:port"; throws a usage WeftError if it is not. */
  constructor(addr: string, opts: ApiClientOptions = {}) {
    const p = parseHostPort(addr, { requirePort: true });
    if (!p.ok) throw new WeftError('usage', `--http-addr "${addr}": ${p.reason} — write host:port, e.g. 127.0.0.1:6784`);
    this.addr = addr;
    this.host = p.value.host;
    this.port = p.value.port!;
    this.timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  }

  get<T>(path: string, opts: CallOptions = {}): Promise<T> {
    return this.call<T>('GET', path, undefined, opts);
  }

  post<T>(path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    return this.call<T>('POST', path, body, opts);
  }

  /** The router's identity, or undefined if nothing listens on the address. */
  async health(): Promise<HealthResponse | undefined> {
    try {
      const h = await this.get<unknown>('/health');
      if (!isHealthResponse(h)) throw this.notWeft('a /health reply without pid, version and name');
      return h;
    } catch (err) {
      if (err instanceof WeftError && err.code === 'not-running') return undefined;
      throw err;
    }
  }

  private async call<T>(method: string, path: string, body: unknown, opts: CallOptions): Promise<T> {
    const res = await this.send(method, path, body, opts);
    if (res.status === 204) return undefined as T;
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw this.notWeft(`HTTP ${res.status} with a body that is not JSON`);
    }
    if (res.status >= 200 && res.status < 300) return json as T;
    const msg = typeof json === 'object' && json !== null && typeof (json as { error?: unknown }).error === 'string'
      ? (json as { error: string }).error
      : `HTTP ${res.status}`;
    if (res.status === 400) throw new WeftError('usage', msg);
    if (res.status === 404 || res.status === 405) {
      throw new WeftError('version-mismatch', `the running weft does not know ${method} ${path} (${msg}) — is it an older version? restart it with \`weft stop\` and \`weft launch\``);
    }
    throw new WeftError('io', `weft answered ${method} ${path} with an error: ${msg}`);
  }

  private send(method: string, path: string, body: unknown, opts: CallOptions): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(cancelled(method, path, signal));
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: false,
          headers: {
            Connection: 'close',
            ...(opts.requestId === undefined ? {} : { [REQUEST_ID_HEADER]: opts.requestId }),
            // Every POST says JSON, body or not: the API refuses a POST without it (415), as it
            // would a web page's form post (src/api/local-only.ts). Host is node's: host:port.
            ...(method === 'POST' ? { 'Content-Type': 'application/json', 'Content-Length': payload?.length ?? 0 } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => done(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (err) => done(err instanceof WeftError ? err : this.transportError(err)));
        },
      );
      const onAbort = (): void => void req.destroy(cancelled(method, path, signal!));
      const whole = setTimeout(() => req.destroy(this.timeoutError(method, path, timeoutMs)), timeoutMs);
      let connecting: NodeJS.Timeout | undefined;
      const done = (err: Error | undefined, value?: { status: number; text: string }): void => {
        clearTimeout(whole);
        clearTimeout(connecting);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value!);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        connecting = setTimeout(
          () => req.destroy(new WeftError('timeout', `nothing accepted a connection on ${this.addr} within ${this.connectTimeoutMs / 1000} s — is weft stuck? pass --http-addr if it listens elsewhere`)),
          this.connectTimeoutMs,
        );
        socket.once('connect', () => clearTimeout(connecting));
      });
      req.on('error', (err) => done(err instanceof WeftError ? err : this.transportError(err)));
      req.end(payload);
    });
  }

  private timeoutError(method: string, path: string, timeoutMs: number): WeftError {
    if (timeoutMs === this.timeoutMs) {
      return new WeftError('timeout', `nothing answered on ${this.addr} within ${timeoutMs / 1000} s — is weft stuck, or is another program listening there? pass --http-addr to use another address`);
    }
    return new WeftError('timeout', `weft did not finish ${method} ${path} within ${formatLimit(timeoutMs)}; gave up, which cancels it — \`weft status\` and the log (weft.log in the data dir) tell what it is stuck on`);
  }

  private transportError(err: NodeJS.ErrnoException): WeftError {
    if (err.code === 'ECONNREFUSED') {
      return new WeftError('not-running', `weft is not running in this network namespace (nothing answers on ${this.addr}) — start it with \`weft launch\``, { cause: err });
    }
    return new WeftError('io', `cannot reach weft on ${this.addr}: ${err.message} — check --http-addr`, { cause: err });
  }

  private notWeft(what: string): WeftError {
    return new WeftError('protocol', `${this.addr} answered with ${what}: it is not weft's API — is another program using that port? pass --http-addr`);
  }
}

function cancelled(method: string, path: string, signal: AbortSignal): WeftError {
  return new WeftError('closed', `${method} ${path} was cancelled`, { cause: signal.reason });
}

function formatLimit(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}
