// The plugin's HTTP client against a real listener on 127.0.0.1: replies, no listener, a hung one.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRouterApi } from './router-client.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

describe('HttpRouterApi', () => {
  it('posts JSON and returns the status and decoded body', async () => {
    let got: unknown;
    const port = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got = { method: req.method, url: req.url, type: req.headers['content-type'], body: JSON.parse(body) };
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"ring forming","code":"unavailable"}');
      });
    });
    const r = await new HttpRouterApi('127.0.0.1', port).call('POST', '/cni/add', { id: 'a' }, 2000);
    expect(r).toEqual({ kind: 'reply', status: 503, body: { error: 'ring forming', code: 'unavailable' } });
    expect(got).toEqual({ method: 'POST', url: '/cni/add', type: 'application/json', body: { id: 'a' } });
  });

  it('says unreachable when nothing listens, and timeout when nothing answers', async () => {
    const closed = await serve(() => undefined);
    servers[0]!.close();
    servers.length = 0;
    expect(await new HttpRouterApi('127.0.0.1', closed).call('GET', '/readyz', undefined, 2000)).toEqual({ kind: 'unreachable', reason: 'ECONNREFUSED' });
    const hung = await serve(() => undefined);
    expect(await new HttpRouterApi('127.0.0.1', hung).call('GET', '/readyz', undefined, 100)).toEqual({ kind: 'timeout' });
  });
});
