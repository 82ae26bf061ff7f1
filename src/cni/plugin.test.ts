// The plugin's commands against the router API's in-memory twin: what each sends, what it prints,
// and the CNI error (code, message) for every way a call goes wrong.
import { describe, expect, it } from 'vitest';
import { MemoryRouterApi, SAMPLE } from './memory-router.js';
import { runPlugin, type Outcome } from './plugin.js';
import type { Reply } from './router-client.js';

const ENV = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const CONF = { cniVersion: '1.0.0', name: 'weft', type: 'weft' };
const ok = (body: unknown): Reply => ({ kind: 'reply', status: 200, body });
const err = (status: number, error: string, code?: string): Reply => ({ kind: 'reply', status, body: code ? { error, code } : { error } });

async function run(command: string, conf: Record<string, unknown>, api: MemoryRouterApi, env: Record<string, string> = {}, opts: { netns?: boolean; stdin?: string } = {}) {
  let clock = 0;
  const sleeps: number[] = [];
  const out = await runPlugin(
    { env: { ...ENV, CNI_COMMAND: command, ...env }, stdin: opts.stdin ?? JSON.stringify(conf) },
    {
      routerFor: () => api,
      now: () => clock,
      sleep: (ms) => {
        sleeps.push(ms);
        clock += ms;
        return Promise.resolve();
      },
      netnsExists: () => opts.netns ?? true,
    },
  );
  return { ...out, sleeps };
}
const cniError = (o: Outcome) => {
  expect(o.code).toBe(1);
  return JSON.parse(o.stdout) as { cniVersion: string; code: number; msg: string; details?: string };
};

describe('ADD', () => {
  it('sends the key, namespace, names and options, and prints the result in the caller\'s version', async () => {
    const api = new MemoryRouterApi().on('/cni/add', ok(SAMPLE));
    const o = await run('ADD', { ...CONF, cniVersion: '0.4.0', masquerade: false }, api, { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p' });
    expect(o.code).toBe(0);
    expect(api.calls[0]).toMatchObject({ method: 'POST', path: '/cni/add', body: { id: 'c1', ifname: 'eth0', netns: '/run/netns/c1', defaultRoute: true, masquerade: false, names: { namespace: 'ns', pod: 'p' } }, timeoutMs: 60_000 });
    const r = JSON.parse(o.stdout);
    expect(r.cniVersion).toBe('0.4.0');
    expect(r.ips[0].version).toBe('4');
  });

  it('requests the ips capability\'s addresses before IP= from CNI_ARGS', async () => {
    const api = new MemoryRouterApi().on('/cni/add', ok(SAMPLE));
    await run('ADD', { ...CONF, runtimeConfig: { ips: ['10.32.0.9/12'] } }, api, { CNI_ARGS: 'IP=10.32.0.7' });
    await run('ADD', CONF, api, { CNI_ARGS: 'IP=10.32.0.7' });
    expect(api.calls.map((c) => (c.body as { ips?: string[] }).ips)).toEqual([['10.32.0.9/12'], ['10.32.0.7']]);
  });

  it('waits while the router says "try again later", then gives up with code 11 and its reason', async () => {
    const api = new MemoryRouterApi().on('/cni/add', (_b, n) => (n < 3 ? err(503, 'the address ring is forming', 'unavailable') : ok(SAMPLE)));
    const o = await run('ADD', CONF, api);
    expect(o.code).toBe(0);
    expect(o.sleeps).toEqual([200, 300]);
    const never = new MemoryRouterApi().on('/cni/add', err(503, 'the address ring is forming', 'unavailable'));
    const e = cniError(await run('ADD', { ...CONF, timeoutSeconds: 5 }, never));
    expect(e.code).toBe(11);
    expect(e.msg).toContain('the address ring is forming');
    expect(never.calls.length).toBeGreaterThan(3);
    // The router's own wait (it holds an ADD up to 30 s) can use up the rest: its last reason is kept.
    const slow = new MemoryRouterApi().on('/cni/add', (_b, n) => (n === 1 ? err(503, 'a fenced minority', 'unavailable') : { kind: 'timeout' }));
    const t = cniError(await run('ADD', CONF, slow));
    expect([t.code, t.msg.includes('it last said: a fenced minority')]).toEqual([11, true]);
  });

  it('maps every failure to its code, with a message that says what to do', async () => {
    const cases: [MemoryRouterApi, number, string][] = [
      [new MemoryRouterApi(), 5, '`weft launch`'],
      [new MemoryRouterApi().on('/cni/add', { kind: 'timeout' }), 11, 'timeoutSeconds'],
      [new MemoryRouterApi().on('/cni/add', err(400, 'eth0 already exists in the container', 'usage')), 7, 'eth0 already exists'],
      [new MemoryRouterApi().on('/cni/add', err(404, 'no namespace /run/netns/c1', 'not-found')), 3, 'no namespace'],
      [new MemoryRouterApi().on('/cni/add', err(500, 'netlink said no')), 100, 'netlink said no'],
      [new MemoryRouterApi().on('/cni/add', ok({ nonsense: true })), 100, 'same weft version'],
    ];
    for (const [api, code, text] of cases) {
      const e = cniError(await run('ADD', { ...CONF, cniVersion: '0.3.1' }, api));
      expect([e.code, e.cniVersion]).toEqual([code, '0.3.1']);
      expect(e.msg).toContain(text);
    }
  });

  it('refuses bad input before asking the router: stdin, env, version, netns', async () => {
    const api = new MemoryRouterApi().on('/cni/add', ok(SAMPLE));
    expect(cniError(await run('ADD', CONF, api, {}, { stdin: '{not json' })).code).toBe(6);
    const env = cniError(await run('ADD', CONF, api, { CNI_NETNS: '' }));
    expect([env.code, env.msg.includes('CNI_NETNS')]).toEqual([4, true]);
    const v = cniError(await run('ADD', { ...CONF, cniVersion: '0.2.0' }, api));
    expect([v.code, v.cniVersion]).toEqual([1, '0.2.0']);
    expect(cniError(await run('ADD', CONF, api, {}, { netns: false })).code).toBe(3);
    expect(cniError(await run('ADD', CONF, api, { CNI_ARGS: 'FOO=1' })).code).toBe(4);
    expect(api.calls).toEqual([]);
  });
});

describe('DEL', () => {
  it('succeeds silently when released, already gone, without a router, or on a timeout', async () => {
    const replies: (Reply | undefined)[] = [ok({ released: true }), ok({ released: false }), err(404, 'gone', 'not-found'), undefined, { kind: 'timeout' }];
    for (const reply of replies) {
      const api = new MemoryRouterApi();
      if (reply) api.on('/cni/del', reply);
      const o = await run('DEL', CONF, api, { CNI_NETNS: '' }, { netns: false });
      expect([o.code, o.stdout]).toEqual([0, '']);
      expect(api.calls[0]!.body).toEqual({ id: 'c1', ifname: 'eth0' });
    }
  });

  it('passes on a router that says "try again later" or refuses the request', async () => {
    expect(cniError(await run('DEL', CONF, new MemoryRouterApi().on('/cni/del', err(503, 'busy', 'unavailable')))).code).toBe(11);
    expect(cniError(await run('DEL', CONF, new MemoryRouterApi().on('/cni/del', err(400, 'bad id', 'usage')))).code).toBe(7);
  });
});

describe('CHECK', () => {
  it('asks the router, then compares its answer with prevResult', async () => {
    const api = new MemoryRouterApi().on('/cni/check', ok(SAMPLE));
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'vethwe12345678' }, { name: 'eth0', mac: SAMPLE.mac, sandbox: SAMPLE.netns }], ips: [{ address: '10.32.0.5/12', interface: 1 }], routes: SAMPLE.routes };
    expect(await run('CHECK', { ...CONF, prevResult }, api)).toMatchObject({ code: 0, stdout: '' });
    expect(api.calls[0]).toMatchObject({ path: '/cni/check', body: { id: 'c1', ifname: 'eth0', netns: '/run/netns/c1' } });
    const moved = cniError(await run('CHECK', { ...CONF, prevResult: { ...prevResult, ips: [{ address: '10.32.0.6/12', interface: 1 }] } }, api));
    expect(moved.code).toBe(101);
    expect(moved.msg).toContain('10.32.0.6/12');
  });

  it('passes on the router\'s 409, and needs prevResult and version 0.4.0', async () => {
    const api = new MemoryRouterApi().on('/cni/check', err(409, 'eth0 has no address 10.32.0.5/12', 'mismatch'));
    const e = cniError(await run('CHECK', { ...CONF, prevResult: {} }, api));
    expect([e.code, e.msg.includes('no address 10.32.0.5/12')]).toEqual([101, true]);
    expect(cniError(await run('CHECK', CONF, api)).code).toBe(7);
    expect(cniError(await run('CHECK', { ...CONF, cniVersion: '0.3.1', prevResult: {} }, api)).code).toBe(1);
  });
});

describe('STATUS and GC', () => {
  const V11 = { ...CONF, cniVersion: '1.1.0' };
  it('STATUS is ready only when the router says so; otherwise code 50 with its reasons', async () => {
    expect((await run('STATUS', V11, new MemoryRouterApi().on('/readyz', ok({ ready: true, reasons: [] })), {})).code).toBe(0);
    const notReady = cniError(await run('STATUS', V11, new MemoryRouterApi().on('/readyz', { kind: 'reply', status: 503, body: { ready: false, reasons: ['the data plane is not up'] } })));
    expect([notReady.code, notReady.msg]).toEqual([50, 'plugin not available: the weft router is not ready: the data plane is not up']);
    const gone = cniError(await run('STATUS', V11, new MemoryRouterApi()));
    expect([gone.code, gone.msg.includes('`weft launch`')]).toEqual([50, true]);
    expect(cniError(await run('STATUS', CONF, new MemoryRouterApi())).code).toBe(1);
  });

  it('GC sends the attachments to keep, and refuses to guess when the list is missing', async () => {
    const api = new MemoryRouterApi().on('/cni/gc', ok({ released: [] }));
    const keep = [{ containerID: 'c1', ifname: 'eth0' }];
    expect((await run('GC', { ...V11, 'cni.dev/valid-attachments': keep }, api, { CNI_CONTAINERID: '', CNI_IFNAME: '' })).code).toBe(0);
    expect(api.calls[0]).toMatchObject({ path: '/cni/gc', body: { keep: [{ id: 'c1', ifname: 'eth0' }] } });
    expect(cniError(await run('GC', V11, api)).code).toBe(7);
    expect(cniError(await run('GC', { ...CONF, 'cni.dev/valid-attachments': keep }, api)).code).toBe(1);
  });
});

describe('VERSION', () => {
  it('answers with podman\'s placeholder env and any stdin', async () => {
    const o = await run('VERSION', {}, new MemoryRouterApi(), { CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' }, { stdin: '{"cniVersion":"1.0.0"}' });
    expect(JSON.parse(o.stdout)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
});
