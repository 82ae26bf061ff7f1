// Reading a request body: bounded in size, decoded as JSON, never throwing.
import type { IncomingMessage } from 'node:http';

export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; status: 400 | 413; reason: string };

/** Reads the whole body (at most maxBytes) and parses it as JSON; an empty body is `undefined`. */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
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
