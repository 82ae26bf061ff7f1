// The plugin's only way out: JSON over HTTP to the router's local API (src/api/protocol.ts),
// with node:http and nothing else, because the plugin's start-up is on every container's
// critical path. Every outcome is a value, not a throw: the plugin maps it to a CNI error.
import { request } from 'node:http';

export type Reply =
  /** The router answered (any status); body is its decoded JSON (undefined if there was none or it was not JSON). */
  | { kind: 'reply'; status: number; body: unknown }
  /** Nothing listens there (ECONNREFUSED, unreachable): the router is not running. */
  | { kind: 'unreachable'; reason: string }
  /** The router took longer than the deadline. */
  | { kind: 'timeout' };

/** What the plugin needs of the router; an in-memory twin stands in for it in tests. */
export interface RouterApi {
  /** GET (body undefined) or POST path; resolves by timeoutMs at the latest, never rejects. */
  call(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<Reply>;
}

export class HttpRouterApi implements RouterApi {
  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  call(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<Reply> {
    return new Promise((resolve) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      let done = false;
      const finish = (r: Reply): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = request(
        {
          host: this.host,
          port: this.port,
          path,
          method,
          // Every POST says JSON (the API refuses one without, 415); node sets Host to host:port,
          // which the API requires to be its own address (src/api/local-only.ts).
          headers: method === 'POST' ? { 'content-type': 'application/json', 'content-length': payload?.length ?? 0 } : {},
          // One request per process: no keep-alive pool to hold the event loop open.
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => finish({ kind: 'unreachable', reason: err.message }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            finish({ kind: 'reply', status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      // Closing the connection on the deadline also tells the router to cancel and undo (server.ts).
      const timer = setTimeout(() => {
        finish({ kind: 'timeout' });
        req.destroy();
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'unreachable', reason: err.code ?? err.message }));
      req.end(payload);
    });
  }
}
