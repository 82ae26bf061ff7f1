// The Go reference peer (test/interop/gopeer, built from Debian's weaveworks/mesh) as a
// child process the interop tests can start, query over its HTTP control endpoint, and stop.
//
//   buildGoPeer()  -> .cache/gopeer/gopeer (GOPATH mode, rebuilt when the Go source is newer)
//   GoPeer.start() -> spawn [ip netns exec NS] gopeer ..., wait for GET /status
//   status/set/add/connect -> HTTP; inside a netns through `ip netns exec NS node -e <fetch>`
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
// From dist/test/harness (a built benchmark) as well as from test/harness (vitest).
const REPO = resolve(HERE, HERE.includes('/dist/') ? '../../..' : '../..');
const SOURCE_DIR = join(REPO, 'test', 'interop', 'gopeer');
const CACHE_DIR = join(REPO, '.cache');
export const GOPEER_BINARY = join(CACHE_DIR, 'gopeer', 'gopeer');
const GOCODE = '/usr/share/gocode';
const MESH_SOURCE = join(GOCODE, 'src', 'github.com', 'weaveworks', 'mesh', 'router.go');
const INSTALL_HINT = 'apt-get install golang-go golang-github-weaveworks-mesh-dev, or run make test';

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const REQUEST_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 100;
const LOG_KEEP_BYTES = 64 * 1024;

/** Why the Go peer cannot be used here, or undefined if go and the mesh source are installed. */
export function goPeerUnavailable(): string | undefined {
  const go = spawnSync('go', ['version'], { stdio: 'ignore' });
  if (go.error !== undefined || go.status !== 0) return `the go toolchain is not installed (${INSTALL_HINT})`;
  if (!existsSync(MESH_SOURCE)) return `the weaveworks/mesh Go source is missing at ${dirname(MESH_SOURCE)} (${INSTALL_HINT})`;
  return undefined;
}

function newestSourceMtime(): number {
  return Math.max(
    ...readdirSync(SOURCE_DIR)
      .filter((f) => f.endsWith('.go'))
      .map((f) => statSync(join(SOURCE_DIR, f)).mtimeMs),
  );
}

function isFresh(): boolean {
  return existsSync(GOPEER_BINARY) && statSync(GOPEER_BINARY).mtimeMs >= newestSourceMtime();
}

async function build(): Promise<string> {
  const missing = goPeerUnavailable();
  if (missing !== undefined) throw new Error(`cannot build the Go reference peer: ${missing}`);
  if (isFresh()) return GOPEER_BINARY;
  mkdirSync(dirname(GOPEER_BINARY), { recursive: true });
  const gopath = mkdtempSync(join(tmpdir(), 'weft-gopath-'));
  // Build beside the target and rename, so a concurrent reader never sees a half-written binary.
  const partial = `${GOPEER_BINARY}.${process.pid}.partial`;
  try {
    await new Promise<void>((ok, fail) => {
      execFile(
        'go',
        ['build', '-o', partial, '.'],
        {
          cwd: SOURCE_DIR,
          timeout: 300_000,
          env: {
            ...process.env,
            GO111MODULE: 'off',
            GOPROXY: 'off',
            GOFLAGS: '',
            GOPATH: `${gopath}:${GOCODE}`,
            GOCACHE: join(CACHE_DIR, 'go-build'),
          },
        },
        (err, _stdout, stderr) =>
          err === null ? ok() : fail(new Error(`go build of ${SOURCE_DIR} failed:\n${stderr || err.message}`, { cause: err })),
      );
    });
    renameSync(partial, GOPEER_BINARY);
  } finally {
    rmSync(partial, { force: true });
    rmSync(gopath, { recursive: true, force: true });
  }
  return GOPEER_BINARY;
}

let building: Promise<string> | undefined;

/** Builds the Go peer once per process (and only when its source changed); returns the binary path. */
export function buildGoPeer(): Promise<string> {
  if (building === undefined) {
    building = build();
    building.catch(() => (building = undefined));
  }
  return building;
}

export { freePort } from './ports.js';

export interface GoPeerOptions {
  /** Peer name, MAC form (aa:bb:cc:dd:ee:ff). */
  name: string;
  nickname?: string;
  /** Mesh TCP listen address, host:port. */
  meshAddr: string;
  /** HTTP control listen address, host:port (reachable only inside `netns` if set). */
  httpAddr: string;
  /** Mesh password; absent or empty means no encryption. */
  password?: string;
  /** Initial connection targets, host:port. */
  peers?: string[];
  connLimit?: number;
  /** Run inside this network namespace (`ip netns exec NS`). */
  netns?: string;
}

/** GET /status of the Go peer: mesh.NewStatus as JSON. UIDs are kept as decimal strings. */
export interface GoStatus {
  Protocol: string;
  ProtocolMinVersion: number;
  ProtocolMaxVersion: number;
  Encryption: boolean;
  PeerDiscovery: boolean;
  Name: string;
  NickName: string;
  Port: number;
  Peers: GoPeerStatus[] | null;
  UnicastRoutes: { Dest: string; Via: string }[] | null;
  BroadcastRoutes: { Source: string; Via: string[] | null }[] | null;
  Connections: GoConnectionStatus[] | null;
  TerminationCount: number;
  Targets: string[] | null;
  TrustedSubnets: string[] | null;
}

export interface GoPeerStatus {
  Name: string;
  NickName: string;
  UID: string;
  ShortID: number;
  Version: number;
  Connections: { Name: string; NickName: string; Address: string; Outbound: boolean; Established: boolean }[] | null;
}

export interface GoConnectionStatus {
  Address: string;
  Outbound: boolean;
  /** 'established' | 'pending' | 'connecting' | 'retrying' | 'failed' | 'waiting' */
  State: string;
  Info: string;
  Attrs: Record<string, unknown> | null;
}

/**
 * True if the peer reporting `status` has an established connection to `peerName` in its own
 * topology entry and a unicast route to it.
 */
export function hasEstablishedRoute(status: GoStatus, peerName: string): boolean {
  const self = (status.Peers ?? []).find((p) => p.Name === status.Name);
  const connected = (self?.Connections ?? []).some((c) => c.Name === peerName && c.Established);
  const routed = (status.UnicastRoutes ?? []).some((r) => r.Dest === peerName);
  return connected && routed;
}

// Run inside the namespace by `ip netns exec NS node -e`: argv = [node, method, url, timeoutMs].
const NETNS_CLIENT = `
const [method, url, ms] = process.argv.slice(1);
fetch(url, { method, signal: AbortSignal.timeout(Number(ms)) })
  .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))
  .catch((e) => { process.stderr.write(String(e)); process.exitCode = 1; });
`;

interface HttpReply {
  status: number;
  body: string;
}

const live = new Set<GoPeer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.killNow();
  });
}

export class GoPeer {
  readonly pid: number;
  readonly opts: GoPeerOptions;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private stderr = '';
  private stopping: Promise<void> | undefined;

  private constructor(child: ChildProcess, opts: GoPeerOptions) {
    if (child.pid === undefined) throw new Error('spawning the Go peer failed: no pid');
    this.child = child;
    this.pid = child.pid;
    this.opts = opts;
    this.exited = new Promise((ok) => child.once('exit', () => ok()));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      if (this.stderr.length > LOG_KEEP_BYTES) this.stderr = this.stderr.slice(-LOG_KEEP_BYTES / 2);
    });
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  /** Spawns the peer (building it first if needed) and resolves once GET /status answers. */
  static async start(opts: GoPeerOptions): Promise<GoPeer> {
    const bin = await buildGoPeer();
    const args = ['-name', opts.name, '-mesh', opts.meshAddr, '-http', opts.httpAddr];
    if (opts.nickname !== undefined) args.push('-nickname', opts.nickname);
    if (opts.password !== undefined && opts.password !== '') args.push('-password', opts.password);
    if (opts.connLimit !== undefined) args.push('-conn-limit', String(opts.connLimit));
    for (const p of opts.peers ?? []) args.push('-peer', p);
    // `ip netns exec` execs the command in place, so the pid we get is the Go peer's own.
    const [cmd, argv] = opts.netns === undefined ? [bin, args] : ['ip', ['netns', 'exec', opts.netns, bin, ...args]];
    installExitHook();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    const spawned = await new Promise<Error | undefined>((ok) => {
      child.once('spawn', () => ok(undefined));
      child.once('error', (e) => ok(e));
    });
    if (spawned !== undefined) throw new Error(`could not start ${cmd}: ${spawned.message}`, { cause: spawned });
    const peer = new GoPeer(child, opts);
    try {
      await peer.waitFor((s) => s, { timeoutMs: START_TIMEOUT_MS });
    } catch (err) {
      await peer.stop();
      throw err;
    }
    return peer;
  }

  /** Recent stderr of the Go peer (its mesh log). */
  logs(): string {
    return this.stderr;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async status(): Promise<GoStatus> {
    const body = await this.expectOk('GET', '/status');
    // Peer UIDs are uint64 and would lose precision as JS numbers.
    return JSON.parse(body.replace(/"UID":(\d+)/g, '"UID":"$1"')) as GoStatus;
  }

  async set(): Promise<string[]> {
    return JSON.parse(await this.expectOk('GET', '/set')) as string[];
  }

  /** Adds `value` to the peer's `weft-test` set and broadcasts it. */
  async add(value: string): Promise<void> {
    await this.expectOk('POST', `/add?value=${encodeURIComponent(value)}`);
  }

  /** Adds a connection target (host:port) to the peer's connection maker. */
  async connect(addr: string): Promise<void> {
    await this.expectOk('POST', `/connect?peer=${encodeURIComponent(addr)}`);
  }

  /**
   * Polls /status until `pred` returns something other than undefined, null or false, and
   * resolves with it. On timeout or if the process exits, rejects with the last status (or
   * request error) and the recent log.
   */
  waitFor<T>(pred: (status: GoStatus) => T | undefined | null | false, opts: { timeoutMs: number }): Promise<NonNullable<T>> {
    return this.poll(() => this.status(), pred, opts.timeoutMs);
  }

  /** Like waitFor, polling GET /set instead. */
  waitForSet<T>(pred: (set: string[]) => T | undefined | null | false, opts: { timeoutMs: number }): Promise<NonNullable<T>> {
    return this.poll(() => this.set(), pred, opts.timeoutMs);
  }

  private async poll<S, T>(read: () => Promise<S>, pred: (s: S) => T | undefined | null | false, timeoutMs: number): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (true) {
      if (!this.running) throw this.failure(`exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`, last);
      const got = await read().then(
        (value) => ({ ok: true as const, value }),
        (err: unknown) => ({ ok: false as const, reason: err instanceof Error ? err.message : String(err) }),
      );
      if (got.ok) {
        last = JSON.stringify(got.value, null, 1);
        const v = pred(got.value);
        if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>;
      } else {
        last = `request failed: ${got.reason}`;
      }
      if (Date.now() >= deadline) throw this.failure(`condition not met within ${timeoutMs} ms`, last);
      await new Promise((ok) => setTimeout(ok, POLL_INTERVAL_MS));
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.running) return;
      this.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((ok) => (timer = setTimeout(() => ok('timeout'), STOP_GRACE_MS)));
      const outcome = await Promise.race([this.exited, graceOver]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.signal('SIGKILL');
        await this.exited;
      }
    })();
    return this.stopping;
  }

  /** Synchronous SIGKILL for process-exit cleanup. */
  killNow(): void {
    if (this.running) this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // Already gone.
    }
  }

  private failure(what: string, last: string): Error {
    const name = `Go peer ${this.opts.nickname ?? this.opts.name} (pid ${this.pid}, http ${this.opts.httpAddr}${this.opts.netns ? `, netns ${this.opts.netns}` : ''})`;
    return new Error(`${name}: ${what}\nlast status: ${last}\nrecent log:\n${this.stderr.slice(-4000)}`);
  }

  private async expectOk(method: 'GET' | 'POST', path: string): Promise<string> {
    const reply = await this.request(method, path);
    if (reply.status < 200 || reply.status >= 300) {
      throw new Error(`${method} ${path} -> HTTP ${reply.status}: ${reply.body.trim()}`);
    }
    return reply.body;
  }

  private async request(method: string, path: string): Promise<HttpReply> {
    const url = `http://${this.opts.httpAddr}${path}`;
    if (this.opts.netns === undefined) {
      const r = await fetch(url, { method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      return { status: r.status, body: await r.text() };
    }
    const stdout = await new Promise<string>((ok, fail) => {
      execFile(
        'ip',
        ['netns', 'exec', this.opts.netns!, process.execPath, '-e', NETNS_CLIENT, method, url, String(REQUEST_TIMEOUT_MS)],
        { timeout: REQUEST_TIMEOUT_MS * 2 },
        (err, out, errOut) => (err === null ? ok(out) : fail(new Error(`${method} ${url} in netns ${this.opts.netns}: ${errOut || err.message}`))),
      );
    });
    return JSON.parse(stdout) as HttpReply;
  }
}
