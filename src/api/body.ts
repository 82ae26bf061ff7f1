// Reading a request body: JSON by its declared type, bounded in size, decoded, never throwing.
// The type is required even when the body is empty: a browser cannot send application/json
// across sites without asking first (a CORS preflight weft never answers), so the type is what
// tells a program on this host from a web page's form post (local-only.ts).
import type { IncomingMessage } from 'node:http';

export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; status: 400 | 413 | 415; reason: string };

/**
 * Reads the whole body (at most maxBytes) and parses it as JSON; an empty body is `undefined`.
 * Refuses (415, without reading) a request whose Content-Type is not application/json.
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const type = req.headers['content-type'];
  if (!isJsonType(type)) {
    const said = type === undefined ? 'no Content-Type' : `Content-Type ${type}`;
    return Promise.resolve({ ok: false, status: 415, reason: `the request has ${said}: send JSON with Content-Type: application/json` });
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBytes) return Promise.resolve(tooLarge(maxBytes));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        finish(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('error', (err) => finish({ ok: false, status: 400, reason: `reading the request failed: ${err.message}` }));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return finish({ ok: true, value: undefined });
      try {
        finish({ ok: true, value: JSON.parse(text) as unknown });
      } catch (err) {
        finish({ ok: false, status: 400, reason: `the request body is not valid JSON (${(err as Error).message})` });
      }
    });
  });
}

function tooLarge(maxBytes: number): BodyResult {
  return { ok: false, status: 413, reason: `the request body is larger than ${maxBytes / 1024} KiB` };
}

/** "application/json", any case, parameters (charset) allowed. */
function isJsonType(type: string | undefined): boolean {
  return type !== undefined && type.split(';')[0]!.trim().toLowerCase() === 'application/json';
}
