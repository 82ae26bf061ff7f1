// `make build`: writes the bundle's code cache (dist/weft-bundle.cjs.v8cache, see load-bundle.ts)
// from one real start of a router, so it holds the functions a start compiles (a cache made by
// `weft --version` alone saves a third as much). The router listens on two loopback ports picked
// free, with no peers and no data plane: it sends nothing anywhere. Exits 1 if that fails; the
// cache `weft --version` wrote is then still there, and still valid.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function main(weft: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-warm-'));
  const mesh = await freePort();
  const api = await freePort();
  const child = spawn(process.execPath, [weft, '--http-addr', `127.0.0.1:${api}`, 'router', '--no-dataplane', '--host', '127.0.0.1', '--port', String(mesh), '--data-dir', dir], {
    env: { ...process.env, WEFT_WRITE_CODE_CACHE: '1' },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    let up = false;
    while (!up && Date.now() < deadline && child.exitCode === null) {
      up = await fetch(`http://127.0.0.1:${api}/status/peers`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (!up) await new Promise((res) => setTimeout(res, 50));
    }
    child.kill('SIGTERM');
    const code = await exited;
    if (!up || code !== 0) {
      process.stderr.write(`warm-code-cache: the router did not start and stop cleanly (exit ${code}); the bundle's cache is the one \`weft --version\` made\n`);
      return 1;
    }
    return 0;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

void main(process.argv[2] ?? 'dist/weft.cjs').then((code) => process.exit(code));
