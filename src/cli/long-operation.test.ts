// Long operations through the real CLI and API server, the data plane and IPAM faked: the CLI
// waits as long as the router takes, says what it waits for, and an interrupt cancels.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDataplaneControl, FakeIpamControl, FakeMeshControl } from '../api/fake-control.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { silentLogger } from '../../lib/log.js';
import { runCli } from './program.js';
import type { CliContext } from './context.js';

let dp: FakeDataplaneControl;
let ipam: FakeIpamControl;
let api: ApiServer;

beforeEach(async () => {
  dp = new FakeDataplaneControl();
  ipam = new FakeIpamControl();
  api = await startApiServer({ control: new FakeMeshControl(), dataplane: dp, ipam, addr: '127.0.0.1:0', log: silentLogger(), onStop: () => undefined });
});
afterEach(() => api.close());

/** Runs the CLI; stderr can be awaited line by line while it runs. */
function weft(args: string[], extra: Partial<CliContext> = {}) {
  let stdout = '';
  let stderr = '';
  let waiters: { text: string; resolve: () => void }[] = [];
  const done = runCli(['--http-addr', api.address, ...args], {
    stdout: (s) => void (stdout += s),
    stderr: (s) => {
      stderr += s;
      for (const w of waiters.filter((x) => stderr.includes(x.text))) w.resolve();
      waiters = waiters.filter((x) => !stderr.includes(x.text));
    },
    env: {},
    hostname: 'testhost',
    self: { execPath: process.execPath, execArgv: [], script: '/nonexistent/weft.js' },
    ...extra,
  }).then((code) => ({ code, stdout, stderr }));
  const said = (text: string): Promise<void> => (stderr.includes(text) ? Promise.resolve() : new Promise((resolve) => waiters.push({ text, resolve })));
  return { done, said };
}

const aborted = (signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => (signal!.aborted ? resolve() : signal!.addEventListener('abort', () => resolve(), { once: true })));

const FAST = { noticeAfterMs: 0, pollMs: 5 };

describe('weft attach and detach', () => {
  it('attach prints the MAC and addresses, with nothing on stderr when it is quick', async () => {
    expect(await weft(['attach', '10.32.0.5/12', 'c1']).done).toEqual({ code: 0, stdout: '0a:58:0a:20:00:05 10.32.0.5/12\n', stderr: '' });
    expect(await weft(['detach', 'c1']).done).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(dp.calls).toEqual([
      { op: 'attach', container: 'c1', cidrs: ['10.32.0.5/12'] },
      { op: 'detach', container: 'c1' },
    ]);
  });

  it.each([
    [['attach', '01.32.0.5/12', 'c1'], '"01.32.0.5/12" is not ADDR/PREFIX: "01.32.0.5" is not an IPv4 address: write four numbers 0–255 without leading zeros, like 10.32.0.5'],
    [['attach', '224.0.0.1/4', 'c1'], '"224.0.0.1/4" is a multicast address: a container needs a unicast address, like 10.32.0.5/12'],
    [['attach', '10.32.0.5', 'c1'], '"10.32.0.5" has no prefix length: write ADDR/PREFIX, like 10.32.0.5/12'],
    [['attach', 'c1', '10.32.0.5/12'], "the last argument must be the container's network namespace, not an address: weft attach c1 10.32.0.5/12 NETNS"],
    [['expose', '127.0.0.1/8'], '"127.0.0.1/8" is a loopback address (127.0.0.0/8), which never leaves its own namespace: the host needs a unicast address, like 10.32.0.5/12'],
    [['hide', '10.32.0.1/33'], '"10.32.0.1/33" is not ADDR/PREFIX: the prefix length must be a number 0–32, like 10.32.0.5/12'],
  ])('%j is refused before the router is asked', async (args, message) => {
    expect(await weft(args).done).toEqual({ code: 2, stdout: '', stderr: `${message}\n` });
    expect(dp.calls).toEqual([]);
  });

  it('an interrupted attach exits 130, says so, and the router is told to cancel', async () => {
    dp.gate = new Promise(() => undefined);
    const interrupt = new AbortController();
    const run = weft(['attach', 'c1', '--json'], { signal: interrupt.signal });
    await dp.called();
    interrupt.abort();
    expect(await run.done).toEqual({ code: 130, stdout: '', stderr: 'interrupted: the attach was cancelled\n' });
    await aborted(dp.signals[0]);
    expect(dp.signals[0]!.aborted).toBe(true);
  });

  it('an interrupted detach is cancelled too; an interrupted expose only stops waiting', async () => {
    dp.gate = new Promise(() => undefined);
    const interrupt = new AbortController();
    const run = weft(['detach', 'c1'], { signal: interrupt.signal });
    await dp.called();
    interrupt.abort();
    expect(await run.done).toMatchObject({ code: 130, stderr: 'interrupted: the detach was cancelled\n' });
    await aborted(dp.signals[0]);
    const before = new AbortController();
    before.abort();
    expect(await weft(['expose', '10.32.0.100/12'], { signal: before.signal }).done).toEqual({
      code: 130,
      stdout: '',
      stderr: 'interrupted: stopped waiting, but weft may still finish the expose — `weft status` tells\n',
    });
  });

  it('while it waits, says on stderr what for, once per change, and --json stdout stays clean', async () => {
    let open!: () => void;
    dp.gate = new Promise((r) => (open = r));
    ipam.waiting = 'consensus (1 of 3 peers)';
    const run = weft(['attach', 'c1', '--json'], { timing: FAST });
    await run.said('weft: still waiting for the attach: address allocation is waiting for consensus (1 of 3 peers)\n');
    ipam.waiting = null;
    await run.said('weft: still waiting for the attach: weft is still working on it\n');
    open();
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ container: 'c1', ips: ['10.32.0.5/12'] });
    expect(r.stderr).toBe(
      'weft: still waiting for the attach: address allocation is waiting for consensus (1 of 3 peers)\n' + 'weft: still waiting for the attach: weft is still working on it\n',
    );
  });

  it('counts the requests that arrived before its own', async () => {
    let open!: () => void;
    dp.gate = new Promise((r) => (open = r));
    const first = weft(['detach', 'c0']);
    await dp.called(1);
    const second = weft(['attach', 'c1'], { timing: FAST });
    await second.said('weft: still waiting for the attach: 1 earlier request is still being handled\n');
    open();
    expect((await first.done).code).toBe(0);
    expect((await second.done).code).toBe(0);
  });
});
