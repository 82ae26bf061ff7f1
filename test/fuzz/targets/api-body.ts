// The local API's request bodies (src/api/body.ts): any local process, or a web page (issue 13),
// can send them. The first input byte splits the rest into chunks of that size and picks the
// headers, the second sets the size limit; readJsonBody must resolve (never reject or hang) with a
// value, 400, 413 or — only when the Content-Type is not JSON — 415, and an accepted value must be
// what JSON.parse makes of the whole body.
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { readJsonBody } from '../../../src/api/body.js';
import { fail } from '../check.js';
import type { FuzzTarget } from '../target.js';

const TYPES = ['application/json', 'Application/JSON; charset=utf-8', 'application/json', 'text/plain', undefined];

function request(chunks: Buffer[], headers: IncomingMessage['headers']): IncomingMessage {
  const r = Readable.from(chunks, { objectMode: false }) as unknown as IncomingMessage;
  (r as { headers: IncomingMessage['headers'] }).headers = headers;
  return r;
}

export const apiBody: FuzzTarget = {
  name: 'api-body',
  sources: ['src/api/body.ts'],
  dictionary: ['null', 'true', '[]', '{}', '{', '}', '"', ',', ':', '1e999', '"\\ud800"', ' ', '\ufeff'],
  seeds: () => [
    Buffer.concat([Buffer.from([7, 200]), Buffer.from('{"peers":["198.18.0.2:6783"],"replace":true}')]),
    Buffer.concat([Buffer.from([0, 3]), Buffer.from('{"container":"c1","ifname":"eth0","netns":"/proc/1/ns/net"}')]),
    Buffer.from([1, 255, 0x20, 0x0a]),
  ],
  run: async (data) => {
    const chunkSize = Math.max(1, data[0] ?? 1);
    const maxBytes = (data[1] ?? 0) * 4;
    const body = data.subarray(2);
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += chunkSize) chunks.push(body.subarray(i, i + chunkSize));
    const type = TYPES[(data[0] ?? 0) % TYPES.length];
    const json = type !== undefined && type.split(';')[0]!.trim().toLowerCase() === 'application/json';
    const headers: IncomingMessage['headers'] = {};
    if (type !== undefined) headers['content-type'] = type;
    if ((data[0] ?? 0) % 3 === 0) headers['content-length'] = String(body.length);
    const r = await readJsonBody(request(chunks, headers), maxBytes);
    if (r.ok) {
      if (!json) fail(`accepted a body with Content-Type ${type}`);
      if (body.length > maxBytes) fail(`accepted ${body.length} bytes with a limit of ${maxBytes}`);
      const text = body.toString('utf8');
      const want = text.trim() === '' ? undefined : (JSON.parse(text) as unknown);
      if (!isDeepStrictEqual(r.value, want)) fail('readJsonBody returned something other than the body');
      return 'ok';
    }
    if (r.status === 415 && json) fail(`415 for Content-Type ${type}`);
    if ((r.status !== 400 && r.status !== 413 && r.status !== 415) || typeof r.reason !== 'string' || r.reason === '') fail(`malformed refusal ${JSON.stringify(r)}`);
    if (r.status === 413 && body.length <= maxBytes) fail(`413 for ${body.length} bytes with a limit of ${maxBytes}`);
    return `${r.status}`;
  },
};
