// The mesh as a new operator's cluster starts: N separate router processes started at once on
// loopback addresses 127.0.1.1 … 127.0.1.N of one network namespace the benchmark creates, each
// told its predecessor and one random earlier peer. The same run measures weft
// (`weft router --no-dataplane`) and the Go weaveworks/mesh peer (test/interop/gopeer), so the
// ratios compare like with like on the same machine at the same moment.
//
//   converged   every router lists N peers and has a route to the N−1 others
//   CPU         user + system time of all router processes (/proc/PID/stat), start to converged
//   bytes       TCP payload + headers on port 6783 inside the namespace (an nft counter)
//   RSS         mean resident set per router at convergence
//   settle      CPU of all routers over the 30 s after convergence (the last updates spread, the
//               connection maker stops, V8 collects and shrinks its heap after the burst)
//   idle        CPU of all routers over the 30 s after that, nobody asking them anything
//   kill        one middle router killed with SIGKILL: until no router has a route to it
//   restart     the same router (same name) started again: until every router has a route to it
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLan, type Lan } from '../test/harness/netns.js';
import { WEFT_JS } from '../test/harness/weft.js';
import { buildGoPeer } from '../test/harness/gopeer.js';

export type MeshImpl = 'weft' | 'go';

export interface ProcessMeshResult {
  impl: MeshImpl;
  n: number;
  /** undefined: not converged within the limit. */
  convergedMs: number | undefined;
  cpuSeconds: number;
  /** CPU-s of one router, start to converged: the busiest, the median and the least busy. */
  cpuSpread: { max: number; median: number; min: number };
  bytes: number;
  rssMiB: number;
  /** The first idleMs after convergence. */
  settleCpuSeconds: number;
  /** The idleMs after that: the mesh at rest. */
  idleCpuSeconds: number;
  /** One router's CPU from exec to its API answering. */
  startCpuSeconds: number;
  goneMs: number | undefined;
  backMs: number | undefined;
  /** Connections per router at convergence (mean). */
  degree: number;
}

export interface ProcessMeshOptions {
  timeoutMs?: number;
  connLimit?: number;
  idleMs?: number;
  /** Extra `weft router` arguments. */
  weftArgs?: string[];
  seed?: number;
  log?: (line: string) => void;
}

const PORT = 6783;
const API_PORT = 6784;
const POLL_MS = 1_000;
const CLK_TCK = 100;

interface Router {
  index: number;
  name: string;
  host: string;
  args: { cmd: string; argv: string[] };
  proc: Proc;
  /** CPU ticks of earlier incarnations (a restarted router). */
  ticksBefore: number;
}

function peerName(i: number): string {
  const hex = (0x0e0000000000 + i).toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function procTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function procRssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** What one router reports: the peers it knows and those it has a route to. */
interface View {
  peers: Set<string>;
  routed: Set<string>;
  connections: number;
}

async function fetchJson(url: string, timeoutMs = 5_000): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

async function viewOf(impl: MeshImpl, r: Router): Promise<View | undefined> {
  try {
    if (impl === 'weft') {
      const peers = (await fetchJson(`http://${r.host}:${API_PORT}/status/peers`)) as { name: string; self: boolean; via: string | null; connections: unknown[] }[];
      const self = peers.find((p) => p.self);
      return {
        peers: new Set(peers.map((p) => p.name)),
        routed: new Set(peers.filter((p) => !p.self && p.via !== null).map((p) => p.name)),
        connections: self?.connections.length ?? 0,
      };
    }
    const s = (await fetchJson(`http://${r.host}:${API_PORT}/status`)) as { Name: string; Peers: { Name: string; Connections: unknown[] | null }[] | null; UnicastRoutes: { Dest: string; Via: string }[] | null };
    const routed = new Set<string>();
    for (const { Dest, Via } of s.UnicastRoutes ?? []) if (Dest !== s.Name && Via !== '00:00:00:00:00:00') routed.add(Dest);
    return {
      peers: new Set((s.Peers ?? []).map((p) => p.Name)),
      routed,
      connections: (s.Peers ?? []).find((p) => p.Name === s.Name)?.Connections?.length ?? 0,
    };
  } catch {
    return undefined;
  }
}

/**
 * A weft router's summary (GET /status: counts, a few hundred bytes) says whether its full view
 * is worth fetching: /status/peers is ~135 KB at N=100 and costs the router ~2.5 ms to serve,
 * which polling every router every POLL_MS while the mesh forms added up to ~3 CPU-s of the
 * measurement. The Go peer has only its full status.
 */
async function mayHaveConverged(impl: MeshImpl, r: Router, n: number): Promise<boolean> {
  if (impl !== 'weft') return true;
  try {
    const s = (await fetchJson(`http://${r.host}:${API_PORT}/status`)) as { peers: number; reachable: number };
    return s.peers === n && s.reachable === n - 1;
  } catch {
    return false;
  }
}

/** WEFT_BENCH_LOG_DIR: each router's output goes to DIR/N.log as well. */
function logFileOf(i: number): string | undefined {
  const dir = process.env.WEFT_BENCH_LOG_DIR;
  return dir ? join(dir, `${i}.log`) : undefined;
}

/**
 * A router process of the inner run; signalled only while running. It stays in the inner run's
 * process group, so whatever ends that group (the harness's exit hook SIGKILLs it when the outer
 * run is interrupted) ends the routers too: in their own groups, an interrupted run left 100
 * routers running.
 */
class Proc {
  readonly child: ChildProcess;
  running = true;
  private tail = '';
  readonly exited: Promise<void>;
  constructor(cmd: string, argv: string[], logFile?: string) {
    this.child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      this.tail = (this.tail + b.toString()).slice(-4000);
      if (logFile) appendFileSync(logFile, b);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((res) => this.child.once('exit', () => { this.running = false; res(); }));
  }
  get pid(): number {
    return this.child.pid!;
  }
  output(): string {
    return this.tail;
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) process.kill(this.pid, signal);
  }
  // A profiled router (WEFT_BENCH_NODE_ARGS) needs time to write its profile on SIGTERM.
  async stop(graceMs = process.env.WEFT_BENCH_NODE_ARGS ? 60_000 : 2_000): Promise<void> {
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

function meshBytes(): number {
  const out = execFileSync('nft', ['list', 'counter', 'inet', 'weftbench', 'mesh'], { encoding: 'utf8' });
  return Number(/bytes (\d+)/.exec(out)?.[1] ?? 0);
}

function routerArgs(impl: MeshImpl, gopeer: string, i: number, peers: string[], o: Required<ProcessMeshOptions>, dataRoot: string): Router['args'] {
  const addr = `127.0.1.${i}`;
  if (impl === 'weft') {
    return {
      cmd: process.execPath,
      argv: [
        // WEFT_BENCH_NODE_ARGS: Node flags for every weft router, e.g. `--cpu-prof --cpu-prof-dir=DIR`
        // (WEFT_BENCH_NODE_ARGS_FOR=7: only for router 7, so the others run unobserved).
        ...(process.env.WEFT_BENCH_NODE_ARGS_FOR === undefined || process.env.WEFT_BENCH_NODE_ARGS_FOR === String(i) ? (process.env.WEFT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean) : []),
        // WEFT_BENCH_WEFT_JS: another entry point, e.g. dist/src/bin/weft.js (readable names in profiles).
        process.env.WEFT_BENCH_WEFT_JS ?? WEFT_JS,
        '--http-addr', `${addr}:${API_PORT}`,
        'router', '--no-dataplane',
        '--host', addr, '--port', String(PORT),
        '--name', peerName(i), '--nickname', `b${i}`,
        '--conn-limit', String(o.connLimit),
        '--data-dir', join(dataRoot, String(i)),
        ...o.weftArgs,
        '--', ...peers,
      ],
    };
  }
  return {
    cmd: gopeer,
    argv: ['-name', peerName(i), '-nickname', `b${i}`, '-mesh', `${addr}:${PORT}`, '-http', `${addr}:${API_PORT}`, '-conn-limit', String(o.connLimit), ...peers.flatMap((p) => ['-peer', p])],
  };
}

/** One router's start-up cost: CPU from exec until its API answers. */
async function measureStart(impl: MeshImpl, gopeer: string, o: Required<ProcessMeshOptions>, dataRoot: string): Promise<number> {
  const args = routerArgs(impl, gopeer, 250, [], o, dataRoot);
  const proc = new Proc(args.cmd, args.argv);
  try {
    const r: Router = { index: 250, name: peerName(250), host: '127.0.1.250', args, proc, ticksBefore: 0 };
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && proc.running && (await viewOf(impl, r)) === undefined) await new Promise((res) => setTimeout(res, 20));
    return procTicks(proc.pid) / CLK_TCK;
  } finally {
    await proc.stop();
  }
}

/**
 * Runs the scenario in a namespace of its own: this process sets it up and runs the measuring
 * part inside it (`ip netns exec`), so the routers, their HTTP APIs and the polling all stay in
 * that namespace's loopback.
 */
export async function measureProcessMesh(impl: MeshImpl, n: number, opts: ProcessMeshOptions = {}): Promise<ProcessMeshResult> {
  if (n < 3 || n > 240) throw new Error('N must be between 3 and 240');
  const timeoutMs = opts.timeoutMs ?? 600_000;
  if (impl === 'go') await buildGoPeer();
  let lan: Lan | undefined;
  try {
    lan = await createLan({ hosts: 1 });
    const host = lan.hosts[0]!;
    const { log, ...plain } = opts;
    const child = host.spawn(process.execPath, [fileURLToPath(import.meta.url), 'inner', impl, String(n), JSON.stringify(plain)]);
    const progress = setInterval(() => {
      const lines = child.stderr().trim().split('\n');
      if (log && lines.length > 0) log(lines[lines.length - 1]!);
    }, 10_000);
    const killer = setTimeout(() => child.kill('SIGTERM'), timeoutMs + 400_000);
    const exit = await child.exited;
    clearInterval(progress);
    clearTimeout(killer);
    if (exit.code !== 0) throw new Error(`the ${impl} run at N=${n} failed (${exit.code}):\n${child.output().slice(-3000)}`);
    const line = child.stdout().trim().split('\n').pop() ?? '';
    return JSON.parse(line) as ProcessMeshResult;
  } finally {
    await lan?.cleanup();
  }
}

async function inner(impl: MeshImpl, n: number, opts: ProcessMeshOptions): Promise<ProcessMeshResult> {
  const o: Required<ProcessMeshOptions> = {
    timeoutMs: 600_000,
    connLimit: 64,
    idleMs: 30_000,
    // WEFT_BENCH_WEFT_ARGS: extra `weft router` arguments, e.g. `--log-level debug`.
    weftArgs: (process.env.WEFT_BENCH_WEFT_ARGS ?? '').split(' ').filter(Boolean),
    seed: 1,
    log: (l) => console.error(l),
    ...opts,
  };
  const gopeer = impl === 'go' ? await buildGoPeer() : '';
  const dataRoot = mkdtempSync(join(tmpdir(), 'weft-meshbench-'));
  const routers: Router[] = [];
  const stopAll = (): void => routers.forEach((r) => r.proc.kill('SIGKILL'));
  // However this process ends (SIGTERM, an exception, a broken pipe), its routers end with it; and
  // if the outer run is killed without telling us (its pipes then lead nowhere), we end too.
  process.once('exit', stopAll);
  process.once('SIGTERM', () => process.exit(143));
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      stopAll();
      process.exit(1);
    }
  }, 1_000).unref();
  try {
    execFileSync('nft', ['-f', '-'], { input: 'table inet weftbench {\n counter mesh {}\n chain out { type filter hook output priority 0; tcp dport 6783 counter name mesh; tcp sport 6783 counter name mesh; }\n}\n' });
    const startCpuSeconds = await measureStart(impl, gopeer, o, dataRoot);
    execFileSync('nft', ['reset', 'counters', 'table', 'inet', 'weftbench']);
    const random = lcg(o.seed);
    const t0 = performance.now();
    for (let i = 1; i <= n; i++) {
      const peers: string[] = [];
      if (i > 1) peers.push(`127.0.1.${i - 1}:${PORT}`);
      if (i > 2) {
        const j = 1 + Math.floor(random() * (i - 2));
        peers.push(`127.0.1.${j}:${PORT}`);
      }
      const args = routerArgs(impl, gopeer, i, peers, o, dataRoot);
      routers.push({ index: i, name: peerName(i), host: `127.0.1.${i}`, args, proc: new Proc(args.cmd, args.argv, logFileOf(i)), ticksBefore: 0 });
    }
    const all = new Set(routers.map((r) => r.name));
    const converged = (v: View | undefined): boolean => v !== undefined && v.peers.size === all.size && [...all].every((x) => v.peers.has(x)) && v.routed.size === all.size - 1;
    const cpuTicks = (): number => routers.reduce((s, r) => s + r.ticksBefore + procTicks(r.proc.pid), 0);

    // Converged: every router's view once complete, then one sweep in which all still are.
    let convergedMs: number | undefined;
    let degree = 0;
    const done = new Set<Router>();
    const deadline = t0 + o.timeoutMs;
    while (performance.now() < deadline) {
      for (const r of routers) {
        if (!done.has(r) && (await mayHaveConverged(impl, r, n)) && converged(await viewOf(impl, r))) done.add(r);
      }
      if (done.size === routers.length) {
        const at = performance.now();
        const views = await Promise.all(routers.map((r) => viewOf(impl, r)));
        if (views.every((v) => converged(v))) {
          convergedMs = at - t0;
          degree = views.reduce((s, v) => s + (v?.connections ?? 0), 0) / n;
          break;
        }
        done.clear();
      }
      const dead = routers.find((r) => !r.proc.running);
      if (dead) throw new Error(`${impl} router ${dead.index} exited:\n${dead.proc.output()}`);
      o.log(`${impl} N=${n}: ${done.size}/${n} converged after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
    const cpuSeconds = cpuTicks() / CLK_TCK;
    // Where the CPU went: spread evenly, or carried by a few routers (the first ones, that everyone dials)?
    const per = routers.map((r) => (r.ticksBefore + procTicks(r.proc.pid)) / CLK_TCK).sort((a, b) => b - a);
    const cpuSpread = { max: per[0]!, median: per[Math.floor(n / 2)]!, min: per[n - 1]! };
    const bytes = meshBytes();
    const rssMiB = routers.reduce((s, r) => s + procRssKiB(r.proc.pid), 0) / n / 1024;
    const result: ProcessMeshResult = { impl, n, convergedMs, cpuSeconds, cpuSpread, bytes, rssMiB, settleCpuSeconds: NaN, idleCpuSeconds: NaN, startCpuSeconds, goneMs: undefined, backMs: undefined, degree };
    if (convergedMs === undefined) return result;

    const settleFrom = cpuTicks();
    await new Promise((res) => setTimeout(res, o.idleMs));
    const idleFrom = cpuTicks();
    result.settleCpuSeconds = (idleFrom - settleFrom) / CLK_TCK;
    await new Promise((res) => setTimeout(res, o.idleMs));
    result.idleCpuSeconds = (cpuTicks() - idleFrom) / CLK_TCK;

    // Kill a middle router, wait until nobody routes to it, start it again.
    const victim = routers[Math.floor(n / 2)]!;
    const others = routers.filter((r) => r !== victim);
    victim.ticksBefore += procTicks(victim.proc.pid);
    const killedAt = performance.now();
    victim.proc.kill('SIGKILL');
    while (performance.now() - killedAt < 120_000) {
      const views = await Promise.all(others.map((r) => viewOf(impl, r)));
      if (views.every((v) => v !== undefined && !v.routed.has(victim.name))) {
        result.goneMs = performance.now() - killedAt;
        break;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    await victim.proc.exited;
    const restartedAt = performance.now();
    victim.proc = new Proc(victim.args.cmd, victim.args.argv, logFileOf(victim.index));
    while (performance.now() - restartedAt < 120_000) {
      const views = await Promise.all(others.map((r) => viewOf(impl, r)));
      if (views.every((v) => v !== undefined && v.routed.has(victim.name))) {
        result.backMs = performance.now() - restartedAt;
        break;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    return result;
  } finally {
    await Promise.all(routers.map((r) => r.proc.stop()));
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

function fmtS(ms: number | undefined, limit = 'not'): string {
  return ms === undefined ? limit : `${(ms / 1000).toFixed(1)} s`;
}

function cpu(s: number | undefined): string {
  return typeof s !== 'number' || Number.isNaN(s) ? '-' : s.toFixed(2);
}

export function formatProcessMesh(rows: ProcessMeshResult[]): string {
  const lines = [
    'impl  N    converged   CPU-s    mesh bytes   RSS/router  settle CPU-s/30s  idle CPU-s/30s  start CPU-s  degree  killed gone  back after restart',
  ];
  for (const r of rows) {
    lines.push(
      `${r.impl.padEnd(6)}${String(r.n).padEnd(5)}${fmtS(r.convergedMs).padEnd(12)}${r.cpuSeconds.toFixed(1).padEnd(9)}${`${(r.bytes / 1e6).toFixed(1)} MB`.padEnd(13)}${`${r.rssMiB.toFixed(0)} MiB`.padEnd(12)}${cpu(r.settleCpuSeconds).padEnd(18)}${cpu(r.idleCpuSeconds).padEnd(16)}${r.startCpuSeconds.toFixed(2).padEnd(13)}${r.degree.toFixed(1).padEnd(8)}${fmtS(r.goneMs, '-').padEnd(13)}${fmtS(r.backMs, '-')}`,
    );
  }
  for (const r of rows) {
    if (r.cpuSpread) lines.push(`${r.impl} N=${r.n}: CPU-s per router to convergence: max ${r.cpuSpread.max.toFixed(2)}, median ${r.cpuSpread.median.toFixed(2)}, min ${r.cpuSpread.min.toFixed(2)}`);
  }
  const byN = new Map<number, Partial<Record<MeshImpl, ProcessMeshResult>>>();
  for (const r of rows) byN.set(r.n, { ...byN.get(r.n), [r.impl]: r });
  const x = (a: number, b: number): string => `${(a / Math.max(b, 1e-9)).toFixed(1)}×`;
  for (const [n, p] of byN) {
    const { weft, go } = p;
    if (!weft || !go || weft.convergedMs === undefined) continue;
    // Ratios above 1 favour weft; "the Go mesh's time", not "0.7× faster", when it does not.
    const time =
      go.convergedMs === undefined
        ? `converges in ${fmtS(weft.convergedMs)} and the Go mesh not within the limit (${go.cpuSeconds.toFixed(0)} CPU-s and ${(go.bytes / 1e9).toFixed(1)} GB by then)`
        : go.convergedMs >= weft.convergedMs
          ? `converges ${x(go.convergedMs, weft.convergedMs)} faster`
          : `converges in ${x(weft.convergedMs, go.convergedMs)} the Go mesh's time`;
    const cpu = go.cpuSeconds >= weft.cpuSeconds ? `${x(go.cpuSeconds, weft.cpuSeconds)} less CPU` : `${x(weft.cpuSeconds, go.cpuSeconds)} the Go mesh's CPU`;
    lines.push(`N=${n}: weft ${time}, with ${cpu} and ${x(go.bytes, weft.bytes)} fewer bytes; RSS ${x(weft.rssMiB, go.rssMiB)} the Go mesh's`);
  }
  return lines.join('\n');
}

// `node dist/bench/mesh-processes.js weft|go N [N …]`: one implementation, quick look.
// `… inner IMPL N OPTIONS_JSON`: the measuring part, run inside the namespace by measureProcessMesh.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === 'inner') {
    const r = await inner(process.argv[3] as MeshImpl, Number(process.argv[4]), JSON.parse(process.argv[5] ?? '{}') as ProcessMeshOptions);
    console.log(JSON.stringify(r));
  } else {
    const impl = (process.argv[2] ?? 'weft') as MeshImpl;
    const sizes = process.argv.slice(3).map(Number);
    const rows: ProcessMeshResult[] = [];
    for (const n of sizes.length ? sizes : [25]) {
      rows.push(await measureProcessMesh(impl, n, { log: (l) => console.error(l), idleMs: Number(process.env.WEFT_BENCH_IDLE_MS ?? 30_000), timeoutMs: Number(process.env.WEFT_BENCH_TIMEOUT_MS ?? 600_000) }));
    }
    console.log(formatProcessMesh(rows));
  }
}
