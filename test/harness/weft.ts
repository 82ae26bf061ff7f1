// Drives the real weft CLI inside a namespace host, as an operator would: `weft launch`,
// `weft status … --json`, `weft stop`. Routers started in the background are remembered by
// PID (from the API's /health) so cleanup can end them even if `weft stop` fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecResult, Host } from './netns.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The built CLI; tests and the demo run `make build` (via make test/demo) first. */
export const WEFT_JS = resolve(here, here.includes('/dist/') ? '../../src/bin/weft.js' : '../../dist/src/bin/weft.js');

export class WeftHost {
  readonly dataDir: string;
  private pids = new Set<number>();

  constructor(readonly host: Host) {
    this.dataDir = mkdtempSync(join(tmpdir(), `weft-${host.name}-`));
  }

  /** Runs `weft ARGS` in the host's namespace. */
  weft(args: string[], env: Record<string, string> = {}): Promise<ExecResult> {
    return this.host.exec(process.execPath, [WEFT_JS, ...args], { env: { WEFT_DATA_DIR: this.dataDir, ...env }, timeoutMs: 30_000 });
  }

  /** `weft launch` with the data dir of this host; throws with the output if it fails. */
  async launch(args: string[], env: Record<string, string> = {}): Promise<string> {
    const r = await this.weft(['launch', '--data-dir', this.dataDir, '--nickname', this.host.name, ...args], env);
    if (r.code !== 0) throw new Error(`weft launch on ${this.host.name} failed (${r.code}): ${r.stdout}${r.stderr}`);
    const pid = await this.pid();
    if (pid) this.pids.add(pid);
    return r.stdout.trim();
  }

  /** The running router's PID, from its API, or undefined. */
  async pid(): Promise<number | undefined> {
    const r = await this.host.exec(process.execPath, ['-e', "fetch('http://127.0.0.1:6784/health').then(r=>r.json()).then(j=>console.log(j.pid)).catch(()=>process.exit(1))"]);
    return r.code === 0 ? Number(r.stdout.trim()) : undefined;
  }

  async json<T>(args: string[]): Promise<T> {
    const r = await this.weft([...args, '--json']);
    if (r.code !== 0) throw new Error(`weft ${args.join(' ')} on ${this.host.name} failed: ${r.stderr || r.stdout}`);
    return JSON.parse(r.stdout) as T;
  }

  async stop(): Promise<ExecResult> {
    return this.weft(['stop']);
  }

  /** Ends this host's routers: `weft stop`, then SIGKILL by remembered PID. Removes the data dir. */
  async cleanup(): Promise<void> {
    await this.stop().catch(() => undefined);
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.pids.clear();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Kills the router with SIGKILL (crash simulation); the PID is forgotten. */
  async crash(): Promise<void> {
    const pid = await this.pid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGKILL');
    this.pids.delete(pid);
  }
}
