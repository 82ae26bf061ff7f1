// Running runtime tools (podman, ctr, containerd, the CRI client, cnitool) from the root namespace,
// optionally entered into a namespace host's network namespace with `nsenter --net` only.
//
// Why not Host.exec: it goes through `ip netns exec`, which remounts /sys and hides the cgroup
// mounts, and runc then fails with "no cgroup mount found in mountinfo". `nsenter --net` changes
// the network namespace alone, so the runtime and every CNI plugin it calls see the host's links
// and its router on 127.0.0.1:6784, while mounts and cgroups stay the machine's.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { ExecResult, Host } from '../netns.js';

const DEFAULT_TIMEOUT_MS = 60_000;
const OUTPUT_CAP = 4 << 20;

export interface RunOpts {
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
  /** Run inside this host's network namespace (nsenter --net=/run/netns/NAME). */
  host?: Host;
  cwd?: string;
}

/** The bind-mounted path of a namespace made by the netns harness (`ip netns add NAME`). */
export function netnsPathOf(host: Host): string {
  return `/run/netns/${host.name}`;
}

function argvFor(cmd: string, args: string[], host: Host | undefined): [string, string[]] {
  return host === undefined ? [cmd, args] : ['nsenter', [`--net=${netnsPathOf(host)}`, '--', cmd, ...args]];
}

/**
 * Runs a command to completion; never rejects for a non-zero exit. A command still running after
 * timeoutMs is killed (its whole process group) and reported with code 124 and what it printed.
 */
export function run(cmd: string, args: string[], opts: RunOpts = {}): Promise<ExecResult> {
  const [file, argv] = argvFor(cmd, args, opts.host);
  return new Promise((resolve) => {
    const child = spawn(file, argv, { detached: true, cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout = (stdout + s).slice(-OUTPUT_CAP)));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-OUTPUT_CAP)));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${file}: ${e.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) resolve({ code: 124, stdout, stderr: `${stderr}\n(${[cmd, ...args].join(' ')} killed after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms)` });
      else resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** run(), but a non-zero exit throws with the command and its output. */
export async function runOk(cmd: string, args: string[], opts: RunOpts = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`\`${[cmd, ...args].join(' ')}\`${opts.host ? ` on ${opts.host.name}` : ''} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A command's exit status for probes at collection time (synchronous; true when it exits 0). */
export function succeeds(cmd: string, args: string[], timeoutMs = 10_000): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: timeoutMs });
  return r.status === 0;
}

/**
 * PIDs of processes whose command line mentions `marker` (a private directory of one test) or whose
 * root directory lies below it (a container's processes, rooted in a rootfs in that directory), so
 * what a runtime daemonised (conmon, containerd shims, pause processes) can be ended by PID without
 * ever touching another test's processes or the machine's own.
 */
export function pidsMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker) || readlinkSync(`/proc/${entry}/root`).startsWith(`${marker}/`)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** SIGKILLs each PID that still mentions `marker` (re-checked just before, against PID reuse). */
export function killMentioning(marker: string): number[] {
  const killed: number[] = [];
  for (const pid of pidsMentioning(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // gone
    }
  }
  return killed;
}

/**
 * Gives the processes that mention `marker` up to graceMs to exit on their own (conmon outlives
 * `podman rm` by a moment), then SIGKILLs those still there. Returns the PIDs it had to kill.
 */
export async function endMentioning(marker: string, graceMs = 5_000): Promise<number[]> {
  const until = Date.now() + graceMs;
  while (pidsMentioning(marker).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  return killMentioning(marker);
}

/** Mount points at or below `dir` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts (lazily, deepest first) everything mounted at or below `dir`; returns what it unmounted. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const done: string[] = [];
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) break;
    for (const p of points) {
      const r = await run('umount', ['-l', p], { timeoutMs: 10_000 });
      if (r.code === 0) done.push(p);
    }
  }
  return done;
}
