// The CNI plugin's native forwarder (native/weft-cni.c), installed by `weft setup-cni` as BIN_DIR/weft
// with the Node plugin beside it as BIN_DIR/weft-cni.js, run as a runtime runs it.
//
// Part 1, no privileges: the forwarder against a fake router on loopback that records each request
// and answers as scripted — the request it sends, the answer it prints, and every case that must
// fall back to the Node plugin (bad status, no X-Cni-Exit, a cut answer, stdin over 1 MiB, an
// address that is not IPv4:port, nothing listening). VERSION shows which path answered: the fake
// answers "FROM-ROUTER", the Node plugin its supportedVersions.
//
// Part 2, against a real router in a namespace host:
//
//   h0 198.18.0.1  one router, range 10.46.0.0/24, --ipalloc-init consensus=1
//   └─ bridge weft ─┬─ vethwe… ══ eth0 in c0   (ADD/CHECK/DEL through the forwarder)
//                   └─ vethwe… ══ eth0 in c1   (ADD through the Node plugin: the shape to match)
//
// <dir>/bin holds what setup-cni installed; <dir>/alone holds the forwarder without its fallback,
// so an answer from there can only be the router's (a fallback would fail with code 5 "cannot run
// the Node plugin"): that proves which path answered without timing anything.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type ExecResult, type Host, type Lan } from './harness/netns.js';
import { WEFT_JS, WeftHost } from './harness/weft.js';
import { containerEth0, netnsPath, weftViews } from './harness/weft-state.js';

const BUNDLE = resolve(import.meta.dirname, '../dist/cni/weft-cni.js');
const SHIM = resolve(import.meta.dirname, '../native/build/weft-cni');
const built = existsSync(BUNDLE) && existsSync(SHIM) && existsSync(WEFT_JS);
if (!built) console.warn(`SKIP CNI forwarder tests: ${SHIM}, ${BUNDLE} or ${WEFT_JS} is not built — run \`make build\` (the forwarder needs a C compiler)`);
const can = canUseNetns();
if (built && !can.ok) console.warn(`SKIP CNI forwarder tests against a real router: ${can.reason}`);

const MIB = 1 << 20;
const SUPPORTED = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'];

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `bin` here (the fake router listens on this namespace's loopback), env on top of a clean one. */
function run(bin: string, env: Record<string, string>, input: string | Buffer, args: string[] = []): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** What the fake router saw of one request: the head (request line and headers) and the body. */
interface Seen {
  head: string;
  body: Buffer;
}

/**
 * A router stand-in on 127.0.0.1: reads one request per connection (head, then Content-Length bytes),
 * records it, writes `answer` as raw bytes and closes.
 */
class FakeRouter {
  readonly seen: Seen[] = [];
  answer: Buffer = Buffer.alloc(0);
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  async start(): Promise<number> {
    this.server = createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        this.seen.push({ head, body: buf.subarray(end + 4, end + 4 + length) });
        s.end(this.answer);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('the fake router has no port');
    return addr.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const http200 = (headers: string[], body: string | Buffer): Buffer => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`), Buffer.from(body)]);

/** Installs with the real CLI, as an operator would (`--json`). */
const setupCni = (binDir: string, confDir: string): Promise<Run> => run(process.execPath, {}, '', [WEFT_JS, 'setup-cni', '--bin-dir', binDir, '--conf-dir', confDir, '--json']);

describe.skipIf(!built)('the CNI forwarder against a fake router on loopback', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cni-shim-'));
  const BIN = join(dir, 'bin', 'weft');
  const ALONE = join(dir, 'alone', 'weft');
  const fake = new FakeRouter();
  let api = '';
  const version = { CNI_COMMAND: 'VERSION' };
  const versionOf = (r: Run): unknown => JSON.parse(r.stdout.toString()) as unknown;

  beforeAll(async () => {
    const setup = await setupCni(join(dir, 'bin'), join(dir, 'net.d'));
    if (setup.code !== 0) throw new Error(`weft setup-cni failed (${setup.code}): ${setup.stderr}`);
    const out = JSON.parse(setup.stdout.toString()) as { plugin: { kind: string; path: string }; fallback?: { path: string } };
    expect(out.plugin).toMatchObject({ kind: 'native', path: BIN });
    expect(out.fallback?.path).toBe(join(dir, 'bin', 'weft-cni.js'));
    mkdirSync(join(dir, 'alone'));
    copyFileSync(BIN, ALONE);
    api = `127.0.0.1:${await fake.start()}`;
  });
  afterAll(async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('setup-cni installed the forwarder byte for byte, and the Node plugin beside it with #! this node', () => {
    expect(readFileSync(BIN).equals(readFileSync(SHIM))).toBe(true);
    expect(statSync(BIN).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(dir, 'bin', 'weft-cni.js'), 'utf8').split('\n')[0]).toBe(`#!${process.execPath}`);
  });

  it('sends the config as the body and each CNI_* that is set as a header; prints the answer exactly and exits with X-Cni-Exit', async () => {
    fake.seen.length = 0;
    fake.answer = http200(['Content-Type: application/json', 'Content-Length: 11', 'X-Cni-Exit: 7', 'X-Cni-Stderr: a note for the log'], 'FROM-ROUTERand bytes past Content-Length');
    const config = `{"cniVersion":"1.0.0","name":"weft","type":"weft","api" : "${api}","x":"é"}`;
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p', CNI_PATH: '' };
    const r = await run(BIN, env, config);
    expect(r).toEqual({ code: 7, stdout: Buffer.from('FROM-ROUTER'), stderr: 'a note for the log\n' });
    expect(fake.seen).toHaveLength(1);
    const body = Buffer.from(config);
    expect(fake.seen[0]!.head.split('\r\n')).toEqual([
      'POST /cni/exec HTTP/1.1',
      `Host: ${api}`,
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
      'Connection: close',
      'X-Cni-Command: ADD',
      'X-Cni-Containerid: abc',
      'X-Cni-Netns: /run/netns/x',
      'X-Cni-Ifname: eth0',
      'X-Cni-Args: IgnoreUnknown=1;K8S_POD_NAME=p',
      'X-Cni-Path: ',
    ]);
    expect(fake.seen[0]!.body.equals(body)).toBe(true);
  });

  it('without Content-Length the body runs to the end; a CNI_* that is not set sends no header', async () => {
    fake.seen.length = 0;
    fake.answer = http200(['x-cni-exit:0'], '{"ok":1}\n');
    const r = await run(ALONE, version, `{"cniVersion":"1.0.0","api":"${api}"}`);
    expect(r).toEqual({ code: 0, stdout: Buffer.from('{"ok":1}\n'), stderr: '' });
    expect(fake.seen[0]!.head.split('\r\n').filter((h) => h.startsWith('X-Cni-'))).toEqual(['X-Cni-Command: VERSION']);
  });

  it('an answer that is not the router running the command falls back to the Node plugin', async () => {
    const answers: [string, Buffer][] = [
      ['a status other than 200', Buffer.from('HTTP/1.1 404 Not Found\r\nX-Cni-Exit: 0\r\nContent-Length: 11\r\n\r\nFROM-ROUTER')],
      ['no X-Cni-Exit', http200(['Content-Length: 11'], 'FROM-ROUTER')],
      ['X-Cni-Exit out of range', http200(['X-Cni-Exit: 256'], 'FROM-ROUTER')],
      ['X-Cni-Exit not a number', http200(['X-Cni-Exit: 1x'], 'FROM-ROUTER')],
      ['a body shorter than its Content-Length', http200(['X-Cni-Exit: 0', 'Content-Length: 50'], 'FROM-ROUTER')],
      ['a chunked body', http200(['X-Cni-Exit: 0', 'Transfer-Encoding: chunked'], 'b\r\nFROM-ROUTER\r\n0\r\n\r\n')],
      ['no end of the headers', Buffer.from('HTTP/1.1 200 OK\r\nX-Cni-Exit: 0\r\n')],
      ['not HTTP', Buffer.from('FROM-ROUTER\r\n\r\n')],
      ['nothing', Buffer.alloc(0)],
      ['over 4 MiB', http200(['X-Cni-Exit: 0'], Buffer.alloc(4 * MIB, 'a'))],
    ];
    for (const [what, answer] of answers) {
      fake.seen.length = 0;
      fake.answer = answer;
      const r = await run(BIN, version, `{"cniVersion":"0.4.0","api":"${api}"}`);
      expect([what, r.code, versionOf(r)]).toEqual([what, 0, { cniVersion: '0.4.0', supportedVersions: SUPPORTED }]);
      expect([what, fake.seen.length]).toEqual([what, 1]);
      // Alone, the same answer ends in the forwarder's own error: nothing came from the fake.
      const alone = await run(ALONE, version, `{"cniVersion":"0.4.0","api":"${api}"}`);
      expect([what, alone.code, JSON.parse(alone.stdout.toString())]).toEqual([what, 1, { cniVersion: '1.0.0', code: 5, msg: expect.stringContaining('cannot run the Node plugin') }]);
    }
  });

  it('stdin up to 1 MiB is forwarded; over it, the Node plugin gets all of it and the router nothing', async () => {
    fake.answer = http200(['X-Cni-Exit: 0'], 'FROM-ROUTER');
    const config = (size: number): string => {
      const head = `{"api":"${api}","pad":"`;
      const tail = '","cniVersion":"0.4.0"}';
      return head + 'x'.repeat(size - head.length - tail.length) + tail;
    };
    fake.seen.length = 0;
    const at = await run(BIN, version, config(MIB));
    expect(at.stdout.toString()).toBe('FROM-ROUTER');
    expect(fake.seen.map((s) => s.body.length)).toEqual([MIB]);
    // The answer names the version given after the padding: the Node plugin read every byte.
    fake.seen.length = 0;
    const over = await run(BIN, version, config(MIB + 1));
    expect(versionOf(over)).toEqual({ cniVersion: '0.4.0', supportedVersions: SUPPORTED });
    const big = await run(BIN, version, config(3 * MIB));
    expect(versionOf(big)).toEqual({ cniVersion: '0.4.0', supportedVersions: SUPPORTED });
    // A malformed config over the bound: the Node plugin's own error (code 6).
    const bad = await run(BIN, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, `{"api":"${api}",` + ' '.repeat(MIB));
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout.toString())).toMatchObject({ code: 6 });
    expect(fake.seen).toEqual([]);
  });

  it('falls back without a request for an address that is not IPv4:port or a value a header cannot carry; with nothing listening, after trying', async () => {
    fake.seen.length = 0;
    fake.answer = http200(['X-Cni-Exit: 0'], 'FROM-ROUTER');
    const cases: [string, Record<string, string>, string][] = [
      ['a host name', version, '{"cniVersion":"0.4.0","api":"localhost:6784"}'],
      ['IPv6', version, '{"cniVersion":"0.4.0","api":"[::1]:6784"}'],
      ['an octet over 255', version, '{"cniVersion":"0.4.0","api":"127.0.0.256:6784"}'],
      ['port 0', version, '{"cniVersion":"0.4.0","api":"127.0.0.1:0"}'],
      ['not a string', version, '{"cniVersion":"0.4.0","api":6784}'],
      ['nothing listens', version, '{"cniVersion":"0.4.0","api":"127.0.0.1:1"}'],
      ['a newline in CNI_ARGS', { ...version, CNI_ARGS: 'A=1\nB=2' }, `{"cniVersion":"0.4.0","api":"${api}"}`],
      ['a CNI_PATH over 4096 bytes', { ...version, CNI_PATH: '/x'.repeat(2049) }, `{"cniVersion":"0.4.0","api":"${api}"}`],
      ['a byte over 0x7f', { ...version, CNI_ARGS: 'K8S_POD_NAME=é' }, `{"cniVersion":"0.4.0","api":"${api}"}`],
    ];
    for (const [what, env, config] of cases) {
      const r = await run(BIN, env, config);
      expect([what, r.code, versionOf(r)]).toEqual([what, 0, { cniVersion: '0.4.0', supportedVersions: SUPPORTED }]);
    }
    expect(fake.seen).toEqual([]);
    // A value of exactly 4096 bytes still travels.
    const r = await run(BIN, { ...version, CNI_PATH: '/x'.repeat(2048) }, `{"cniVersion":"0.4.0","api":"${api}"}`);
    expect(r.stdout.toString()).toBe('FROM-ROUTER');
    expect(fake.seen[0]!.head).toContain(`\r\nX-Cni-Path: ${'/x'.repeat(2048)}`);
  });
});

interface Result100 {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
  dns?: unknown;
}

/** The keys of a result at every level, sorted: its shape, whatever the values. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return typeof v;
}

describe.skipIf(!built || !can.ok)('the CNI forwarder against a real router', () => {
  let lan: Lan;
  let h0: Host;
  let w: WeftHost;
  const c: Host[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'weft-cni-shim-router-'));
  const BIN = join(dir, 'bin', 'weft');
  const NODE = join(dir, 'bin', 'weft-cni.js');
  const ALONE = join(dir, 'alone', 'weft');
  let CONF: Record<string, unknown> = {};
  /** Whether this router answers POST /cni/exec with X-Cni-Exit (set in beforeAll). */
  let routed = false;

  const plugin = (bin: string, env: Record<string, string>, conf: unknown, raw?: string): Promise<ExecResult> =>
    h0.exec(bin, [], { env: { CNI_PATH: '/opt/cni/bin', ...env }, input: raw ?? JSON.stringify(conf), timeoutMs: 90_000 });
  const envFor = (command: string, ns: Host, ifname = 'eth0'): Record<string, string> => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: ns.name,
    CNI_NETNS: netnsPath(ns.name),
    CNI_IFNAME: ifname,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=${ns.name}`,
  });
  const resultOf = (r: ExecResult): Result100 => {
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Result100;
  };
  const errOf = (r: ExecResult): { code: number; msg: string } => {
    expect(r.code, `expected a CNI error, got ${r.code}: ${r.stdout}${r.stderr}`).toBe(1);
    return JSON.parse(r.stdout) as { code: number; msg: string };
  };
  const allocOf = async (id: string): Promise<string | null> => (await weftViews(w)).allocs.get(id) ?? null;

  beforeAll(async () => {
    lan = await createLan({ hosts: 1 });
    h0 = lan.hosts[0]!;
    w = new WeftHost(h0);
    await w.launch(['--ipalloc-range', '10.46.0.0/24', '--ipalloc-init', 'consensus=1']);
    for (let i = 0; i < 2; i++) c.push(await lan.addContainer());
    const setup = await w.weft(['setup-cni', '--bin-dir', join(dir, 'bin'), '--conf-dir', join(dir, 'net.d')]);
    if (setup.code !== 0) throw new Error(`weft setup-cni failed (${setup.code}): ${setup.stderr}`);
    mkdirSync(join(dir, 'alone'));
    copyFileSync(BIN, ALONE);
    const list = JSON.parse(readFileSync(join(dir, 'net.d', '10-weft.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    CONF = { ...list.plugins[0], name: list.name, cniVersion: list.cniVersion };
    // The route exists when the router answers it with X-Cni-Exit (an older one says 404).
    const probe = await h0.exec(process.execPath, [
      '-e',
      "fetch('http://127.0.0.1:6784/cni/exec',{method:'POST',headers:{'content-type':'application/json','x-cni-command':'VERSION'},body:'{\"cniVersion\":\"1.0.0\"}'}).then(r=>console.log(r.status,r.headers.get('x-cni-exit')))",
    ]);
    routed = /^200 \d+$/.test(probe.stdout.trim());
    if (!routed) console.warn(`SKIP the forwarder's router cases: this router does not answer POST /cni/exec with X-Cni-Exit (${probe.stdout.trim() || probe.stderr.trim()}); the fallback cases still run`);
  }, 60_000);
  afterAll(async () => {
    await w?.cleanup();
    await lan?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('through the router: VERSION at the default address, ADD shaped as the Node plugin\'s, ADD again the same, CHECK, DEL releasing the address', async (ctx) => {
    if (!routed) ctx.skip();
    // From <dir>/alone every answer is the router's: a fallback there fails with code 5.
    // No "api" key ("api" only as a value): the default address, 127.0.0.1:6784, this router's.
    const v = await plugin(ALONE, { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy' }, { cniVersion: '0.4.0', name: 'api' });
    expect(JSON.parse(v.stdout)).toEqual({ cniVersion: '0.4.0', supportedVersions: SUPPORTED });

    const viaRouter = resultOf(await plugin(ALONE, envFor('ADD', c[0]!), CONF));
    const viaNode = resultOf(await plugin(NODE, envFor('ADD', c[1]!), CONF));
    expect(shape(viaRouter)).toEqual(shape(viaNode));
    expect(viaRouter.cniVersion).toBe('1.0.0');
    expect(viaRouter.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: netnsPath(c[0]!.name) });
    expect(viaRouter.ips[0]!.address).toMatch(/^10\.46\.0\.\d+\/24$/);
    expect(viaRouter.ips[0]!.address).not.toBe(viaNode.ips[0]!.address);
    expect(viaRouter.routes.some((r) => r.dst === '0.0.0.0/0' && r.gw === viaRouter.ips[0]!.gateway)).toBe(true);
    expect(await containerEth0(c[0]!)).toEqual({ mac: viaRouter.interfaces[1]!.mac, ips: [viaRouter.ips[0]!.address] });
    expect(await allocOf(c[0]!.name)).toBe(viaRouter.ips[0]!.address.split('/')[0]);
    // The installed BIN_DIR/weft (with its fallback) gives the same: ADD twice is the same result.
    expect(resultOf(await plugin(BIN, envFor('ADD', c[0]!), CONF))).toEqual(viaRouter);

    expect(await plugin(ALONE, envFor('CHECK', c[0]!), { ...CONF, prevResult: viaRouter })).toMatchObject({ code: 0, stdout: '' });
    // An error from the router's run is the plugin's error, exit code and all.
    const e = errOf(await plugin(ALONE, { ...envFor('ADD', c[0]!), CNI_NETNS: '/run/netns/wt-no-such-namespace' }, CONF));
    expect(e.code).toBe(3);

    for (const [bin, ns, r] of [[ALONE, c[0]!, viaRouter], [NODE, c[1]!, viaNode]] as const) {
      expect(await plugin(bin, envFor('DEL', ns), { ...CONF, prevResult: r })).toMatchObject({ code: 0, stdout: '' });
      expect(await allocOf(ns.name)).toBeNull();
    }
    expect(await plugin(ALONE, envFor('DEL', c[0]!), CONF)).toMatchObject({ code: 0, stdout: '' });
  });

  it('with the router up, stdin over 1 MiB and an "api" where nothing listens are the Node plugin\'s', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(MIB), cniVersion: '0.4.0' });
    expect(JSON.parse((await plugin(BIN, { CNI_COMMAND: 'VERSION' }, undefined, big)).stdout)).toEqual({ cniVersion: '0.4.0', supportedVersions: SUPPORTED });
    expect(errOf(await plugin(ALONE, { CNI_COMMAND: 'VERSION' }, undefined, big)).msg).toContain('cannot run the Node plugin');
    const nowhere = { ...CONF, api: '127.0.0.1:1' };
    expect(JSON.parse((await plugin(BIN, { CNI_COMMAND: 'VERSION' }, { ...nowhere, cniVersion: '0.4.0' })).stdout)).toEqual({ cniVersion: '0.4.0', supportedVersions: SUPPORTED });
    // ADD through an address where nothing listens: the Node plugin's "is the router running" (code 5).
    const add = errOf(await plugin(BIN, envFor('ADD', c[0]!), nowhere));
    expect(add.code).toBe(5);
    expect(add.msg).toContain('weft launch');
  });

  it('with the router stopped the Node plugin answers: VERSION, DEL exits 0, ADD code 5, STATUS code 50', async () => {
    const stopped = await w.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitFor(async () => (await w.pid()) === undefined, { timeoutMs: 15_000, what: 'the router to stop' });
    const v = await plugin(BIN, { CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy' }, { cniVersion: '0.4.0' });
    expect(JSON.parse(v.stdout)).toEqual({ cniVersion: '0.4.0', supportedVersions: SUPPORTED });
    const del = await plugin(BIN, envFor('DEL', c[1]!), CONF);
    expect(del).toMatchObject({ code: 0, stdout: '' });
    expect(del.stderr).toContain('did not answer DEL');
    const add = errOf(await plugin(BIN, envFor('ADD', c[1]!), CONF));
    expect(add.code).toBe(5);
    expect(add.msg).toContain('weft launch');
    expect(errOf(await plugin(BIN, { CNI_COMMAND: 'STATUS' }, { ...CONF, cniVersion: '1.1.0' })).code).toBe(50);
    // The forwarder alone proves these came from the fallback: without it, the same ADD is its own code 5.
    expect(errOf(await plugin(ALONE, envFor('ADD', c[1]!), CONF)).msg).toContain('cannot run the Node plugin');
    expect(await containerEth0(c[1]!)).toMatchObject({ mac: null });
  }, 60_000);
});
