// Drives the real weft CLI inside a namespace host, as an operator would: `weft launch`,
// `weft status … --json`, `weft stop`. Routers started in the background are remembered by
// PID (from the API's /health) so cleanup can end them even if `weft stop` fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecResult, Host } from './netns.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The built CLI, the one-file bundle users run; tests and the demo run `make build` (via make test/demo) first. */
export const WEFT_JS = resolve(here, here.includes('/dist/') ? '../../weft.cjs' : '../../dist/weft.cjs');

/** The driver behind weftConcurrently: argv lists on stdin, [{ code, stdout, stderr }] on stdout. */
const CONCURRENT_CLI = `
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
const { runCli } = await import(pathToFileURL(process.argv[1]).href);
const argvs = JSON.parse(readFileSync(0, 'utf8'));
const results = await Promise.all(argvs.map(async (argv) => {
  let stdout = '';
  let stderr = '';
  const ctx = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: process.env, hostname: hostname(), self: { execPath: process.execPath, execArgv: [], script: '' } };
  const code = await runCli(argv, ctx);
  return { code, stdout, stderr };
}));
process.stdout.write(JSON.stringify(results));
`;

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

  /**
   * Runs several `weft ARGS` at the same moment: one Node process in the host's namespace calls the
   * CLI's own entry (runCli from dist/src/cli/program.js) once per argv, all started in the same
   * tick, so the requests reach the router together (separate `weft` processes start ~0.3 s apart
   * on a busy machine and rarely overlap). Each result is what that command would have printed and
   * its exit code.
   */
  async weftConcurrently(argvs: string[][]): Promise<ExecResult[]> {
    const r = await this.host.exec(process.execPath, ['--input-type=module', '-e', CONCURRENT_CLI, resolve(dirname(WEFT_JS), 'src/cli/program.js')], {
      env: { WEFT_DATA_DIR: this.dataDir },
      input: JSON.stringify(argvs),
      timeoutMs: 60_000,
    });
    if (r.code !== 0) throw new Error(`running ${argvs.length} weft commands at once on ${this.host.name} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as ExecResult[];
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

  /**
   * Kills a router this host launched with SIGKILL at a moment the caller chooses (the PID from
   * pid(), looked up beforehand so the kill itself costs nothing); the PID is forgotten.
   */
  kill9(pid: number): void {
    if (!this.pids.has(pid)) throw new Error(`${pid} is not a router this WeftHost launched`);
    this.pids.delete(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Kills the router with SIGKILL (crash simulation); the PID is forgotten. */
  async crash(): Promise<void> {
    const pid = await this.pid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGKILL');
    this.pids.delete(pid);
  }
}
