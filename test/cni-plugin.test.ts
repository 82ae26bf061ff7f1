// The built CNI plugin (dist/cni/weft-cni.js), installed by `weft setup-cni` and run as a container
// runtime runs it: the installed executable itself, one process per call, CNI_* in the environment, the network configuration on stdin, inside the host's network
// namespace, against a real weft router. Every call's exit code and output are checked, and after
// each failure nothing may be left behind: no veth on bridge `weft`, no IPAM allocation.
//
//   h0 198.18.0.1  one router, range 10.46.0.0/24, --ipalloc-init consensus=1 (a ring of its own)
//   └─ bridge weft ─┬─ vethwe… ══ eth0 in c0   (ADD, ADD again, CHECK, DEL, DEL again)
//                   ├─ vethwe… ══ eth0 in c1   (released by GC)
//                   └─ …         c2 (eth0 already there), c3 (DEL while the router is stopped)
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type ExecResult, type Host, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';
import { bridgePorts, containerEth0, netnsPath, weftViews } from './harness/weft-state.js';

const BUNDLE = resolve(import.meta.dirname, '../dist/cni/weft-cni.js');
const can = canUseNetns();
const built = existsSync(BUNDLE);
if (!can.ok) console.warn(`SKIP CNI plugin tests: ${can.reason}`);
else if (!built) console.warn(`SKIP CNI plugin tests: ${BUNDLE} is not built — run \`make build\``);

const RANGE = '10.46.0.0/24';
const LAUNCH = ['--ipalloc-range', RANGE, '--ipalloc-init', 'consensus=1'];
/** The weft plugin's entry of the installed conflist, with the network's name and version as libcni passes them (set in beforeAll). */
let CONF: Record<string, unknown> = {};

interface CniErr {
  cniVersion: string;
  code: number;
  msg: string;
}
interface Result100 {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string; mtu?: number }[];
  ips: { version?: string; address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
}

describe.skipIf(!can.ok || !built)('the CNI plugin against a real router', () => {
  let lan: Lan;
  let h0: Host;
  let w: WeftHost;
  const c: Host[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'weft-cni-plugin-'));
  const PLUGIN = join(dir, 'bin', 'weft');

  /** One plugin run in h0's namespace, as a runtime execs it. */
  const plugin = (env: Record<string, string>, conf: unknown, raw?: string): Promise<ExecResult> =>
    h0.exec(PLUGIN, [], { env: { CNI_PATH: '/opt/cni/bin', ...env }, input: raw ?? JSON.stringify(conf), timeoutMs: 90_000 });
  const envFor = (command: string, ns: Host, id = ns.name, ifname = 'eth0'): Record<string, string> => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netnsPath(ns.name),
    CNI_IFNAME: ifname,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=${ns.name}`,
  });
  const errOf = (r: ExecResult): CniErr => {
    expect(r.code, `expected a CNI error, got ${r.code}: ${r.stdout}${r.stderr}`).toBe(1);
    return JSON.parse(r.stdout) as CniErr;
  };
  const resultOf = (r: ExecResult): Result100 => {
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Result100;
  };
  /** What weft and the kernel hold for container ID `id` (IPAM keys eth0 attachments by the container ID). */
  const holds = async (id: string, veth?: string) => {
    const [{ eps, allocs }, ports] = await Promise.all([weftViews(w), bridgePorts(h0)]);
    return { alloc: allocs.get(id) ?? null, veth: veth === undefined ? null : ports.includes(veth), ps: eps.filter((e) => JSON.stringify(e).includes(id)).length };
  };
  const weftVeths = async (): Promise<string[]> => (await bridgePorts(h0)).filter((p) => p.startsWith('vethwe')).sort();

  beforeAll(async () => {
    lan = await createLan({ hosts: 1 });
    h0 = lan.hosts[0]!;
    w = new WeftHost(h0);
    await w.launch(LAUNCH);
    for (let i = 0; i < 4; i++) c.push(await lan.addContainer());
    const setup = await w.weft(['setup-cni', '--bin-dir', join(dir, 'bin'), '--conf-dir', join(dir, 'net.d')]);
    if (setup.code !== 0) throw new Error(`weft setup-cni failed (${setup.code}): ${setup.stderr}`);
    const list = JSON.parse(readFileSync(join(dir, 'net.d', '10-weft.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    CONF = { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion };
  }, 60_000);
  afterAll(async () => {
    await w?.cleanup();
    await lan?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('setup-cni installed an executable whose #! is this node, and a conflist chaining portmap', () => {
    expect(statSync(PLUGIN).mode & 0o777).toBe(0o755);
    // With the native forwarder built (test/cni-shim.test.ts), the Node plugin is its fallback beside it.
    const node = existsSync(join(dir, 'bin', 'weft-cni.js')) ? join(dir, 'bin', 'weft-cni.js') : PLUGIN;
    expect(readFileSync(node, 'utf8').split('\n')[0]).toBe(`#!${process.execPath}`);
    expect(CONF).toEqual({ type: 'weft', api: '127.0.0.1:6784', masquerade: true, capabilities: { ips: true }, name: 'weft', cniVersion: '1.0.0' });
  });

  const status = (): Promise<ExecResult> => plugin({ CNI_COMMAND: 'STATUS' }, { ...CONF, cniVersion: '1.1.0' });

  it('VERSION answers without a router; STATUS answers ready or code 50 with the reason', async () => {
    const v = await plugin({ CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy', CNI_PATH: 'dummy' }, { cniVersion: '0.4.0' });
    expect(JSON.parse(v.stdout)).toEqual({ cniVersion: '0.4.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    // A ring of one forms on the first allocation, and this router reports "not ready" until then.
    const s = await status();
    if (s.code !== 0) expect(errOf(s)).toMatchObject({ code: 50, msg: expect.stringMatching(/^plugin not available: the weft router is not ready: ./) });
  });

  let first: Result100;
  it('ADD attaches eth0 with an address from the ring and a default route; ADD again gives the same result', async () => {
    first = resultOf(await plugin(envFor('ADD', c[0]!), CONF));
    expect(first.cniVersion).toBe('1.0.0');
    const [host, cont] = first.interfaces;
    expect(host!.name).toMatch(/^vethwe[0-9a-f]{8}$/);
    expect(cont).toMatchObject({ name: 'eth0', sandbox: netnsPath(c[0]!.name) });
    expect(cont!.mtu).toBeUndefined();
    expect(first.ips).toHaveLength(1);
    expect(first.ips[0]!.interface).toBe(1);
    expect(first.ips[0]!.address).toMatch(/^10\.46\.0\.\d+\/24$/);
    expect(first.routes.some((r) => r.dst === '0.0.0.0/0' && r.gw === first.ips[0]!.gateway)).toBe(true);
    const eth0 = await containerEth0(c[0]!);
    expect(eth0).toEqual({ mac: cont!.mac, ips: [first.ips[0]!.address] });
    expect(await holds(c[0]!.name, host!.name)).toMatchObject({ alloc: first.ips[0]!.address.split('/')[0], veth: true });
    const again = resultOf(await plugin(envFor('ADD', c[0]!), CONF));
    expect(again).toEqual(first);
    await waitFor(
      async () => {
        const r = await status();
        if (r.code !== 0) throw new Error(r.stdout || r.stderr);
        return true;
      },
      { timeoutMs: 10_000, what: 'STATUS to report ready once the ring has formed' },
    );
  });

  it('CHECK agrees with the ADD result, and says what differs from a wrong one', async () => {
    expect(await plugin(envFor('CHECK', c[0]!), { ...CONF, prevResult: first })).toMatchObject({ code: 0, stdout: '' });
    const wrong = { ...first, ips: [{ ...first.ips[0]!, address: '10.46.0.250/24' }] };
    const e = errOf(await plugin(envFor('CHECK', c[0]!), { ...CONF, prevResult: wrong }));
    expect(e.code).toBe(101);
    expect(e.msg).toContain('10.46.0.250/24');
  });

  it('answers a 0.4.0 caller in 0.4.0; GC releases what the keep list leaves out', async () => {
    const r = resultOf(await plugin(envFor('ADD', c[1]!), { ...CONF, cniVersion: '0.4.0' }));
    expect(r.cniVersion).toBe('0.4.0');
    expect(r.ips[0]!.version).toBe('4');
    const veth1 = r.interfaces[0]!.name;
    expect(await holds(c[1]!.name, veth1)).toMatchObject({ veth: true });
    const gc = await plugin({ CNI_COMMAND: 'GC' }, { ...CONF, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: c[0]!.name, ifname: 'eth0' }] });
    expect(gc).toMatchObject({ code: 0, stdout: '' });
    expect(await holds(c[1]!.name, veth1)).toEqual({ alloc: null, veth: false, ps: 0 });
    expect(await holds(c[0]!.name, first.interfaces[0]!.name)).toMatchObject({ veth: true });
  });

  it('DEL releases everything and prints nothing; DEL again, and DEL without a namespace, still succeed', async () => {
    const veth0 = first.interfaces[0]!.name;
    expect(await plugin(envFor('DEL', c[0]!), { ...CONF, prevResult: first })).toMatchObject({ code: 0, stdout: '' });
    expect(await holds(c[0]!.name, veth0)).toEqual({ alloc: null, veth: false, ps: 0 });
    expect((await containerEth0(c[0]!)).mac).toBeNull();
    expect(await plugin(envFor('DEL', c[0]!), CONF)).toMatchObject({ code: 0, stdout: '' });
    expect(await plugin({ ...envFor('DEL', c[0]!), CNI_NETNS: '' }, CONF)).toMatchObject({ code: 0, stdout: '' });
  });

  it('bad input: each a CNI error with its code, nothing left behind, the router unaffected', async () => {
    const before = await weftVeths();
    const cases: [string, Promise<ExecResult>, number][] = [
      ['malformed stdin', plugin(envFor('ADD', c[2]!), undefined, '{"cniVersion": "1.0.0", '), 6],
      ['missing CNI_NETNS', plugin({ ...envFor('ADD', c[2]!), CNI_NETNS: '' }, CONF), 4],
      ['missing netns', plugin({ ...envFor('ADD', c[2]!), CNI_NETNS: '/run/netns/wt-no-such-namespace' }, CONF), 3],
      ['unsupported version', plugin(envFor('ADD', c[2]!), { ...CONF, cniVersion: '0.2.0' }), 1],
      ['unknown CNI_ARGS', plugin({ ...envFor('ADD', c[2]!), CNI_ARGS: 'FOO=1' }, CONF), 4],
    ];
    for (const [what, run, code] of cases) {
      const e = errOf(await run);
      expect([what, e.code]).toEqual([what, code]);
    }
    // An interface of that name already in the container: refused, and nothing of weft's stays.
    const dup = await c[2]!.exec('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']);
    expect(dup.code, dup.stderr).toBe(0);
    const e = errOf(await plugin(envFor('ADD', c[2]!), CONF));
    expect(e.msg).toContain('eth0');
    expect(e.code, e.msg).toBe(7);
    expect(await weftVeths()).toEqual(before);
    expect(await holds(c[2]!.name)).toMatchObject({ alloc: null, ps: 0 });
    expect((await status()).code).toBe(0);
  });

  it('DEL succeeds while the router is stopped; the router releases the address when it is back and the namespace is gone', async () => {
    const r = resultOf(await plugin(envFor('ADD', c[3]!), CONF));
    const veth3 = r.interfaces[0]!.name;
    const stopped = await w.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitFor(async () => (await w.pid()) === undefined, { timeoutMs: 15_000, what: 'the router to stop' });
    const del = await plugin(envFor('DEL', c[3]!), CONF);
    expect(del).toMatchObject({ code: 0, stdout: '' });
    expect(errOf(await plugin(envFor('ADD', c[3]!, 'other'), CONF)).code).toBe(5);
    expect(errOf(await status()).code).toBe(50);
    // The runtime removes the namespace after DEL; the kernel then removes both veth ends.
    const gone = await h0.exec('ip', ['netns', 'del', c[3]!.name]);
    expect(gone.code, gone.stderr).toBe(0);
    await w.launch(LAUNCH);
    await waitFor(async () => (await holds(c[3]!.name, veth3)).alloc === null, { timeoutMs: 30_000, what: `the restarted router to release ${r.ips[0]!.address}` });
    expect(await holds(c[3]!.name, veth3)).toEqual({ alloc: null, veth: false, ps: 0 });
  }, 90_000);
});
