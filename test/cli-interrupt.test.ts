// The built `weft` executable interrupted by a real signal while an attach waits: it exits 130,
// says so, and the router (an in-process API server over a fake data plane, on 127.0.0.1) sees
// the attach's signal abort. Needs `make build` (make test does it).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDataplaneControl, FakeMeshControl } from '../src/api/fake-control.js';
import { startApiServer, type ApiServer } from '../src/api/server.js';
import { silentLogger } from '../lib/log.js';
import { WEFT_JS } from './harness/weft.js';

let api: ApiServer | undefined;
afterEach(() => api?.close());

describe.skipIf(!existsSync(WEFT_JS))('weft attach interrupted by a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s: exit 130, "interrupted: the attach was cancelled", the router cancels', async (sig) => {
    const dp = new FakeDataplaneControl();
    dp.gate = new Promise(() => undefined);
    api = await startApiServer({ control: new FakeMeshControl(), dataplane: dp, addr: '127.0.0.1:0', log: silentLogger(), onStop: () => undefined });
    const child = spawn(process.execPath, [WEFT_JS, '--http-addr', api.address, 'attach', 'c1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await dp.called();
    child.kill(sig);
    expect(await exited).toBe(130);
    expect(stdout).toBe('');
    expect(stderr).toBe('interrupted: the attach was cancelled\n');
    const signal = dp.signals[0]!;
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    expect(signal.aborted).toBe(true);
  });
});
