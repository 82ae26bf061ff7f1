import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WeftError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { FakeDataplaneControl, FakeMeshControl, SAMPLE_CONNECTIONS, SAMPLE_PEERS, SAMPLE_STATUS, SAMPLE_TARGETS } from './fake-control.js';
import { MAX_BODY_BYTES } from './protocol.js';
import { startApiServer, toJson, type ApiServer } from './server.js';

let servers: ApiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(control = new FakeMeshControl(), onStop = (): void => undefined): Promise<ApiServer> {
  const s = await startApiServer({ control, addr: '127.0.0.1:0', log: silentLogger(), onStop });
  servers.push(s);
  return s;
}

/**
 * One raw HTTP exchange; body may be a string (sent as is) or a value (sent as JSON). A POST says
 * Content-Type: application/json unless headers set one (or `null` to send none).
 */
function call(server: ApiServer, method: string, path: string, body?: unknown, headers: Record<string, string | number | null> = {}) {
  const [host, port] = server.address.split(':');
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const sent: Record<string, string | number> = method === 'POST' && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type') ? { 'Content-Type': 'application/json' } : {};
  for (const [k, v] of Object.entries(headers)) if (v !== null) sent[k] = v;
  return new Promise<{ status: number; json: unknown; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, agent: false, headers: sent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: text === '' ? undefined : JSON.parse(text), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('API server', () => {
  it('binds the given loopback address and reports the real port', async () => {
    const s = await start();
    expect(s.address).toMatch(/^127\.0\.0\.1:[1-9][0-9]*$/);
  });

  it('serves health and every status report from the control', async () => {
    const s = await start();
    const health = await call(s, 'GET', '/health');
    expect(health).toMatchObject({ status: 200, json: { ok: true, pid: process.pid, version: '0.1.0', name: SAMPLE_STATUS.name } });
    expect(health.headers['content-type']).toBe('application/json');
    expect((await call(s, 'GET', '/status')).json).toEqual(SAMPLE_STATUS);
    expect((await call(s, 'GET', '/status/peers')).json).toEqual(SAMPLE_PEERS);
    expect((await call(s, 'GET', '/status/connections')).json).toEqual(SAMPLE_CONNECTIONS);
    expect((await call(s, 'GET', '/status/targets?x=1')).json).toEqual(SAMPLE_TARGETS);
    expect((await call(s, 'GET', '/status/')).status).toBe(200);
  });

  it('passes validated, canonical targets to connect and forget', async () => {
    const control = new FakeMeshControl();
    const s = await start(control);
    expect((await call(s, 'POST', '/connect', { peers: ['198.18.0.2', ' 2001:db8::1 '], replace: true })).status).toBe(204);
    expect((await call(s, 'POST', '/connect', { peers: ['h.example:7000'] })).status).toBe(204);
    expect((await call(s, 'POST', '/forget', { peers: ['198.18.0.2'] })).status).toBe(204);
    expect(control.calls).toEqual([
      { op: 'connect', addresses: ['198.18.0.2', '[2001:db8::1]'], replace: true },
      { op: 'connect', addresses: ['h.example:7000'], replace: false },
      { op: 'forget', addresses: ['198.18.0.2'] },
    ]);
  });

  it.each([
    ['/connect', { peers: ['198.18.0.2:70000'] }, 'peer address "198.18.0.2:70000" is not host[:port]: port 70000 is out of range (1–65535)'],
    ['/connect', { peers: ['not an address'] }, 'peer address "not an address" is not host[:port]: "not an address" is neither an IP address nor a hostname'],
    ['/connect', { peers: '198.18.0.2' }, '"peers" must be an array of "host[:port]" strings, as in {"peers": ["192.0.2.1:6783"], "replace": false}'],
    ['/connect', { peers: [], replace: 'yes' }, '"replace" must be true or false'],
    ['/connect', { peers: [], replce: true }, 'unknown field "replce"; expected peers, replace'],
    ['/connect', [1], 'expected a JSON object like {"peers": ["192.0.2.1:6783"], "replace": false}'],
    ['/connect', undefined, 'expected a JSON object like {"peers": ["192.0.2.1:6783"], "replace": false}'],
    ['/forget', { peers: [], replace: true }, 'unknown field "replace"; expected peers'],
  ])('refuses a bad %s body with 400 and the reason', async (path, body, error) => {
    const control = new FakeMeshControl();
    const s = await start(control);
    expect(await call(s, 'POST', path, body)).toMatchObject({ status: 400, json: { error } });
    expect(control.calls).toEqual([]);
  });

  it('refuses a body that is not JSON', async () => {
    const s = await start();
    const r = await call(s, 'POST', '/connect', '{"peers": [', { 'Content-Type': 'application/json' });
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toMatch(/^the request body is not valid JSON/);
  });

  it('answers 404 for unknown paths and 405 for the wrong method, in JSON', async () => {
    const s = await start();
    expect(await call(s, 'GET', '/nope')).toMatchObject({ status: 404, json: { error: 'no such API path: /nope' } });
    const r = await call(s, 'GET', '/connect');
    expect(r).toMatchObject({ status: 405, json: { error: '/connect takes POST, not GET' } });
    expect(r.headers.allow).toBe('POST');
    expect((await call(s, 'POST', '/status', {})).status).toBe(405);
  });

  it('refuses bodies over 64 KiB, declared or streamed', async () => {
    const control = new FakeMeshControl();
    const s = await start(control);
    const big = JSON.stringify({ peers: Array(MAX_BODY_BYTES / 8).fill('1.2.3.4') });
    expect(big.length).toBeGreaterThan(MAX_BODY_BYTES);
    const declared = await call(s, 'POST', '/connect', big, { 'Content-Length': Buffer.byteLength(big) });
    expect(declared).toMatchObject({ status: 413, json: { error: 'the request body is larger than 64 KiB' } });
    const streamed = await call(s, 'POST', '/connect', big, { 'Transfer-Encoding': 'chunked' });
    expect(streamed.status).toBe(413);
    expect(control.calls).toEqual([]);
    // Just under the limit is fine.
    const ok = JSON.stringify({ peers: Array(1000).fill('1.2.3.4') });
    expect((await call(s, 'POST', '/connect', ok, { 'Content-Length': Buffer.byteLength(ok) })).status).toBe(204);
  });

  it('turns a failing control call into 500, and a usage WeftError into 400', async () => {
    const control = new FakeMeshControl();
    const s = await start(control);
    control.failWith = new Error('boom');
    expect(await call(s, 'POST', '/connect', { peers: ['198.18.0.2'] })).toMatchObject({ status: 500, json: { error: 'weft could not do that: boom' } });
    control.failWith = new WeftError('usage', 'that is yourself');
    expect(await call(s, 'POST', '/connect', { peers: ['198.18.0.2'] })).toMatchObject({ status: 400, json: { error: 'that is yourself' } });
  });

  it('answers /stop with 202 and then calls onStop once', async () => {
    let stops = 0;
    let stopped!: () => void;
    const called = new Promise<void>((r) => (stopped = r));
    const s = await start(new FakeMeshControl(), () => {
      stops++;
      stopped();
    });
    expect(await call(s, 'POST', '/stop')).toMatchObject({ status: 202, json: { ok: true, stopping: true } });
    await called;
    expect((await call(s, 'POST', '/stop')).status).toBe(202);
    expect(stops).toBe(1);
  });

  describe('only from a local program (issue 13: a web page must not drive the router)', () => {
    // The request a web page at http://evil.example made the router obey: a form-style POST
    // after DNS rebinding, Host and Origin the attacker's.
    const crossSite = { 'Content-Type': 'text/plain', Origin: 'http://evil.example', Host: 'evil.example' };

    it('refuses the cross-site request with 403 and a reason, and changes nothing', async () => {
      const control = new FakeMeshControl();
      const s = await start(control);
      const r = await call(s, 'POST', '/connect', JSON.stringify({ peers: ['198.18.0.66'] }), crossSite);
      expect(r.status).toBe(403);
      expect((r.json as { error: string }).error).toBe("requests with an Origin header (http://evil.example) are refused: a web page cannot use weft's local API; use the weft CLI");
      expect(r.headers.connection).toBe('close');
      expect(control.calls).toEqual([]);
    });

    it.each([
      ['a foreign Host', { Host: 'evil.example:6784' }, /^Host "evil\.example:6784" is not this API's address \(127\.0\.0\.1:\d+, localhost:\d+\): requests for other names are refused \(DNS rebinding\); connect to the address weft listens on$/],
      ['the right name on another port', { Host: 'localhost:1' }, /^Host "localhost:1" is not this API's address/],
      ['an Origin, even our own', { Origin: 'http://127.0.0.1:6784' }, /^requests with an Origin header \(http:\/\/127\.0\.0\.1:6784\) are refused/],
      ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }, /^requests a browser marks Sec-Fetch-Site: cross-site are refused/],
    ])('refuses %s with 403, on POST and GET alike', async (_what, headers, error) => {
      const control = new FakeMeshControl();
      const s = await start(control);
      const post = await call(s, 'POST', '/connect', { peers: ['198.18.0.66'] }, headers);
      expect(post.status).toBe(403);
      expect((post.json as { error: string }).error).toMatch(error);
      const get = await call(s, 'GET', '/status', undefined, headers);
      expect(get.status).toBe(403);
      expect(get.json).not.toHaveProperty('name');
      expect(control.calls).toEqual([]);
    });

    it('accepts its own address, localhost on its port, any case, and Sec-Fetch-Site none or same-origin', async () => {
      const control = new FakeMeshControl();
      const s = await start(control);
      const port = s.address.split(':')[1]!;
      const accepted: Record<string, string>[] = [{}, { Host: `LOCALHOST:${port}` }, { Host: s.address }, { 'Sec-Fetch-Site': 'none' }, { 'Sec-Fetch-Site': 'same-origin' }];
      for (const headers of accepted) {
        expect((await call(s, 'GET', '/health', undefined, headers)).status).toBe(200);
      }
      expect((await call(s, 'POST', '/connect', { peers: ['198.18.0.2'] }, { Host: `localhost:${port}` })).status).toBe(204);
      expect(control.calls).toHaveLength(1);
    });

    it.each([
      ['text/plain', { 'Content-Type': 'text/plain' }, 'the request has Content-Type text/plain: send JSON with Content-Type: application/json'],
      ['a form', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'the request has Content-Type application/x-www-form-urlencoded: send JSON with Content-Type: application/json'],
      ['no type', { 'Content-Type': null }, 'the request has no Content-Type: send JSON with Content-Type: application/json'],
    ])('refuses a POST with %s with 415, before reading it', async (_what, headers, error) => {
      const control = new FakeMeshControl();
      let stops = 0;
      const s = await start(control, () => void stops++);
      expect(await call(s, 'POST', '/connect', JSON.stringify({ peers: ['198.18.0.66'] }), headers)).toMatchObject({ status: 415, json: { error }, headers: { connection: 'close' } });
      expect((await call(s, 'POST', '/stop', undefined, headers)).status).toBe(415);
      expect(control.calls).toEqual([]);
      expect(stops).toBe(0);
      // JSON with parameters is JSON.
      expect((await call(s, 'POST', '/connect', { peers: ['198.18.0.2'] }, { 'Content-Type': 'Application/JSON; charset=utf-8' })).status).toBe(204);
    });

    it('on [::1], accepts [::1]:PORT and localhost:PORT, and refuses 127.0.0.1:PORT (not its address)', async (ctx) => {
      const s = await startApiServer({ control: new FakeMeshControl(), addr: '[::1]:0', log: silentLogger(), onStop: () => undefined }).catch(() => undefined);
      if (s === undefined) return ctx.skip(); // no IPv6 loopback here
      servers.push(s);
      const port = Number(s.address.slice(s.address.lastIndexOf(':') + 1));
      const get = (host: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request({ host: '::1', port, path: '/health', agent: false, headers: { Host: host } }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          });
          req.on('error', reject);
          req.end();
        });
      expect(s.address).toBe(`[::1]:${port}`);
      expect(await get(`[::1]:${port}`)).toBe(200);
      expect(await get(`localhost:${port}`)).toBe(200);
      expect(await get(`127.0.0.1:${port}`)).toBe(403);
    });
  });

  it('says what to do when the address is in use', async () => {
    const first = await start();
    const err = await startApiServer({ control: new FakeMeshControl(), addr: first.address, log: silentLogger(), onStop: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeftError);
    expect((err as Error).message).toBe(`${first.address} is in use — is weft already running? \`weft status\` tells; or pass --http-addr`);
  });

  it('refuses a malformed listen address', async () => {
    await expect(startApiServer({ control: new FakeMeshControl(), addr: 'localhost', log: silentLogger(), onStop: () => undefined })).rejects.toThrow(
      'HTTP API address "localhost": "localhost" has no port — pass --http-addr host:port',
    );
  });

  it('stops answering after close, and close is idempotent', async () => {
    const s = await start();
    await s.close();
    await s.close();
    await expect(call(s, 'GET', '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('API server: data-plane requests', () => {
  async function startWith(dp: FakeDataplaneControl): Promise<ApiServer> {
    const s = await startApiServer({ control: new FakeMeshControl(), dataplane: dp, addr: '127.0.0.1:0', log: silentLogger(), onStop: () => undefined });
    servers.push(s);
    return s;
  }

  const aborted = (signal: AbortSignal | undefined): Promise<unknown> =>
    new Promise((resolve) => (signal!.aborted ? resolve(signal!.reason) : signal!.addEventListener('abort', () => resolve(signal!.reason), { once: true })));

  it('passes each attach and detach a signal that stays quiet when the reply is sent', async () => {
    const dp = new FakeDataplaneControl();
    const s = await startWith(dp);
    expect(await call(s, 'POST', '/attach', { container: 'c1', cidrs: ['10.32.0.5/12'] })).toMatchObject({ status: 200, json: { container: 'c1', ips: ['10.32.0.5/12'] } });
    expect(await call(s, 'POST', '/detach', { container: 'c1' })).toMatchObject({ status: 200 });
    expect(dp.signals).toHaveLength(2);
    expect(dp.signals.every((sig) => sig instanceof AbortSignal && !sig.aborted)).toBe(true);
  });

  it.each(['/attach', '/detach'])('aborts the %s handler when the client disconnects before the reply', async (path) => {
    const dp = new FakeDataplaneControl();
    dp.gate = new Promise(() => undefined); // never opens: only the signal ends the call
    const s = await startWith(dp);
    const [host, port] = s.address.split(':');
    const req = request({ host, port: Number(port), method: 'POST', path, agent: false, headers: { 'Content-Type': 'application/json' } });
    req.on('error', () => undefined); // our own destroy
    req.end(JSON.stringify(path === '/attach' ? { container: 'c1', cidrs: [] } : { container: 'c1' }));
    await dp.called();
    expect(dp.signals[0]!.aborted).toBe(false);
    // In flight, the request is listed for the CLI's progress line.
    const busy = (await call(s, 'GET', '/status/requests')).json as { inFlight: { path: string; ageMs: number }[] };
    expect(busy.inFlight.map((r) => r.path)).toEqual([path]);
    req.destroy();
    const reason = await aborted(dp.signals[0]);
    expect(reason).toBeInstanceOf(WeftError);
    expect((reason as WeftError).code).toBe('closed');
    // Once the handler has ended, nothing is in flight and the server still answers.
    expect((await call(s, 'GET', '/health')).status).toBe(200);
  });

  it.each([
    ['/attach', { container: 'c1', cidrs: ['10.32.0.5/12', '01.32.0.6/12'] }, /"01\.32\.0\.6\/12" is not ADDR\/PREFIX: .*leading zeros/],
    ['/attach', { container: 'c1', cidrs: ['224.0.0.1/4'] }, /^"224\.0\.0\.1\/4" is a multicast address: a container needs a unicast address, like 10\.32\.0\.5\/12$/],
    ['/expose', { cidr: '10.32.0.0/12' }, /is the network address of 10\.32\.0\.0\/12/],
  ])('refuses a bad address in %s before the data plane sees it', async (path, body, error) => {
    const dp = new FakeDataplaneControl();
    const s = await startWith(dp);
    const r = await call(s, 'POST', path, body);
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toMatch(error);
    expect(dp.calls).toEqual([]);
  });
});

describe('POST /cni/exec (the native forwarder\'s call)', () => {
  const attachment = {
    id: 'c1', ifname: 'eth0', netns: '/proc/self/ns/net', mac: '0a:58:0a:20:00:05', hostIfname: 'vethwe00000001', hostMac: 'ee:00:00:00:00:01', mtu: 1410,
    cidrs: ['10.32.0.5/12'], gateway: '10.32.0.1', routes: [{ dst: '10.32.0.0/12' }, { dst: '0.0.0.0/0', gw: '10.32.0.1' }],
  };
  const cni = {
    added: [] as unknown[],
    add: async (req: unknown) => (cni.added.push(req), attachment),
    del: async () => ({ released: false }),
    check: async () => attachment,
    gc: async () => ({ released: [] }),
    ready: () => ({ ready: false, reasons: ['the address ring is not formed yet (test)'] }),
  };
  const cniServer = async (): Promise<ApiServer> => {
    const s = await startApiServer({ control: new FakeMeshControl(), cni, addr: '127.0.0.1:0', log: silentLogger(), onStop: () => undefined });
    servers.push(s);
    return s;
  };
  const conf = { cniVersion: '1.0.0', name: 'weft', type: 'weft' };
  const env = (command: string): Record<string, string> => ({
    'Content-Type': 'application/json', 'X-Cni-Command': command, 'X-Cni-Containerid': 'c1', 'X-Cni-Netns': '/proc/self/ns/net', 'X-Cni-Ifname': 'eth0', 'X-Cni-Args': 'IgnoreUnknown=1;K8S_POD_NAME=web',
  });

  it('ADD runs the plugin in the router: the CNI result in the caller\'s version, exit code in X-Cni-Exit', async () => {
    const s = await cniServer();
    const r = await call(s, 'POST', '/cni/exec', conf, env('ADD'));
    expect(r.status).toBe(200);
    expect(r.headers['x-cni-exit']).toBe('0');
    expect(r.json).toMatchObject({ cniVersion: '1.0.0', ips: [{ address: '10.32.0.5/12', gateway: '10.32.0.1', interface: 1 }], interfaces: [{ name: 'vethwe00000001' }, { name: 'eth0', sandbox: '/proc/self/ns/net' }] });
    expect(cni.added).toContainEqual(expect.objectContaining({ id: 'c1', ifname: 'eth0', names: { pod: 'web' } }));
  });

  it('DEL of nothing succeeds with no output; STATUS not ready is CNI error 50 with the reason; a missing variable is error 4', async () => {
    const s = await cniServer();
    const del = await call(s, 'POST', '/cni/exec', conf, env('DEL'));
    expect([del.status, del.headers['x-cni-exit'], del.json]).toEqual([200, '0', undefined]);
    const status = await call(s, 'POST', '/cni/exec', { ...conf, cniVersion: '1.1.0' }, env('STATUS'));
    expect(status.headers['x-cni-exit']).toBe('1');
    expect(status.json).toMatchObject({ code: 50, msg: expect.stringMatching(/not formed yet/) });
    const missing = await call(s, 'POST', '/cni/exec', conf, { 'Content-Type': 'application/json', 'X-Cni-Command': 'ADD' });
    expect(missing.headers['x-cni-exit']).toBe('1');
    expect(missing.json).toMatchObject({ code: 4 });
  });
});

describe('toJson', () => {
  it('writes bigints as decimal strings, and bodies without any as JSON.stringify does', () => {
    expect(toJson({ uid: 18446744073709551615n, list: [1n, 'x'] })).toBe('{"uid":"18446744073709551615","list":["1","x"]}');
    expect(toJson(SAMPLE_PEERS)).toBe(JSON.stringify(SAMPLE_PEERS));
    const cycle: { self?: unknown } = {};
    cycle.self = cycle;
    expect(() => toJson(cycle)).toThrow(TypeError);
  });
});
