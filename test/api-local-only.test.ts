// issue 13, "the local API obeys any web page": the request a browser on the router's host makes
// for a page at evil.example (a form-style POST after DNS rebinding) replayed against a real router
// started by the built CLI, from inside the router's own network namespace.
//
//   h0 198.18.0.1  weft launch --no-dataplane, API on 127.0.0.1:6784
//     ├─ node (the "browser")  POST /connect  Content-Type: text/plain, Origin: http://evil.example,
//     │                        Host: evil.example  → 403, no target
//     ├─ node                  GET /status, Host: evil.example:6784 (rebound read) → 403
//     └─ weft connect          the same target, as the CLI sends it → added (the check can fail)
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, type Host, type Lan } from './harness/netns.js';
import { WEFT_JS, WeftHost } from './harness/weft.js';

const can = canUseNetns();
const built = existsSync(WEFT_JS);
if (!can.ok) console.warn(`SKIP local API guard tests: ${can.reason}`);
else if (!built) console.warn(`SKIP local API guard tests: ${WEFT_JS} is not built — run \`make build\``);

/** One raw request from inside the namespace; prints `STATUS BODY`. */
const RAW = `
const [method, path, headers, body] = process.argv.slice(1);
const req = require('node:http').request({ host: '127.0.0.1', port: 6784, method, path, agent: false, headers: JSON.parse(headers) }, (res) => {
  let text = '';
  res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => console.log(res.statusCode, text.trim()));
});
req.on('error', (e) => { console.error(String(e)); process.exit(1); });
req.end(body || undefined);
`;

const TARGET = '198.18.0.66';

describe.skipIf(!can.ok || !built)('the local API of a real router refuses a web page (issue 13)', () => {
  let lan: Lan;
  let h0: Host;
  let w: WeftHost;

  const raw = async (method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; json: unknown }> => {
    const r = await h0.exec(process.execPath, ['-e', RAW, method, path, JSON.stringify(headers), body], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    const [status, ...rest] = r.stdout.trim().split(' ');
    const text = rest.join(' ');
    return { status: Number(status), json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  /** Whether the router has TARGET among its connection targets (shown as host:port). */
  const hasTarget = async (): Promise<boolean> => (await w.json<{ address: string }[]>(['status', 'targets'])).some((t) => t.address === `${TARGET}:6783`);

  beforeAll(async () => {
    lan = await createLan({ hosts: 1 });
    h0 = lan.hosts[0]!;
    w = new WeftHost(h0);
    await w.launch(['--no-dataplane']);
  }, 60_000);

  afterAll(async () => {
    await w?.cleanup();
    await lan?.cleanup();
  });

  it("refuses the issue's cross-site POST /connect with 403, and adds no target", async () => {
    const r = await raw('POST', '/connect', { 'Content-Type': 'text/plain', Origin: 'http://evil.example', Host: 'evil.example' }, JSON.stringify({ peers: [TARGET] }));
    expect(r).toEqual({ status: 403, json: { error: "requests with an Origin header (http://evil.example) are refused: a web page cannot use weft's local API; use the weft CLI" } });
    expect(await hasTarget()).toBe(false);
  });

  it('refuses each mark of a browser alone: a foreign Host (403), an Origin (403), a form type (415)', async () => {
    const body = JSON.stringify({ peers: [TARGET] });
    const host = await raw('POST', '/connect', { 'Content-Type': 'application/json', Host: 'evil.example:6784' }, body);
    expect(host.status).toBe(403);
    expect((host.json as { error: string }).error).toBe(
      `Host "evil.example:6784" is not this API's address (127.0.0.1:6784, localhost:6784): requests for other names are refused (DNS rebinding); connect to the address weft listens on`,
    );
    expect((await raw('POST', '/connect', { 'Content-Type': 'application/json', Origin: 'null' }, body)).status).toBe(403);
    expect(await raw('POST', '/connect', { 'Content-Type': 'application/x-www-form-urlencoded' }, body)).toEqual({
      status: 415,
      json: { error: 'the request has Content-Type application/x-www-form-urlencoded: send JSON with Content-Type: application/json' },
    });
    // A rebound page cannot read the router's state either.
    const read = await raw('GET', '/status', { Host: 'evil.example:6784' });
    expect(read.status).toBe(403);
    expect(read.json).not.toHaveProperty('name');
    expect(await hasTarget()).toBe(false);
  });

  it('still obeys the CLI: `weft connect` adds the same target', async () => {
    const r = await w.weft(['connect', TARGET]);
    expect(r.code, r.stderr).toBe(0);
    expect(await hasTarget()).toBe(true);
  });
});
