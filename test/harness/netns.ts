// Throwaway LANs of Linux network namespaces for end-to-end tests.
//
//   <prefix>h0            <prefix>h1                  <prefix>h<n-1>
//   eth0 198.18.0.1/24    eth0 198.18.0.2/24    ...   eth0 198.18.0.<n>/24
//     |                     |                           |
//     h0 ------------------ h1 ------------------------ h<n-1>     <prefix>sw, all enslaved to bridge br0
//
// Both ends of every veth pair are created directly inside their namespaces, so the root namespace
// gains no links, no namespace has a default route, and deleting the namespaces removes everything.
// Namespace names are `wt<creator pid base36>-<random tag>-<role>` (see privileges.ts), which lets
// sweepStale() remove leftovers of a killed run and nothing else. Processes run through `ip netns exec`
// in their own process group (detached), are tracked by PID, and are signalled only while the harness
// has not yet seen them exit, so a signal never reaches a recycled PID.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { WeftError, errorMessage } from '../../lib/errors.js';
import { NETNS_NAME_PATTERN, defaultPrefix } from './privileges.js';

export { canUseNetns, canUseNft, hasCommand, NETNS_NAME_PATTERN } from './privileges.js';

export const LAN_SUBNET = '198.18.0.0/24';
export const MAX_HOSTS = 254;
const BRIDGE = 'br0';
const HOST_IFNAME = 'eth0';
const EXEC_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 3_000;
const OUTPUT_CAP = 4 << 20;
const NFT_TABLE = 'wt_harness';
const LINK_READY_MS = 5_000;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ProcessExit {
  /** Exit status; 128 + signal number when killed by a signal, as a shell reports it. */
  code: number;
  signal: NodeJS.Signals | null;
}

/** A long-running process inside a host namespace, started and tracked by the harness. */
export interface HostProcess {
  readonly pid: number;
  /** Resolves once the process has exited and its output is complete; never rejects. */
  readonly exited: Promise<ProcessExit>;
  /** False from the moment the harness has reaped the process. */
  readonly running: boolean;
  /** stdout and stderr interleaved as received (the last few MiB). */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Signals the process group this PID leads; does nothing once the process has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it is still running after graceMs; resolves with its exit. Safe to repeat. */
  stop(opts?: { graceMs?: number }): Promise<ProcessExit>;
}

/** One namespace of a LAN: eth0 with `addr`/24 on the shared bridge, lo up, no default route. */
export interface Host {
  readonly name: string;
  readonly addr: string;
  readonly ifname: string;
  readonly index: number;
  /** Runs `cmd args` inside the namespace to completion. Rejects with code 'timeout' after timeoutMs. */
  exec(cmd: string, args: string[], opts?: { timeoutMs?: number; env?: Record<string, string>; input?: string }): Promise<ExecResult>;
  /** Starts `cmd args` inside the namespace, stdin closed; cleanup() stops it if the test does not. */
  spawn(cmd: string, args: string[], opts?: { env?: Record<string, string> }): HostProcess;
}

export interface Lan {
  readonly hosts: Host[];
  readonly prefix: string;
  /** Namespace holding the bridge. */
  readonly switchName: string;
  /**
   * A new empty namespace (lo up, no links) for a container, named `<prefix>cN`; its `addr` is ''.
   * Deleted by cleanup() with the rest of the LAN.
   */
  addContainer(): Promise<Host>;
  /** Stops tracked processes (by PID), then deletes every namespace of this LAN. Idempotent. */
  cleanup(): Promise<void>;
}

function exitOf(code: number | null, signal: NodeJS.Signals | null): ProcessExit {
  if (code !== null) return { code, signal };
  const num = signal ? osConstants.signals[signal] : undefined;
  return { code: num === undefined ? -1 : 128 + num, signal };
}

function appendCapped(buf: string, chunk: string): string {
  const next = buf + chunk;
  return next.length > OUTPUT_CAP ? next.slice(next.length - OUTPUT_CAP) : next;
}

class NsProcess implements HostProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  private alive = true;
  private combined = '';
  private out = '';
  private err = '';
  private stopping: Promise<ProcessExit> | undefined;

  constructor(child: ChildProcess, onGone: () => void) {
    if (child.pid === undefined) {
      child.once('error', () => undefined);
      throw new WeftError('io', 'could not start ip netns exec (is iproute2 installed?)');
    }
    this.pid = child.pid;
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      this.out = appendCapped(this.out, s);
      this.combined = appendCapped(this.combined, s);
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.err = appendCapped(this.err, s);
      this.combined = appendCapped(this.combined, s);
    });
    this.exited = new Promise((resolve) => {
      let exit: ProcessExit | undefined;
      child.once('error', (e) => {
        this.alive = false;
        this.combined = appendCapped(this.combined, `harness: ${errorMessage(e)}\n`);
        resolve(exit ?? { code: -1, signal: null });
      });
      // 'exit' means reaped: from here on the PID may be reused, so no more signals.
      child.once('exit', (code, signal) => {
        this.alive = false;
        exit = exitOf(code, signal);
        onGone();
        // Output is complete on 'close'; a leftover child holding the pipes must not hang the caller.
        // The fallback is generous and yields to I/O first: on a loaded machine this process reads
        // the pipes late, and a 1 s timer that fired before the pending reads returned a command's
        // exit code with its stdout missing (e2e-ipam's concurrent attaches saw empty JSON).
        setTimeout(() => setImmediate(() => resolve(exit!)), 5000).unref();
      });
      child.once('close', (code, signal) => resolve(exit ?? exitOf(code, signal)));
    });
  }

  get running(): boolean {
    return this.alive;
  }

  output(): string {
    return this.combined;
  }

  stdout(): string {
    return this.out;
  }

  stderr(): string {
    return this.err;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.alive) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      try {
        process.kill(this.pid, signal);
      } catch {
        // already gone
      }
    }
  }

  stop(opts: { graceMs?: number } = {}): Promise<ProcessExit> {
    this.stopping ??= (async () => {
      if (!this.alive) return this.exited;
      this.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), opts.graceMs ?? STOP_GRACE_MS);
      });
      if ((await Promise.race([this.exited, grace])) === 'late') this.kill('SIGKILL');
      clearTimeout(timer);
      return this.exited;
    })();
    return this.stopping;
  }

  /** For process-exit cleanup, where nothing asynchronous runs any more. */
  killNow(): void {
    this.kill('SIGKILL');
  }
}

class NsHost implements Host {
  readonly ifname = HOST_IFNAME;
  nftReady = false;

  constructor(
    readonly name: string,
    readonly addr: string,
    readonly index: number,
    private readonly lan: LanImpl,
  ) {}

  spawn(cmd: string, args: string[], opts: { env?: Record<string, string> } = {}): HostProcess {
    return this.lan.launch(this.name, cmd, args, opts.env, false).proc;
  }

  async exec(cmd: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string>; input?: string } = {}): Promise<ExecResult> {
    const { proc, child } = this.lan.launch(this.name, cmd, args, opts.env, true);
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
    const timeoutMs = opts.timeoutMs ?? EXEC_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const first = await Promise.race([proc.exited, late]);
    clearTimeout(timer);
    if (first === 'late') {
      await proc.stop({ graceMs: 0 });
      throw new WeftError('timeout', `${this.name}: \`${[cmd, ...args].join(' ')}\` did not finish within ${timeoutMs} ms; output so far:\n${proc.output()}`);
    }
    return { code: first.code, stdout: proc.stdout(), stderr: proc.stderr() };
  }
}

const liveLans = new Set<LanImpl>();

class LanImpl implements Lan {
  readonly hosts: NsHost[] = [];
  readonly containers: NsHost[] = [];
  readonly switchName: string;
  private readonly procs = new Set<NsProcess>();
  private cleaning: Promise<void> | undefined;

  constructor(
    readonly prefix: string,
    count: number,
  ) {
    this.switchName = `${prefix}sw`;
    for (let i = 0; i < count; i++) this.hosts.push(new NsHost(`${prefix}h${i}`, `198.18.0.${i + 1}`, i, this));
  }

  get names(): string[] {
    return [this.switchName, ...this.hosts.map((h) => h.name), ...this.containers.map((c) => c.name)];
  }

  async addContainer(): Promise<Host> {
    if (this.cleaning) throw new WeftError('closed', `LAN ${this.prefix} has been cleaned up`);
    const c = new NsHost(`${this.prefix}c${this.containers.length}`, '', this.containers.length, this);
    this.containers.push(c);
    await ipBatch(`creating container ${c.name}`, undefined, [`netns add ${c.name}`]);
    await ipBatch(`configuring ${c.name}`, c.name, ['link set lo up']);
    return c;
  }

  launch(netns: string, cmd: string, args: string[], env: Record<string, string> | undefined, withStdin: boolean): { proc: NsProcess; child: ChildProcess } {
    if (this.cleaning) throw new WeftError('closed', `LAN ${this.prefix} has been cleaned up; cannot run ${cmd}`);
    const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], {
      detached: true,
      env: { ...process.env, ...env },
      stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const proc = new NsProcess(child, () => this.procs.delete(proc));
    this.procs.add(proc);
    return { proc, child };
  }

  cleanup(): Promise<void> {
    this.cleaning ??= this.teardown();
    return this.cleaning;
  }

  private async teardown(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop()));
    const strays = await runTool('ip', ['-force', '-batch', '-'], this.names.map((n) => `netns pids ${n}`).join('\n'));
    await runTool('ip', ['-force', '-batch', '-'], this.names.map((n) => `netns del ${n}`).join('\n'));
    liveLans.delete(this);
    const left = listNetns().filter((n) => this.names.includes(n));
    if (left.length > 0) throw new WeftError('io', `could not delete namespaces ${left.join(', ')}; remove them with \`ip netns del\``);
    const pids = strays.stdout.split(/\s+/).filter(Boolean);
    if (pids.length > 0) {
      process.emitWarning(`LAN ${this.prefix}: processes not started through the harness were still in its namespaces (pids ${pids.join(' ')}); they keep running detached from any name`);
    }
  }

  /** Process-exit path: SIGKILL tracked PIDs and delete namespaces, synchronously. */
  cleanupSync(): void {
    for (const p of this.procs) p.killNow();
    this.procs.clear();
    try {
      execFileSync('ip', ['-force', '-batch', '-'], { input: this.names.map((n) => `netns del ${n}`).join('\n'), stdio: ['pipe', 'ignore', 'ignore'] });
    } catch {
      // best effort at exit; sweepStale() removes what is left
    }
    liveLans.delete(this);
  }
}

let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const cleanAll = (): void => {
    for (const lan of [...liveLans]) lan.cleanupSync();
  };
  process.on('exit', cleanAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanAll();
      // Alone on this signal we must restore its default: die by it, as without the hook.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

function runTool(cmd: string, args: string[], input: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', (e) => resolve({ code: -1, stdout, stderr: stderr + errorMessage(e) }));
    child.once('close', (code, signal) => resolve({ code: exitOf(code, signal).code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

async function ipBatch(what: string, netns: string | undefined, lines: string[]): Promise<void> {
  const args = netns === undefined ? ['-batch', '-'] : ['-n', netns, '-batch', '-'];
  const r = await runTool('ip', args, lines.join('\n') + '\n');
  if (r.code !== 0) throw new WeftError('io', `${what} failed (ip ${args.join(' ')}): ${r.stderr.trim()}`);
}

/** Names from `ip netns list`. */
export function listNetns(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

function randomTag(): string {
  const n = randomBytes(4).readUInt32BE(0) % 36 ** 3;
  return n.toString(36).padStart(3, '0');
}

/** Builds the LAN drawn at the top of this file. On failure, whatever was created is deleted again. */
export async function createLan(opts: { hosts: number; prefix?: string }): Promise<Lan> {
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
    throw new WeftError('usage', `a LAN has 1 to ${MAX_HOSTS} hosts (asked for ${opts.hosts})`);
  }
  const prefix = opts.prefix ?? defaultPrefix(randomTag());
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(prefix)) throw new WeftError('usage', `namespace prefix ${JSON.stringify(prefix)} must be 1-32 of [A-Za-z0-9_.-]`);
  const lan = new LanImpl(prefix, opts.hosts);
  const taken = listNetns().filter((n) => lan.names.includes(n));
  if (taken.length > 0) {
    throw new WeftError('usage', `namespace ${taken[0]} already exists: another run uses prefix ${prefix}; pick another prefix or run sweepStale()`);
  }
  liveLans.add(lan);
  installExitHooks();
  try {
    const sw = lan.switchName;
    await ipBatch('creating namespaces', undefined, [
      ...lan.names.map((n) => `netns add ${n}`),
      ...lan.hosts.map((h) => `link add h${h.index} netns ${sw} type veth peer name ${HOST_IFNAME} netns ${h.name}`),
    ]);
    await Promise.all([
      ipBatch('configuring the switch', sw, [
        'link set lo up',
        `link add ${BRIDGE} type bridge stp_state 0 forward_delay 0`,
        `link set ${BRIDGE} up`,
        ...lan.hosts.flatMap((h) => [`link set h${h.index} master ${BRIDGE}`, `link set h${h.index} up`]),
      ]),
      ...lan.hosts.map((h) =>
        ipBatch(`configuring ${h.name}`, h.name, ['link set lo up', `addr add ${h.addr}/24 dev ${HOST_IFNAME}`, `link set ${HOST_IFNAME} up`]),
      ),
    ]);
    await waitFor(() => linksReady(lan), { timeoutMs: LINK_READY_MS, intervalMs: 20, what: `the links of LAN ${prefix} to come up` });
  } catch (err) {
    await lan.cleanup().catch(() => undefined);
    throw err;
  }
  return lan;
}

/**
 * The kernel's link watcher may take up to a second to mark a new veth as carrying (it rate-limits its
 * work), and until then the bridge port stays disabled and frames are dropped. So wait for every switch
 * port to forward and every host eth0 to be operationally up.
 */
async function linksReady(lan: LanImpl): Promise<boolean> {
  const [ports, hosts] = await Promise.all([
    runTool('ip', ['-n', lan.switchName, '-o', '-d', 'link', 'show', 'master', BRIDGE], ''),
    runTool('ip', ['-batch', '-'], lan.hosts.map((h) => `netns exec ${h.name} ip -o link show dev ${HOST_IFNAME}`).join('\n')),
  ]);
  const forwarding = ports.stdout.split('\n').filter((l) => /\bbridge_slave state forwarding\b/.test(l) && !l.includes('NO-CARRIER'));
  const up = hosts.stdout.split('\n').filter((l) => /\bstate UP\b/.test(l));
  return forwarding.length === lan.hosts.length && up.length === lan.hosts.length;
}

/** Creates a LAN, runs fn, and cleans up whether fn returns or throws. */
export async function withLan<T>(opts: { hosts: number; prefix?: string }, fn: (lan: Lan) => Promise<T>): Promise<T> {
  const lan = await createLan(opts);
  try {
    return await fn(lan);
  } finally {
    await lan.cleanup();
  }
}

/** Whether a process with this PID exists (EPERM counts as alive). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Deletes namespaces named by this harness whose creator PID no longer exists (leftovers of a killed
 * run). Names of live creators, and names outside the pattern, are never touched. Returns what it deleted.
 */
export async function sweepStale(): Promise<string[]> {
  const stale = listNetns().filter((n) => {
    const m = NETNS_NAME_PATTERN.exec(n);
    return m !== null && !pidAlive(parseInt(m[1]!, 36));
  });
  if (stale.length > 0) await runTool('ip', ['-force', '-batch', '-'], stale.map((n) => `netns del ${n}`).join('\n'));
  const left = new Set(listNetns());
  return stale.filter((n) => !left.has(n));
}

async function nft(host: Host, script: string): Promise<ExecResult> {
  return host.exec('nft', ['-f', '-'], { input: script, timeoutMs: 10_000 });
}

async function ensureNftTable(host: Host): Promise<void> {
  if (!(host instanceof NsHost)) throw new WeftError('usage', 'blockUdpPort needs hosts made by createLan');
  if (host.nftReady) return;
  const r = await nft(
    host,
    `table inet ${NFT_TABLE} {
  set blocked_udp { type ipv4_addr . inet_service; }
  chain out { type filter hook output priority 0; policy accept; ip daddr . udp dport @blocked_udp counter drop; }
  chain in { type filter hook input priority 0; policy accept; ip saddr . udp dport @blocked_udp counter drop; }
}
`,
  );
  if (r.code !== 0) throw new WeftError('io', `${host.name}: installing nftables rules failed (is the nftables package installed?): ${r.stderr.trim()}`);
  host.nftReady = true;
}

/** Drops UDP to `port` between a and b, both directions, with nftables in both namespaces. Idempotent. */
export async function blockUdpPort(a: Host, b: Host, port: number): Promise<void> {
  for (const [self, peer] of [[a, b], [b, a]] as const) {
    await ensureNftTable(self);
    const r = await nft(self, `add element inet ${NFT_TABLE} blocked_udp { ${peer.addr} . ${port} }\n`);
    if (r.code !== 0) throw new WeftError('io', `${self.name}: blocking udp ${peer.addr}:${port} failed: ${r.stderr.trim()}`);
  }
}

/** Undoes blockUdpPort; unblocking what was never blocked is a no-op. */
export async function unblockUdpPort(a: Host, b: Host, port: number): Promise<void> {
  for (const [self, peer] of [[a, b], [b, a]] as const) {
    if (!(self instanceof NsHost) || !self.nftReady) continue;
    const r = await nft(self, `delete element inet ${NFT_TABLE} blocked_udp { ${peer.addr} . ${port} }\n`);
    if (r.code !== 0 && !/No such file or directory/.test(r.stderr)) {
      throw new WeftError('io', `${self.name}: unblocking udp ${peer.addr}:${port} failed: ${r.stderr.trim()}`);
    }
  }
}

/**
 * Polls pred until it returns a truthy value, which it returns. A throwing pred counts as "not yet".
 * On timeout throws WeftError('timeout') naming `what` (or the predicate's source) and the last error.
 */
export async function waitFor<T>(
  pred: () => T | false | null | undefined | Promise<T | false | null | undefined>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
  const what = opts.what ?? pred.toString().replace(/\s+/g, ' ').slice(0, 200);
  const why = lastErr === undefined ? '' : `; last error: ${errorMessage(lastErr)}`;
  throw new WeftError('timeout', `timed out after ${timeoutMs} ms waiting for ${what}${why}`, { cause: lastErr });
}

const NFT_CUT_TABLE = 'wt_harness_cut';
const cutReady = new WeakSet<Host>();

async function ensureCutTable(host: Host): Promise<void> {
  if (cutReady.has(host)) return;
  // Ahead of other filters (priority -10), so nothing a router installs can let a packet through.
  const r = await nft(
    host,
    `table inet ${NFT_CUT_TABLE} {
  set cut { type ipv4_addr; }
  chain out { type filter hook output priority -10; policy accept; ip daddr @cut counter drop; }
  chain in { type filter hook input priority -10; policy accept; ip saddr @cut counter drop; }
}
`,
  );
  if (r.code !== 0) throw new WeftError('io', `${host.name}: installing nftables rules failed (is the nftables package installed?): ${r.stderr.trim()}`);
  cutReady.add(host);
}

/**
 * Silently drops every IPv4 packet between hosts a and b, both directions, with nftables in both
 * namespaces: a cut cable, not a refusal (no RST, no ICMP), so only timeouts can tell. Idempotent.
 */
export async function cutHosts(a: Host, b: Host): Promise<void> {
  for (const [self, peer] of [[a, b], [b, a]] as const) {
    await ensureCutTable(self);
    const r = await nft(self, `add element inet ${NFT_CUT_TABLE} cut { ${peer.addr} }\n`);
    if (r.code !== 0) throw new WeftError('io', `${self.name}: cutting ${peer.addr} off failed: ${r.stderr.trim()}`);
  }
}

/** Undoes cutHosts; mending what was never cut is a no-op. */
export async function mendHosts(a: Host, b: Host): Promise<void> {
  for (const [self, peer] of [[a, b], [b, a]] as const) {
    if (!cutReady.has(self)) continue;
    const r = await nft(self, `delete element inet ${NFT_CUT_TABLE} cut { ${peer.addr} }\n`);
    if (r.code !== 0 && !/No such file or directory/.test(r.stderr)) throw new WeftError('io', `${self.name}: mending the cut to ${peer.addr} failed: ${r.stderr.trim()}`);
  }
}

/** Cuts every host of one side off from every host of the other (cutHosts for each pair). */
export async function partition(left: Host[], right: Host[]): Promise<void> {
  for (const a of left) for (const b of right) await cutHosts(a, b);
}

/** Undoes partition(left, right). */
export async function heal(left: Host[], right: Host[]): Promise<void> {
  for (const a of left) for (const b of right) await mendHosts(a, b);
}
