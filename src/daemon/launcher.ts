// `weft launch`: start the router in the background and report once it answers.
//
//   GET /health answers? → already running, stop here
//   the data dir can be created and written? (else fail at once, saying so)
//   spawn detached, stdout+stderr appended to the log file, unref
//   poll GET /health until it answers with the child's pid
//     child exits first → its new log lines + what to do
//     time runs out     → SIGTERM the child, its new log lines + what to do
import { spawn } from 'node:child_process';
import { mkdir, open, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ApiClient } from '../api/client.js';
import type { HealthResponse } from '../api/protocol.js';
import { WeftError } from '../../lib/errors.js';

export interface LaunchSpec {
  /** Program and arguments that run the router in the foreground (`node weft.js router ...`). */
  command: string;
  args: string[];
  /** The child's whole environment (the password travels here, never in args). */
  env: NodeJS.ProcessEnv;
  /** Where the router's API will answer, "host:port". */
  httpAddr: string;
  /** Appended to; its directory is created with mode 0700. */
  logFile: string;
  /**
   * How long a router that is still running gets to answer (default 120 s). A router that fails
   * exits at once and is reported then; one that is merely slow to start (a loaded or emulated
   * machine: module loading alone took over 10 s in a TCG VM under load) is waited for.
   */
  timeoutMs?: number;
  /** Called once when the router has not answered after slowMs (default 3 s): the CLI says it still waits. */
  onSlow?: (pid: number) => void;
  slowMs?: number;
  /** Pause between /health probes (default 100 ms). */
  pollMs?: number;
  /** Log lines shown when the start fails (default 20). */
  tailLines?: number;
}

export interface Launched {
  pid: number;
  health: HealthResponse;
}

export async function launchRouter(spec: LaunchSpec): Promise<Launched> {
  const timeoutMs = spec.timeoutMs ?? 120_000;
  const pollMs = spec.pollMs ?? 100;
  const client = new ApiClient(spec.httpAddr, { timeoutMs: 1000 });
  const running = await client.health();
  if (running !== undefined) {
    throw new WeftError(
      'already-running',
      `weft is already running in this network namespace (peer ${running.name}, pid ${running.pid}); \`weft stop\` stops it`,
    );
  }

  const logStart = await openLog(spec.logFile);
  const log = await open(spec.logFile, 'a', 0o600);
  let exit: { code: number | null; signal: string | null; error?: Error } | undefined;
  let wake: () => void = () => undefined;
  let pid: number;
  try {
    const child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', log.fd, log.fd], env: spec.env });
    child.once('error', (error) => {
      exit = { code: null, signal: null, error };
      wake();
    });
    child.once('exit', (code, signal) => {
      exit ??= { code, signal };
      wake();
    });
    child.unref();
    if (child.pid === undefined) {
      await new Promise<void>((r) => setImmediate(r)); // lets 'error' say why
      const why = exit?.error?.message ?? 'no process id';
      throw new WeftError('io', `could not start ${spec.command}: ${why}`);
    }
    pid = child.pid;
  } finally {
    await log.close();
  }

  const deadline = Date.now() + timeoutMs;
  const slowAt = Date.now() + (spec.slowMs ?? 3_000);
  let slowSaid = false;
  for (;;) {
    if (!slowSaid && exit === undefined && Date.now() >= slowAt) {
      slowSaid = true;
      spec.onSlow?.(pid);
    }
    if (exit === undefined) {
      const health = await client.health().catch(() => undefined);
      if (health !== undefined && health.pid === pid) return { pid, health };
    }
    if (exit !== undefined) {
      const how = exit.error ? `could not start: ${exit.error.message}` : exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      throw new WeftError(
        'io',
        `the weft router ${how} before it answered on ${spec.httpAddr}.\n` +
          (await logTail(spec.logFile, logStart, spec.tailLines)) +
          `Fix the problem above and run \`weft launch\` again (\`weft router\` runs it in the foreground).`,
      );
    }
    if (Date.now() >= deadline) {
      try {
        if (pid > 0) process.kill(pid, 'SIGTERM');
      } catch {
        // It exited just now; the message below still holds.
      }
      throw new WeftError(
        'timeout',
        `the weft router (pid ${pid}) did not answer on ${spec.httpAddr} within ${timeoutMs / 1000} s, so it was stopped.\n` +
          (await logTail(spec.logFile, logStart, spec.tailLines)) +
          `Run \`weft router\` with the same options to watch it start in the foreground.`,
      );
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, pollMs);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

/** Prepares the log's directory (the data dir) and returns the log's current size (where this run's lines start). */
async function openLog(file: string): Promise<number> {
  await prepareDataDir(dirname(file));
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

/**
 * Creates dir (and its missing parents, mode 0700) and proves a file can be created in it, or
 * throws an 'io' WeftError saying what to do — before anything is started, so a bad --data-dir
 * fails at once. Walks down itself instead of mkdir({ recursive }): Node 20's recursive mkdir
 * retries forever, at 100 % CPU, when the kernel answers ENOENT for a directory whose parent
 * exists (/proc/x, /sys/x) — the spin issue 13 found.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  const fail = (what: string, err?: unknown): WeftError =>
    new WeftError(
      'io',
      `cannot use ${dir} as the data dir: ${what}${err === undefined ? '' : ` (${describeFsError(err)})`} — pass --data-dir (or WEFT_DATA_DIR) with a directory you can write, or run as root`,
      { cause: err },
    );
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    let s: Stats | undefined;
    try {
      s = await stat(d);
    } catch (err) {
      // ENOTDIR: a file further up, found as the walk goes on.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fail(`cannot look at ${d}`, err);
    }
    if (s !== undefined) {
      if (!s.isDirectory()) throw fail(`${d} is a file, not a directory`);
      break;
    }
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      await mkdir(d, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fail(`cannot create ${d}`, err);
    }
  }
  const probe = join(dir, `.weft-write-test-${process.pid}`);
  try {
    await (await open(probe, 'wx', 0o600)).close();
    await unlink(probe);
  } catch (err) {
    throw fail('cannot create files in it', err);
  }
}

function describeFsError(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'not a directory';
    case 'ENOENT':
      return 'the file system there does not allow it';
    case 'ENOSPC':
      return 'no space left';
    default:
      return (err as Error).message;
  }
}

const TAIL_BYTES = 64 * 1024;
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** The last lines the child wrote (after `from`), pino JSON shown as "LEVEL message", indented. */
export async function logTail(file: string, from: number, lines = 20): Promise<string> {
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(from, size - TAIL_BYTES);
      const buf = Buffer.alloc(Math.max(0, size - start));
      await fh.read(buf, 0, buf.length, start);
      text = buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return `(could not read the log ${file})\n`;
  }
  const tail = text.split('\n').filter((l) => l.trim() !== '').slice(-lines);
  if (tail.length === 0) return `(the router wrote nothing to ${file})\n`;
  return `Last lines of ${file}:\n` + tail.map((l) => `  ${prettyLine(l)}\n`).join('');
}

function prettyLine(line: string): string {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof rec !== 'object' || rec === null) return line;
  const r = rec as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
  if (typeof r.msg !== 'string') return line;
  const level = (typeof r.level === 'number' && LEVELS[r.level]) || String(r.level ?? '');
  const err = typeof r.err?.message === 'string' && r.err.message !== r.msg ? `: ${r.err.message}` : '';
  return `${level} ${r.msg}${err}`;
}
