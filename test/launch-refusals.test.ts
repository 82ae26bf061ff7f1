// issue 13, "launch refuses configurations that cannot work": each misconfiguration the issue
// found, given to the built CLI inside a namespace host, ends at once with its reason and exit
// code, and leaves no router behind. Before, the first three "launched" (the data plane then
// retried EADDRINUSE forever, or ran unencrypted without a word) and the data dir spun at 100 % CPU.
//
//   h0 198.18.0.1  weft launch … (nothing may start)
//
// The 5 s bound is a hang detector, not a speed goal: a refusal takes one Node start (~0.3 s);
// the spin never ended.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, type Lan } from './harness/netns.js';
import { WEFT_JS, WeftHost } from './harness/weft.js';

const can = canUseNetns();
const built = existsSync(WEFT_JS);
if (!can.ok) console.warn(`SKIP launch refusal tests: ${can.reason}`);
else if (!built) console.warn(`SKIP launch refusal tests: ${WEFT_JS} is not built — run \`make build\``);

const FAST_MS = 5000;

describe.skipIf(!can.ok || !built)('weft launch refuses what cannot work (issue 13)', () => {
  let lan: Lan;
  let w: WeftHost;

  beforeAll(async () => {
    lan = await createLan({ hosts: 1 });
    w = new WeftHost(lan.hosts[0]!);
  }, 60_000);

  afterAll(async () => {
    await w?.cleanup();
    await lan?.cleanup();
  });

  it.each([
    [
      'VXLAN on the ESP port (a password makes UDP 6783 ESP)',
      ['launch', '--vxlan-port', '6783'],
      { WEFT_PASSWORD: 's3cret' },
      2,
      /^--vxlan-port 6783 is the mesh port: with a password, encrypted traffic \(ESP\) uses UDP 6783, so VXLAN cannot — leave --vxlan-port out for 6784, or move the mesh with --port\n$/,
    ],
    [
      'VXLAN on a moved mesh port',
      ['launch', '--port', '7000', '--vxlan-port', '7000'],
      {},
      2,
      /^--vxlan-port 7000 is the mesh port: UDP 7000 is where encrypted traffic \(ESP\) goes once a password is set/,
    ],
    ['the API on the mesh port', ['launch', '--no-dataplane', '--http-addr', '127.0.0.1:6783'], {}, 2, /^--http-addr port 6783 is the mesh port: both are TCP on every address/],
    [
      'a data dir the kernel will not create',
      ['launch', '--no-dataplane', '--data-dir', '/proc/nonexistent'],
      {},
      1,
      /^cannot use \/proc\/nonexistent as the data dir: cannot create \/proc\/nonexistent \(the file system there does not allow it\) — pass --data-dir \(or WEFT_DATA_DIR\) with a directory you can write, or run as root\n$/,
    ],
    ['a data dir that takes no files', ['launch', '--no-dataplane', '--data-dir', '/proc'], {}, 1, /^cannot use \/proc as the data dir: cannot create files in it/],
    ['the same data dir in the foreground', ['router', '--no-dataplane', '--data-dir', '/proc/nonexistent'], {}, 1, /^cannot use \/proc\/nonexistent as the data dir: cannot create \/proc\/nonexistent/],
    ['an empty --password', ['launch', '--no-dataplane', '--password', ''], {}, 2, /^--password is empty, which would run without encryption — give the password .*, or leave --password out to run unencrypted\n$/],
    ['an empty WEFT_PASSWORD', ['launch', '--no-dataplane'], { WEFT_PASSWORD: '' }, 2, /^WEFT_PASSWORD is set but empty, which would run without encryption — set it to the password, or unset it to run unencrypted\n$/],
  ])('%s: refused at once, with the reason', async (_what, args, env, code, message) => {
    const started = Date.now();
    const r = await w.weft(args, env);
    const ms = Date.now() - started;
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: '' });
    expect(r.stderr).toMatch(message);
    expect(ms).toBeLessThan(FAST_MS);
    expect(await w.pid()).toBeUndefined();
  });

  it('the same host launches once the options are fixed (the refusals were about the options)', async () => {
    // launch() remembers the router's PID, so cleanup ends it even if `weft stop` fails.
    expect(await w.launch(['--no-dataplane'], { WEFT_PASSWORD: 's3cret' })).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(await w.pid()).toBeGreaterThan(0);
  });
});
