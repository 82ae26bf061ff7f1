// The launcher against a stand-in router: a tiny node script that, depending on its mode,
// serves /health on the port it is given (127.0.0.1), dies at once, or hangs without answering.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeMeshControl } from '../api/fake-control.js';
import { startApiServer } from '../api/server.js';
import { WeftError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { launchRouter, prepareDataDir, type LaunchSpec } from './launcher.js';
import { freePort } from '../../test/harness/ports.js';

const FAKE_ROUTER = `
import { createServer } from 'node:http';
const [port, mode] = process.argv.slice(2);
console.log(JSON.stringify({ level: 30, msg: 'fake router starting', argv: process.argv.slice(2), password: process.env.WEFT_PASSWORD ?? null }));
if (mode === 'die') {
  console.log(JSON.stringify({ level: 50, msg: 'cannot listen on 0.0.0.0:6783', err: { message: 'listen EADDRINUSE' } }));
  console.error('plain stderr line');
  process.exit(3);
} else if (mode === 'hang') {
  setInterval(() => {}, 1000);
} else {
  createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ ok: true, pid: process.pid, version: '0.1.0', name: '02:00:00:00:00:42' }));
  }).listen(Number(port), '127.0.0.1');
}
`;

let dir: string;
let script: string;
const started: number[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-launcher-'));
  script = join(dir, 'fake-router.mjs');
  await writeFile(script, FAKE_ROUTER);
});

afterEach(async () => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});


async function spec(mode: string, over: Partial<LaunchSpec> = {}): Promise<LaunchSpec> {
  const port = await freePort();
  return {
    command: process.execPath,
    args: [script, String(port), mode],
    env: { ...process.env, WEFT_PASSWORD: 'pw' },
    httpAddr: `127.0.0.1:${port}`,
    logFile: join(dir, 'data', 'weft.log'),
    pollMs: 20,
    ...over,
  };
}

/** Waits (bounded) until a process we started is gone. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('launchRouter', () => {
  it('starts the router in the background and returns once it answers', async () => {
    const s = await spec('serve');
    const launched = await launchRouter(s);
    started.push(launched.pid);
    expect(launched.health).toEqual({ ok: true, pid: launched.pid, version: '0.1.0', name: '02:00:00:00:00:42' });
    expect(launched.pid).not.toBe(process.pid);
    expect((await stat(join(dir, 'data'))).mode & 0o777).toBe(0o700);
    const log = await readFile(s.logFile, 'utf8');
    expect(JSON.parse(log.split('\n')[0]!)).toMatchObject({ msg: 'fake router starting', password: 'pw', argv: s.args.slice(1) });

    // A second launch finds it.
    await expect(launchRouter(s)).rejects.toThrow(
      `weft is already running in this network namespace (peer 02:00:00:00:00:42, pid ${launched.pid}); \`weft stop\` stops it`,
    );
  });

  it('refuses to start when a router already answers, without spawning anything', async () => {
    const api = await startApiServer({ control: new FakeMeshControl(), addr: '127.0.0.1:0', log: silentLogger(), onStop: () => undefined });
    try {
      const s = { ...(await spec('serve')), httpAddr: api.address };
      const err = await launchRouter(s).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WeftError);
      expect(err).toMatchObject({ code: 'already-running' });
      expect((err as Error).message).toBe(
        `weft is already running in this network namespace (peer 02:00:00:00:00:01, pid ${process.pid}); \`weft stop\` stops it`,
      );
      await expect(stat(s.logFile)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await api.close();
    }
  });

  it('shows what the router wrote in this run when it dies before answering', async () => {
    const s = await spec('die');
    await launchRouter(s).catch(() => undefined);
    // A second failing run must show only its own lines, not the first run's or older ones.
    await writeFile(s.logFile, 'a line from an earlier run\n', { flag: 'a' });
    const err = await launchRouter(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeftError);
    expect((err as Error).message).toBe(
      [
        `the weft router exited with code 3 before it answered on ${s.httpAddr}.`,
        `Last lines of ${s.logFile}:`,
        '  INFO fake router starting',
        '  ERROR cannot listen on 0.0.0.0:6783: listen EADDRINUSE',
        '  plain stderr line',
        'Fix the problem above and run `weft launch` again (`weft router` runs it in the foreground).',
      ].join('\n'),
    );
  });

  it('stops a router that does not answer in time and says so', async () => {
    // Long enough for the stand-in's first line even on a loaded machine (0.3 s was not).
    const slow: number[] = [];
    const s = await spec('hang', { timeoutMs: 2000, slowMs: 200, onSlow: (p) => slow.push(p) });
    const err = await launchRouter(s).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout' });
    // Still running after slowMs: the caller was told once that the router is still starting.
    expect(slow).toHaveLength(1);
    const m = /^the weft router \(pid (\d+)\) did not answer on (\S+) within 2 s, so it was stopped\.\nLast lines of (\S+):\n {2}INFO fake router starting\nRun `weft router`/.exec(
      (err as Error).message,
    );
    expect(m).not.toBeNull();
    const pid = Number(m![1]);
    started.push(pid);
    expect(await gone(pid)).toBe(true);
  });

  it('reports a program that cannot be started', async () => {
    const s = await spec('serve', { command: join(dir, 'no-such-node') });
    await expect(launchRouter(s)).rejects.toThrow(/could not start .*no-such-node: spawn .* ENOENT/);
  });
});

// issue 13: `--data-dir /proc/nonexistent` spun at 100 % CPU with no output (Node's recursive
// mkdir retries ENOENT forever there). Each case must end, with the reason, well within the
// test's time limit.
describe('prepareDataDir', () => {
  it('creates the missing directories, mode 0700, and leaves nothing else behind', async () => {
    const d = join(dir, 'a', 'b', 'c');
    await prepareDataDir(d);
    for (const p of [join(dir, 'a'), join(dir, 'a', 'b'), d]) expect((await stat(p)).mode & 0o777).toBe(0o700);
    expect(await readdir(d)).toEqual([]);
    await prepareDataDir(d); // already there: fine
  });

  it.each([
    ['a directory the kernel will not create', '/proc/nonexistent/weft', 'cannot use /proc/nonexistent/weft as the data dir: cannot create /proc/nonexistent (the file system there does not allow it)'],
    ['a directory that takes no files', '/proc', 'cannot use /proc as the data dir: cannot create files in it'],
  ])('refuses %s at once, saying what to do', async (_what, d, reason) => {
    const err = await prepareDataDir(d).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeftError);
    expect((err as WeftError).code).toBe('io');
    expect((err as Error).message).toContain(reason);
    expect((err as Error).message).toMatch(/ — pass --data-dir \(or WEFT_DATA_DIR\) with a directory you can write, or run as root$/);
  });

  it('refuses a file in the way', async () => {
    await writeFile(join(dir, 'f'), '');
    await expect(prepareDataDir(join(dir, 'f', 'data'))).rejects.toThrow(`cannot use ${join(dir, 'f', 'data')} as the data dir: ${join(dir, 'f')} is a file, not a directory — pass --data-dir`);
  });

  it('makes launchRouter fail before it starts anything', async () => {
    const s = { ...(await spec('serve')), logFile: '/proc/nonexistent/weft.log' };
    await expect(launchRouter(s)).rejects.toThrow(/^cannot use \/proc\/nonexistent as the data dir: cannot create \/proc\/nonexistent/);
    // Nothing was spawned: nothing answers on the address.
    await expect(fetch(`http://${s.httpAddr}/health`)).rejects.toThrow();
  });
});
