// Tests of the namespace harness itself, on real namespaces (root only; skipped with the reason otherwise).
//
//   h0 198.18.0.1 ──┐
//   h1 198.18.0.2 ──┼── sw (bridge br0)        the shared LAN; other tests build their own small ones
//   h2 198.18.0.3 ──┘
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NETNS_NAME_PATTERN,
  blockUdpPort,
  canUseNetns,
  canUseNft,
  createLan,
  hasCommand,
  listNetns,
  sweepStale,
  unblockUdpPort,
  waitFor,
  withLan,
  type Host,
  type Lan,
} from './netns.js';

const netns = canUseNetns();
const nft = canUseNft();
if (!netns.ok) console.warn(`netns harness tests skipped: ${netns.reason}`);
else if (!nft.ok) console.warn(`blockUdpPort test skipped: ${nft.reason}`);
if (netns.ok && !hasCommand('ping')) console.warn('ping test skipped: ping (Debian package iputils-ping) is not installed');

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function pidGone(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe.skipIf(!netns.ok)('netns harness on a 3-host LAN', () => {
  let lan: Lan;
  let h0: Host;
  let h1: Host;
  beforeAll(async () => {
    lan = await createLan({ hosts: 3 });
    [h0, h1] = lan.hosts as [Host, Host];
  });
  afterAll(async () => {
    await lan?.cleanup();
  });

  it('builds the drawn topology with per-run names and no way out', async () => {
    expect(lan.hosts.map((h) => h.addr)).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.3']);
    for (const name of [lan.switchName, ...lan.hosts.map((h) => h.name)]) {
      expect(name).toMatch(NETNS_NAME_PATTERN);
      expect(name.startsWith(`wt${process.pid.toString(36)}-`)).toBe(true);
      expect(listNetns()).toContain(name);
    }
    const addr = await h1.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.stdout).toContain('inet 198.18.0.2/24');
    const routes = await h1.exec('ip', ['-4', 'route', 'show', 'default']);
    expect(routes).toEqual({ code: 0, stdout: '', stderr: '' });
    const ports = execFileSync('ip', ['-n', lan.switchName, '-o', 'link', 'show', 'master', 'br0'], { encoding: 'utf8' });
    expect(ports.trim().split('\n')).toHaveLength(3);
  });

  it.skipIf(!hasCommand('ping'))('lets hosts ping each other', async () => {
    const r = await h0.exec('ping', ['-c1', '-W1', h1.addr]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await h1.exec('ping', ['-c1', '-W1', lan.hosts[2]!.addr])).code).toBe(0);
    expect((await h1.exec('ping', ['-c1', '-W1', '198.18.0.99'])).code).not.toBe(0);
  });

  it('exec returns code, output, takes input and env, and enforces its timeout', async () => {
    expect(await h0.exec('sh', ['-c', 'cat; echo "$WT_X" >&2; exit 3'], { input: 'in\n', env: { WT_X: 'env ok' } })).toEqual({
      code: 3,
      stdout: 'in\n',
      stderr: 'env ok\n',
    });
    const start = Date.now();
    await expect(h0.exec('sleep', ['30'], { timeoutMs: 200 })).rejects.toMatchObject({ code: 'timeout' });
    expect(Date.now() - start).toBeLessThan(10_000);
    expect((await h0.exec('ip', ['netns', 'identify'])).stdout.trim()).toBe(h0.name);
  });

  it('tracks a spawned process by PID and stops it, escalating to SIGKILL when TERM is ignored', async () => {
    const p = h0.spawn('sh', ['-c', 'trap "" TERM; echo ready; exec sleep 60']);
    expect(p.pid).toBeGreaterThan(0);
    await waitFor(() => p.output().includes('ready'), { what: 'the process to start' });
    expect(p.running).toBe(true);
    const pids = execFileSync('ip', ['netns', 'pids', h0.name], { encoding: 'utf8' }).split('\n');
    expect(pids).toContain(String(p.pid));
    const exit = await p.stop({ graceMs: 200 });
    expect(exit).toEqual({ code: 137, signal: 'SIGKILL' });
    expect(p.running).toBe(false);
    expect(await p.stop()).toEqual(exit);
    expect(execFileSync('ip', ['netns', 'pids', h0.name], { encoding: 'utf8' }).trim()).toBe('');

    const polite = h1.spawn('sleep', ['60']);
    expect(await polite.stop()).toEqual({ code: 143, signal: 'SIGTERM' });
  });

  it.skipIf(!nft.ok)('blockUdpPort drops UDP to that port between the two hosts, both ways, until unblocked', async () => {
    const [blocked, open] = [40001, 40002];
    const receive = (h: Host) =>
      h.spawn('node', [
        '-e',
        `const d = require('node:dgram');
         for (const port of [${blocked}, ${open}]) {
           const s = d.createSocket('udp4');
           s.on('message', (m, r) => console.log(port + ' ' + r.address + ' ' + m));
           s.bind(port, () => console.log('bound ' + port));
         }`,
      ]);
    const send = async (from: Host, to: Host, ...items: string[]) => {
      const script = `const s = require('node:dgram').createSocket('udp4');
        const [to, ...items] = process.argv.slice(1);
        (function next() {
          const it = items.shift();
          if (it === undefined) return s.close();
          const [port, msg] = it.split(':');
          s.send(msg, Number(port), to, next);
        })();`;
      const r = await from.exec('node', ['-e', script, to.addr, ...items]);
      expect(r.code, r.stderr).toBe(0);
    };
    const rx = { h0: receive(h0), h1: receive(h1) };
    await waitFor(() => rx.h0.output().includes(`bound ${open}`) && rx.h1.output().includes(`bound ${open}`) && rx.h0.output().includes(`bound ${blocked}`) && rx.h1.output().includes(`bound ${blocked}`), { what: 'receivers' });

    // Datagrams to both ports arrive before blocking.
    await send(h0, h1, `${blocked}:a`, `${open}:a`);
    await send(h1, h0, `${blocked}:a`, `${open}:a`);
    await waitFor(() => rx.h1.output().includes(`${blocked} ${h0.addr} a`) && rx.h0.output().includes(`${blocked} ${h1.addr} a`), { what: 'unblocked delivery' });

    await blockUdpPort(h0, h1, blocked);
    await blockUdpPort(h0, h1, blocked);
    // A datagram to the blocked port goes first; two later ones to the open port prove the receiver has
    // read everything sent before them (it prints in arrival order on one event loop).
    await send(h0, h1, `${blocked}:b`, `${open}:b1`);
    await send(h1, h0, `${blocked}:b`, `${open}:b1`);
    await waitFor(() => rx.h1.output().includes(`${open} ${h0.addr} b1`) && rx.h0.output().includes(`${open} ${h1.addr} b1`), { what: 'first marker' });
    await send(h0, h1, `${open}:b2`);
    await send(h1, h0, `${open}:b2`);
    await waitFor(() => rx.h1.output().includes(`${open} ${h0.addr} b2`) && rx.h0.output().includes(`${open} ${h1.addr} b2`), { what: 'second marker' });
    expect(rx.h1.output()).not.toContain(`${blocked} ${h0.addr} b`);
    expect(rx.h0.output()).not.toContain(`${blocked} ${h1.addr} b`);

    // The third host is not affected.
    const h2 = lan.hosts[2]!;
    await send(h2, h1, `${blocked}:c`);
    await waitFor(() => rx.h1.output().includes(`${blocked} ${h2.addr} c`), { what: 'delivery from the third host' });

    await unblockUdpPort(h0, h1, blocked);
    await unblockUdpPort(h0, h1, blocked);
    await send(h0, h1, `${blocked}:d`);
    await send(h1, h0, `${blocked}:d`);
    await waitFor(() => rx.h1.output().includes(`${blocked} ${h0.addr} d`) && rx.h0.output().includes(`${blocked} ${h1.addr} d`), { what: 'delivery after unblock' });
    await Promise.all([rx.h0.stop(), rx.h1.stop()]);
  });
});

describe.skipIf(!netns.ok)('netns harness cleanup', () => {
  it('removes every namespace and tracked process, and is idempotent', async () => {
    const lan = await createLan({ hosts: 2 });
    const names = [lan.switchName, ...lan.hosts.map((h) => h.name)];
    const p = lan.hosts[1]!.spawn('sleep', ['60']);
    const pid = p.pid;
    await lan.cleanup();
    await lan.cleanup();
    expect(listNetns().filter((n) => names.includes(n))).toEqual([]);
    expect(p.running).toBe(false);
    expect(pidGone(pid)).toBe(true);
    expect(() => lan.hosts[0]!.spawn('true', [])).toThrow(/cleaned up/);
  });

  it('cleans up when the test body throws', async () => {
    let names: string[] = [];
    let pid = 0;
    await expect(
      withLan({ hosts: 2 }, async (lan) => {
        names = [lan.switchName, ...lan.hosts.map((h) => h.name)];
        pid = lan.hosts[0]!.spawn('sleep', ['60']).pid;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(names).toHaveLength(3);
    expect(listNetns().filter((n) => names.includes(n))).toEqual([]);
    expect(pidGone(pid)).toBe(true);
  });

  it('refuses a prefix whose names exist, leaving the existing namespace alone', async () => {
    const prefix = `wt${process.pid.toString(36)}-cl${Math.floor(Math.random() * 36).toString(36)}-`;
    execFileSync('ip', ['netns', 'add', `${prefix}h1`]);
    try {
      await expect(createLan({ hosts: 2, prefix })).rejects.toMatchObject({ code: 'usage' });
      expect(listNetns().filter((n) => n.startsWith(prefix))).toEqual([`${prefix}h1`]);
    } finally {
      execFileSync('ip', ['netns', 'del', `${prefix}h1`]);
    }
  });

  it('rejects host counts outside 1..254', async () => {
    await expect(createLan({ hosts: 0 })).rejects.toMatchObject({ code: 'usage' });
    await expect(createLan({ hosts: 255 })).rejects.toMatchObject({ code: 'usage' });
  });

  it('sweepStale removes only harness namespaces whose creator is dead', async () => {
    const child = spawn('true');
    const deadPid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    const dead = `wt${deadPid.toString(36)}-swp-h0`;
    const live = `wt${process.pid.toString(36)}-swp-h0`;
    const foreign = `wtx${process.pid.toString(36)}-notours`;
    for (const n of [dead, live, foreign]) execFileSync('ip', ['netns', 'add', n]);
    try {
      const removed = await sweepStale();
      expect(removed).toContain(dead);
      expect(removed).not.toContain(live);
      const now = listNetns();
      expect(now).not.toContain(dead);
      expect(now).toContain(live);
      expect(now).toContain(foreign);
    } finally {
      for (const n of [live, foreign, dead]) if (listNetns().includes(n)) execFileSync('ip', ['netns', 'del', n]);
    }
  });

  describe('when the test process ends without calling cleanup', () => {
    let dir: string;
    beforeAll(() => {
      // The harness compiled to plain JS, so a bare node child can load it.
      dir = mkdtempSync(join(tmpdir(), 'wt-harness-'));
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      for (const rel of ['test/harness/netns.ts', 'test/harness/privileges.ts', 'lib/errors.ts']) {
        const out = ts.transpileModule(readFileSync(join(repoRoot, rel), 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        }).outputText;
        mkdirSync(dirname(join(dir, rel)), { recursive: true });
        writeFileSync(join(dir, rel.replace(/\.ts$/, '.js')), out);
      }
      writeFileSync(
        join(dir, 'child.js'),
        `import { createLan } from './test/harness/netns.js';
         const lan = await createLan({ hosts: 2 });
         const p = lan.hosts[0].spawn('sleep', ['60']);
         console.log(JSON.stringify({ names: [lan.switchName, ...lan.hosts.map((h) => h.name)], pid: p.pid }));
         if (process.argv[2] === 'exit') process.stdin.once('data', () => process.exit(0));
         else setInterval(() => {}, 1000);`,
      );
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const how of ['SIGTERM', 'SIGINT', 'exit'] as const) {
      it(`cleans up on ${how}`, async () => {
        const child = spawn(process.execPath, [join(dir, 'child.js'), how], { stdio: ['pipe', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
        const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (code, sig) => r([code, sig])));
        const info = await waitFor(() => out.includes('\n') && (JSON.parse(out) as { names: string[]; pid: number }), { what: 'the child LAN', timeoutMs: 10_000 });
        expect(listNetns()).toEqual(expect.arrayContaining(info.names));
        if (how === 'exit') child.stdin.write('go\n');
        else child.kill(how);
        const [code, signal] = await exited;
        expect(how === 'exit' ? code : signal).toBe(how === 'exit' ? 0 : how);
        expect(listNetns().filter((n) => info.names.includes(n))).toEqual([]);
        await waitFor(() => pidGone(info.pid), { what: `sleep ${info.pid} to be gone` });
      });
    }
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    expect(await waitFor(() => ++n >= 3 && n, { intervalMs: 1 })).toBe(3);
  });

  it('throws a timeout naming what it waited for and the last error', async () => {
    const err = await waitFor(
      () => {
        throw new Error('not yet');
      },
      { timeoutMs: 30, intervalMs: 5, what: 'the moon' },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout' });
    expect(String(err)).toMatch(/the moon.*not yet/);
  });
});
