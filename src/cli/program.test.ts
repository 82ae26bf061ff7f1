// The CLI end to end against a real API server backed by a fake MeshControl (and, for launch,
// a stand-in router script); everything on 127.0.0.1.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeMeshControl, SAMPLE_CONNECTIONS, SAMPLE_PEERS } from '../api/fake-control.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { silentLogger } from '../../lib/log.js';
import { formatReadiness, formatStatus } from './format.js';
import { SAMPLE_STATUS } from '../api/fake-control.js';
import { runCli } from './program.js';
import { freePort } from '../../test/harness/ports.js';

let control: FakeMeshControl;
let api: ApiServer;
let dir: string;
const children: number[] = [];

beforeEach(async () => {
  control = new FakeMeshControl();
  api = await startApiServer({ control, addr: '127.0.0.1:0', log: silentLogger(), onStop: () => void api.close() });
  dir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
});

afterEach(async () => {
  await api.close();
  for (const pid of children.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function weft(args: string[], env: Record<string, string> = {}, script = '/nonexistent/weft.js') {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    env,
    hostname: 'testhost',
    self: { execPath: process.execPath, execArgv: [], script },
  });
  return { code, stdout, stderr };
}

const at = (): string[] => ['--http-addr', api.address];


describe('weft status', () => {
  it('prints the summary', async () => {
    // The fake router has no data plane: readiness (GET /status/ready) says so on the last line.
    const ready = formatReadiness({ ready: false, reasons: ['the router runs without a data plane (--no-dataplane): it cannot attach containers'] });
    expect(ready).toBe(`          Ready: no — the router runs without a data plane (--no-dataplane): it cannot attach containers\n`);
    expect(await weft(['status', ...at()])).toEqual({ code: 0, stdout: formatStatus(SAMPLE_STATUS) + ready, stderr: '' });
  });

  it('prints JSON for peers and connections with --json, and finds the API through WEFT_HTTP_ADDR', async () => {
    const peers = await weft(['status', 'peers', '--json'], { WEFT_HTTP_ADDR: api.address });
    expect(JSON.parse(peers.stdout)).toEqual(SAMPLE_PEERS);
    const conns = await weft(['--http-addr', api.address, 'status', 'connections', '--json']);
    expect(JSON.parse(conns.stdout)).toEqual({ paths: [], control: SAMPLE_CONNECTIONS, dataplane: null });
    expect((await weft(['status', 'targets', ...at()])).stdout).toContain('198.18.0.9:6783  waiting');
  });

  it('refuses an unknown report as a usage error', async () => {
    const r = await weft(['status', 'bogus', ...at()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('peers, connections, targets');
  });

  it('says how to start weft when nothing answers', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    expect(await weft(['status', '--http-addr', addr])).toEqual({
      code: 1,
      stdout: '',
      stderr: `weft is not running in this network namespace (nothing answers on ${addr}) — start it with \`weft launch\`\n`,
    });
  });

  it('refuses a malformed --http-addr', async () => {
    const r = await weft(['status', '--http-addr', 'localhost']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: '--http-addr "localhost": "localhost" has no port — write host:port, e.g. 127.0.0.1:6784\n' });
  });
});

describe('weft connect and forget', () => {
  it('post validated targets and print nothing', async () => {
    expect(await weft(['connect', ...at(), '198.18.0.5', '2001:db8::5'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await weft(['connect', '--replace', ...at()])).toMatchObject({ code: 0 });
    expect(await weft(['forget', ...at(), '198.18.0.5'])).toMatchObject({ code: 0 });
    expect(control.calls).toEqual([
      { op: 'connect', addresses: ['198.18.0.5', '[2001:db8::5]'], replace: false },
      { op: 'connect', addresses: [], replace: true },
      { op: 'forget', addresses: ['198.18.0.5'] },
    ]);
  });

  it('refuse bad addresses before asking the router', async () => {
    const r = await weft(['connect', ...at(), '198.18.0.5:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'peer address "198.18.0.5:0" is not host[:port]: port 0 is out of range (1–65535); write 192.0.2.1, 192.0.2.1:6783, [2001:db8::1]:6783 or host.example\n',
    );
    expect((await weft(['connect', ...at()])).stderr).toBe('weft connect needs at least one peer address, e.g. `weft connect 192.0.2.1`\n');
    expect((await weft(['forget', ...at()])).code).toBe(2);
    expect(control.calls).toEqual([]);
  });
});

describe('weft stop', () => {
  it('stops the router and waits until its API is gone', async () => {
    expect(await weft(['stop', ...at()])).toEqual({ code: 0, stdout: 'weft stopped\n', stderr: '' });
    expect((await weft(['status', ...at()])).code).toBe(1);
  });

  it('says when weft is not running', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    expect(await weft(['stop', '--http-addr', addr])).toEqual({ code: 1, stdout: '', stderr: `weft is not running (nothing answers on ${addr})\n` });
  });
});

describe('weft launch and router', () => {
  it('refuses bad router options with exit code 2 before starting anything', async () => {
    const r = await weft(['launch', '--port', '0', '--data-dir', dir, '--conn-limit', 'many', 'x:1:2']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toEqual([
      '--port: port 0 is out of range (1–65535); leave it out for 6783',
      '--conn-limit "many" must be a whole number ≥ 0; leave it out for 100',
      'peer address "x:1:2" is not host[:port]: "x:1:2" is not an address; write IPv6 with a port as [addr]:port; ' +
        'peers are written as 192.0.2.1, 192.0.2.1:6783, [2001:db8::1]:6783 or host.example',
      '',
    ]);
    expect((await weft(['router', '--name', 'bob'])).code).toBe(2);
  });

  it('says so when a router already answers', async () => {
    const r = await weft(['launch', '--data-dir', dir, ...at()]);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `weft is already running in this network namespace (peer 02:00:00:00:00:01, pid ${process.pid}); \`weft stop\` stops it\n`,
    });
  });

  it('starts `<script> router <options>` in the background, the password in its environment only', async () => {
    // Stands in for weft.js: serves /health on the --http-addr it is given and logs what it got.
    const script = join(dir, 'weft-stand-in.mjs');
    await writeFile(
      script,
      `import { createServer } from 'node:http';
const addr = process.argv.find((a) => a.startsWith('--http-addr=')).slice('--http-addr='.length);
console.log(JSON.stringify({ argv: process.argv.slice(2), password: process.env.WEFT_PASSWORD ?? null }));
createServer((req, res) => res.end(JSON.stringify({ ok: true, pid: process.pid, version: '0.1.0', name: '02:00:00:00:00:42' })))
  .listen(Number(addr.split(':')[1]), '127.0.0.1');
`,
    );
    const addr = `127.0.0.1:${await freePort()}`;
    const dataDir = join(dir, 'data');
    const r = await weft(['launch', '--http-addr', addr, '--data-dir', dataDir, '--password', 'sekrit', '198.18.0.2'], { PATH: '/usr/bin' }, script);
    expect(r).toEqual({ code: 0, stdout: '02:00:00:00:00:42\n', stderr: '' });
    const logged = JSON.parse((await readFile(join(dataDir, 'weft.log'), 'utf8')).split('\n')[0]!) as { argv: string[]; password: string };
    const health = (await (await fetch(`http://${addr}/health`)).json()) as { pid: number };
    children.push(health.pid);
    expect(logged.password).toBe('sekrit');
    expect(logged.argv).toEqual([
      'router',
      '--port=6783',
      `--http-addr=${addr}`,
      `--data-dir=${dataDir}`,
      // weft launch serves metrics on loopback unless told otherwise.
      '--metrics-addr=127.0.0.1:6782',
      '--nickname=testhost',
      '--conn-limit=100',
      '--log-level=info',
      '--vxlan-port=6784',
      '--ipalloc-range=10.32.0.0/12',
      '--ipalloc-reclaim-after=600s',
      '--',
      '198.18.0.2',
    ]);
  });
});

describe('weft itself', () => {
  it('prints its version and help', async () => {
    expect(await weft(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    const help = await weft(['help']);
    expect(help.code).toBe(0);
    for (const cmd of ['launch', 'router', 'stop', 'status', 'connect', 'forget']) expect(help.stdout).toContain(cmd);
    expect((await weft(['help', 'launch'])).stdout).toContain('--conn-limit <n>');
  });

  it('treats unknown commands and options as usage errors', async () => {
    const cmd = await weft(['statsu']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toContain("unknown command 'statsu'");
    expect(cmd.stderr).toContain('(Did you mean status?)');
    const opt = await weft(['status', '--jsno']);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toContain("unknown option '--jsno'");
    expect((await weft([])).code).toBe(2);
  });
});
