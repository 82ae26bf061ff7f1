// A client for the local API (used by the CLI and the launcher). Every failure becomes a
// WeftError whose message tells the user what to do next.
import { request } from 'node:http';
import { WeftError } from '../errors.js';
import { parseHostPort } from './address.js';
import { isHealthResponse, type HealthResponse } from './protocol.js';

export interface ApiClientOptions {
  /** Per-request limit in milliseconds (default 5000). */
  timeoutMs?: number;
}

export class ApiClient {
  readonly addr: string;
  private readonly host: string;
  private readonly port: number;
  private readonly timeoutMs: number;

  /** addr is "host:port"; throws a usage WeftError if it is not. */
  constructor(addr: string, opts: ApiClientOptions = {}) {
    const p = parseHostPort(addr, { requirePort: true });
    if (!p.ok) throw new WeftError('usage', `--http-addr "${addr}": ${p.reason} — write host:port, e.g. 127.0.0.1:6784`);
    this.addr = addr;
    this.host = p.value.host;
    this.port = p.value.port!;
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
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

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
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

  private send(method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: false,
          headers: {
            Connection: 'close',
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (err) => reject(this.transportError(err)));
        },
      );
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new WeftError('timeout', `nothing answered on ${this.addr} within ${this.timeoutMs / 1000} s — is weft stuck, or is another program listening there? pass --http-addr to use another address`)),
      );
      req.on('error', (err) => reject(err instanceof WeftError ? err : this.transportError(err)));
      req.end(payload);
    });
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
