// The CNI benchmark: ADD and DEL latency of weft's CNI plugin next to Debian's standard `bridge`
// plugin with `host-local` IPAM, measured in the same run on the same machine.
//
//   <lan>h0 "reference host"                 <lan>h1 "weft host"
//   bridge cnibench0 (made by the bridge      weft router (IPAM 10.47.0.0/24, a ring of its own),
//   plugin), host-local 10.48.0.0/24          bridge weft; the plugin reaches 127.0.0.1:6784
//     └─ veth ══ eth0 in <lan>cN                └─ veth ══ eth0 in <lan>cM
//
//   sequential  N = 100 ADDs per side in blocks of 10, alternating sides (and which goes first)
//               so both share the machine's noise; then the DELs the same way. No new block after
//               25 s of ADDs, so the part stays under ~2 min on a loaded machine
//               (WEFT_BENCH_CNI_BUDGET_S=300 for all 100). A fresh container namespace per sample,
//               made before its block and deleted after the DELs (neither is timed).
//               The weft side reports "not built" until dist/cni/weft-cni.js and setup-cni exist.
//   burst       B ADDs of one side at once, then B DELs at once (wall time and per call).
//   VERSION     the plugin's bare process start (with weft's native forwarder: its start plus a round
//               trip to the router, which answers VERSION); `true` and `node -e 0` through the same
//               launcher as floors.
//   router      POST /cni/add and /cni/del timed by a client inside the weft host (no plugin
//               process), in the same blocks as a third side, and GET /health as the HTTP floor:
//               where weft's ADD spends its time.
//
// Along the way: every ADD result has an address, addresses held at once are distinct, and after
// the DELs no veth is left on either bridge, host-local holds no reservation and weft's IPAM no
// allocation beyond its own. Everything runs in namespaces the harness creates and deletes, also on
// failure; an interrupted run ends the router by PID.
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { errorMessage } from '../lib/errors.js';
import { createLan, waitFor, type Host, type Lan } from '../test/harness/netns.js';
import { WEFT_JS, WeftHost } from '../test/harness/weft.js';
import { ipamAllocations, WEFT_BRIDGE } from '../test/harness/weft-state.js';
import type { IpamStatusJson } from '../ipam/status.js';
import { add, bridgePortsOf, del, floor, removeNetns, routerCalls, version, type Attached, type Plugin } from './cni-exec.js';
import { stats, type Stats } from './ipam-latency.js';

const REF_BIN_DIR = '/usr/lib/cni';
const REF_BRIDGE = 'cnibench0';
const REF_SUBNET = '10.48.0.0/24';
const WEFT_RANGE = '10.47.0.0/24';
const WEFT_CNI_JS = resolve(dirname(WEFT_JS), '../../cni/weft-cni.js');
const BLOCK = 10;
const WARMUP = 3;
const VERSION_SAMPLES = 20;
const FIRST_ADD_MS = 30_000;
const ADD_BUDGET_MS = 25_000;

export interface CniOptions {
  /** Sequential ADDs (then DELs) per side. */
  n?: number;
  /**
   * Time for the sequential ADDs of both sides; past it no new block starts (the DELs take about as
   * long again), so a loaded machine shortens the run instead of stretching `make bench` past ~2 min.
   */
  addBudgetMs?: number;
  /** Calls at once in the burst; 0 skips it. */
  burst?: number;
}

export interface Burst {
  n: number;
  addWallMs: number;
  delWallMs: number;
  add: Stats;
  del: Stats;
}

export interface SideResult {
  label: string;
  /** Why this side was not measured (or stopped); the numbers below are then absent or partial. */
  skipped?: string;
  add?: Stats;
  del?: Stats;
  version?: Stats;
  burst?: Burst;
}

export interface CniBenchResult {
  n: number;
  /** `ip netns exec HOST true`. */
  launcher: Stats;
  /** `ip netns exec HOST node -e 0`: the least a Node plugin's process start can be. */
  nodeStart: Stats;
  /** What setup-cni installed as BIN_DIR/weft: the native forwarder, or the Node plugin (no C compiler). */
  weftKind?: 'native' | 'node';
  reference: SideResult;
  weft: SideResult;
  /** weft's router alone, or why it was not measured. */
  router: { add: Stats; del: Stats; health: Stats } | { skipped: string };
  /** Correctness checks that failed. */
  problems: string[];
}

/**
 * One side while it runs: its plugin once ready (or, for weft's router alone, the host whose router
 * a client inside it calls directly), samples, and the first error that stopped it.
 */
interface Side {
  label: string;
  plugin?: Plugin;
  direct?: Host;
  failed?: string;
  /** GET /health, for the direct side: the HTTP floor. */
  health?: number[];
  add: number[];
  del: number[];
  version: number[];
  burst?: Burst;
  live: Attached[];
}

const newId = (): string => randomBytes(32).toString('hex');

function result(s: Side): SideResult {
  const r: SideResult = { label: s.label };
  if (s.failed !== undefined) r.skipped = s.failed;
  if (s.add.length > 0) r.add = stats(s.add);
  if (s.del.length > 0) r.del = stats(s.del);
  if (s.version.length > 0) r.version = stats(s.version);
  if (s.burst) r.burst = s.burst;
  return r;
}

/** Runs fn for each side still going; a throw stops that side only, with the reason kept. */
async function eachRunner(sides: Side[], fn: (s: Side) => Promise<void>): Promise<void> {
  for (const s of sides) {
    if ((s.plugin === undefined && s.direct === undefined) || s.failed !== undefined) continue;
    try {
      await fn(s);
    } catch (err) {
      s.failed = `failed: ${errorMessage(err)}`;
    }
  }
}

/** eachRunner for the sides with a plugin. */
function eachSide(sides: Side[], fn: (s: Side, p: Plugin) => Promise<void>): Promise<void> {
  return eachRunner(
    sides.filter((s) => s.plugin !== undefined),
    (s) => fn(s, s.plugin!),
  );
}

/** `count` ADDs one after another, each into a fresh namespace; the block's namespaces are made first (untimed). */
async function addBlock(lan: Lan, s: Side, count: number): Promise<void> {
  const namespaces = await Promise.all(Array.from({ length: count }, () => lan.addContainer()));
  if (s.plugin !== undefined) {
    for (const ns of namespaces) {
      const { ms, attached } = await add(s.plugin, ns, newId());
      s.add.push(ms);
      s.live.push(attached);
    }
    return;
  }
  // The router alone: one probe process makes the block's calls.
  const live: Attached[] = namespaces.map((netns) => ({ netns, id: newId(), result: undefined, address: '' }));
  const times = await routerCalls(s.direct!, [
    { method: 'GET', path: '/health' },
    ...live.map((a) => ({ method: 'POST' as const, path: '/cni/add', body: { id: a.id, ifname: 'eth0', netns: `/run/netns/${a.netns.name}` } })),
  ]);
  s.health!.push(times[0]!);
  s.add.push(...times.slice(1));
  s.live.push(...live);
}

/** DELs up to `count` of the side's attached containers; returns their namespaces. */
async function delBlock(s: Side, count: number): Promise<Host[]> {
  const batch = s.live.splice(0, count);
  if (s.plugin !== undefined) {
    for (const a of batch) s.del.push(await del(s.plugin, a));
  } else {
    s.del.push(...(await routerCalls(s.direct!, batch.map((a) => ({ method: 'POST' as const, path: '/cni/del', body: { id: a.id, ifname: 'eth0' } })))));
  }
  return batch.map((a) => a.netns);
}

/** A fresh namespace, ADD, DEL, namespace gone: not counted; the first ADD may wait for readiness. */
async function warmUp(lan: Lan, p: Plugin, firstWaitMs: number): Promise<void> {
  for (let i = 0; i < WARMUP; i++) {
    const ns = await lan.addContainer();
    const id = newId();
    const a =
      i === 0
        ? await waitFor(() => add(p, ns, id).then((x) => x.attached), { timeoutMs: firstWaitMs, intervalMs: 500, what: `${p.label}'s first ADD to succeed` })
        : (await add(p, ns, id)).attached;
    await del(p, a);
    await removeNetns([ns]);
  }
}

function referencePlugin(host: Host, dataDir: string): Plugin | string {
  if (!existsSync(join(REF_BIN_DIR, 'bridge')) || !existsSync(join(REF_BIN_DIR, 'host-local'))) {
    return `${REF_BIN_DIR}/bridge or host-local missing: apt-get install containernetworking-plugins`;
  }
  return {
    label: 'bridge + host-local',
    host,
    bin: join(REF_BIN_DIR, 'bridge'),
    cniPath: REF_BIN_DIR,
    config: {
      cniVersion: '1.0.0',
      name: 'bench-bridge',
      type: 'bridge',
      bridge: REF_BRIDGE,
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: REF_SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
    },
  };
}

/** Launches the router and installs the plugin with `weft setup-cni`; a string says why not. */
async function weftPlugin(w: WeftHost, dir: string): Promise<Plugin | string> {
  if (!existsSync(WEFT_CNI_JS)) return `not built (${WEFT_CNI_JS} is missing: the CNI plugin has not landed, or run make build)`;
  const binDir = join(dir, 'bin');
  const confDir = join(dir, 'net.d');
  const setup = await w.weft(['setup-cni', '--bin-dir', binDir, '--conf-dir', confDir]);
  if (setup.code !== 0) return `not built (weft setup-cni exited ${setup.code}: ${(setup.stderr || setup.stdout).trim().replace(/\s+/g, ' ').slice(0, 300)})`;
  if (!existsSync(join(binDir, 'weft'))) return `not built (weft setup-cni wrote no ${binDir}/weft)`;
  await w.launch(['--ipalloc-range', WEFT_RANGE, '--ipalloc-init', 'consensus=1']);
  const pid = await w.pid();
  if (pid !== undefined) routerPids.add(pid);
  return { label: 'weft', host: w.host, bin: join(binDir, 'weft'), cniPath: `${binDir}:${REF_BIN_DIR}`, config: { cniVersion: '1.0.0', name: 'weft', type: 'weft' } };
}

async function sequential(lan: Lan, sides: Side[], n: number, budgetMs: number, problems: string[]): Promise<void> {
  const t0 = performance.now();
  for (let i = 0, block = 0; i < n && (i === 0 || performance.now() - t0 < budgetMs); i += BLOCK, block++) {
    const order = block % 2 === 0 ? sides : [...sides].reverse();
    await eachRunner(order, (s) => addBlock(lan, s, Math.min(BLOCK, n - i)));
  }
  // All N are attached at once here: their addresses must differ.
  for (const s of sides.filter((s) => s.plugin !== undefined)) {
    const distinct = new Set(s.live.map((a) => a.address)).size;
    if (distinct !== s.live.length) problems.push(`${s.label}: ${s.live.length} containers attached at once hold only ${distinct} distinct addresses`);
  }
  const done: Host[] = [];
  for (let block = 0; sides.some((s) => s.live.length > 0 && s.failed === undefined); block++) {
    const order = block % 2 === 0 ? sides : [...sides].reverse();
    await eachRunner(order, async (s) => void done.push(...(await delBlock(s, BLOCK))));
  }
  // A side that failed keeps what it attached: its namespaces go with the LAN.
  await removeNetns(done);
}

async function burst(lan: Lan, s: Side, p: Plugin, count: number): Promise<void> {
  const namespaces = await Promise.all(Array.from({ length: count }, () => lan.addContainer()));
  let t0 = performance.now();
  const added = await Promise.all(namespaces.map((ns) => add(p, ns, newId())));
  const addWallMs = performance.now() - t0;
  s.live.push(...added.map((a) => a.attached));
  t0 = performance.now();
  const deleted = await Promise.all(s.live.splice(0).map((a) => del(p, a)));
  const delWallMs = performance.now() - t0;
  await removeNetns(namespaces);
  s.burst = { n: count, addWallMs, delWallMs, add: stats(added.map((a) => a.ms)), del: stats(deleted) };
}

async function hostLocalReservations(dataDir: string): Promise<string[]> {
  const dir = join(dataDir, 'bench-bridge');
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
}

// Interrupted (Ctrl-C, a CI timeout), the harness deletes the namespaces and kills what it started,
// but a launched router runs on, detached: end it by PID, and remove the temporary files.
const routerPids = new Set<number>();
const tmpDirs = new Set<string>();

function onSignal(signal: NodeJS.Signals): void {
  for (const pid of routerPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
  process.exitCode = 128 + (osConstants.signals[signal] ?? 0);
  process.exit();
}

/** ADD and DEL latency of both plugins; see the top of this file. */
export async function runCniBench(opts: CniOptions = {}): Promise<CniBenchResult> {
  const n = opts.n ?? 100;
  const burstN = opts.burst ?? 20;
  const problems: string[] = [];
  const tmp = await mkdtemp(join(tmpdir(), 'weft-cni-bench-'));
  tmpDirs.add(tmp);
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  let lan: Lan | undefined;
  let w: WeftHost | undefined;
  try {
    lan = await createLan({ hosts: 2 });
    const [refHost, weftHost] = lan.hosts as [Host, Host];
    w = new WeftHost(weftHost);
    tmpDirs.add(w.dataDir);
    const ref: Side = { label: 'bridge + host-local', add: [], del: [], version: [], live: [] };
    const weft: Side = { label: 'weft', add: [], del: [], version: [], live: [] };
    const router: Side = { label: 'weft router alone', add: [], del: [], version: [], live: [], health: [] };
    const sides = [ref, weft];
    const refDataDir = join(tmp, 'host-local');
    const rp = referencePlugin(refHost, refDataDir);
    if (typeof rp === 'string') ref.failed = rp;
    else ref.plugin = rp;
    const wp = await weftPlugin(w, join(tmp, 'weft')).catch((err: unknown) => `router did not start: ${errorMessage(err)}`);
    let weftKind: CniBenchResult['weftKind'];
    if (typeof wp === 'string') weft.failed = wp;
    else {
      weftKind = existsSync(join(dirname(wp.bin), 'weft-cni.js')) ? 'native' : 'node';
      weft.plugin = wp;
      router.direct = weftHost;
    }

    // The reference's first ADD creates its bridge; weft's may wait for the ring to form.
    await eachSide(sides, (_s, p) => warmUp(lan!, p, p === wp ? FIRST_ADD_MS : 10_000));
    // What is there before the samples stays (weft's vxlan port, the router's own weft:gateway
    // address); anything more afterwards was left behind.
    const baseline = new Map<Side, string[]>();
    await eachSide(sides, async (s, p) => void baseline.set(s, await bridgePortsOf(p.host, s === ref ? REF_BRIDGE : WEFT_BRIDGE)));
    const ipamBefore = weft.plugin !== undefined && weft.failed === undefined ? await ipamAllocations(w) : new Map<string, string>();

    const launcher: number[] = [];
    const nodeStart: number[] = [];
    for (let i = 0; i < VERSION_SAMPLES; i++) {
      launcher.push(await floor(refHost, 'launcher'));
      nodeStart.push(await floor(refHost, 'node'));
      await eachSide(i % 2 === 0 ? sides : [...sides].reverse(), async (s, p) => void s.version.push(await version(p)));
    }

    // The router alone runs in the same blocks, so it shares the plugins' noise too.
    const envBudget = Number(process.env.WEFT_BENCH_CNI_BUDGET_S);
    const budgetMs = opts.addBudgetMs ?? (Number.isFinite(envBudget) && envBudget > 0 ? envBudget * 1000 : ADD_BUDGET_MS);
    await sequential(lan, [ref, weft, router], n, budgetMs, problems);
    if (burstN > 0) await eachSide(sides, (s, p) => burst(lan!, s, p, burstN));


    // Nothing may be left behind by either plugin.
    if (ref.plugin !== undefined) {
      const ports = await bridgePortsOf(refHost, REF_BRIDGE);
      const extra = ports.filter((p) => !baseline.get(ref)?.includes(p));
      if (extra.length > 0) problems.push(`reference: ${extra.length} veth(s) left on ${REF_BRIDGE}: ${extra.join(' ')}`);
      const reserved = await hostLocalReservations(refDataDir);
      if (reserved.length > 0) problems.push(`reference: host-local still reserves ${reserved.join(' ')}`);
    }
    if (weft.plugin !== undefined) {
      const ports = await bridgePortsOf(weftHost, WEFT_BRIDGE);
      const extra = ports.filter((p) => !baseline.get(weft)?.includes(p));
      if (extra.length > 0) problems.push(`weft: ${extra.length} veth(s) left on bridge ${WEFT_BRIDGE}: ${extra.join(' ')}`);
      const ipam = await w.json<IpamStatusJson>(['status', 'ipam']);
      if (ipam.allocations !== ipamBefore.size) {
        const held = [...(await ipamAllocations(w))].filter(([c]) => !ipamBefore.has(c));
        problems.push(`weft: IPAM holds ${ipam.allocations} allocation(s), ${ipamBefore.size} before the samples: ${held.map(([c, ip]) => `${ip} for ${c}`).join(', ')}`);
      }
    }
    for (const s of [ref, weft, router]) if (s.failed !== undefined && (s.plugin ?? s.direct) !== undefined) problems.push(`${s.label}: ${s.failed}`);
    const alone: CniBenchResult['router'] =
      router.add.length > 0 && router.del.length > 0
        ? { add: stats(router.add), del: stats(router.del), health: stats(router.health!) }
        : { skipped: router.failed ?? (weft.plugin === undefined ? 'no weft plugin to compare with' : 'weft stopped first') };
    return { n, launcher: stats(launcher), nodeStart: stats(nodeStart), ...(weftKind && { weftKind }), reference: result(ref), weft: result(weft), router: alone, problems };
  } finally {
    await w?.cleanup().catch(() => undefined);
    await lan?.cleanup();
    await rm(tmp, { recursive: true, force: true });
    for (const sig of signals) process.removeListener(sig, onSignal);
    routerPids.clear();
    tmpDirs.clear();
  }
}

const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '-' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`);
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : `${(a / b).toFixed(2)}×`);

export function formatCni(r: CniBenchResult): string {
  const lines: string[] = [];
  lines.push(`CNI plugin: each call execs the plugin in its host namespace (ip netns exec, env CNI_*, config on stdin), a fresh container namespace per call`);
  const done = Math.min(...[r.reference, r.weft].map((s) => s.add?.n ?? r.n));
  const cut = done < r.n ? ` (of ${r.n}: the time budget ran out)` : '';
  lines.push(`${done} ADDs then ${done} DELs per side${cut}, sequential, blocks of ${BLOCK} alternating sides`);
  lines.push(`${''.padEnd(22)}${'ADD p50'.padEnd(11)}${'ADD p99'.padEnd(11)}${'DEL p50'.padEnd(11)}${'DEL p99'.padEnd(11)}${'VERSION p50'.padEnd(13)}burst: ADD wall / p50, DEL wall / p50`);
  for (const s of [r.reference, r.weft]) {
    if (s.add === undefined && s.skipped !== undefined) {
      lines.push(`${s.label.padEnd(22)}${s.skipped}`);
      continue;
    }
    const b = s.burst;
    const burstText = b ? `${b.n} at once: ${ms(b.addWallMs)} / ${ms(b.add.p50)}, ${ms(b.delWallMs)} / ${ms(b.del.p50)}` : '-';
    lines.push(
      `${s.label.padEnd(22)}${ms(s.add?.p50).padEnd(11)}${ms(s.add?.p99).padEnd(11)}${ms(s.del?.p50).padEnd(11)}${ms(s.del?.p99).padEnd(11)}${ms(s.version?.p50).padEnd(13)}${burstText}`,
    );
    if (s.skipped !== undefined) lines.push(`${''.padEnd(22)}stopped: ${s.skipped}`);
  }
  const f = r.reference;
  const w = r.weft;
  if (w.add !== undefined && f.add !== undefined) {
    const addRatio = w.add.p50 / f.add.p50;
    lines.push(
      `${'weft / reference'.padEnd(22)}${ratio(w.add.p50, f.add.p50).padEnd(11)}${ratio(w.add.p99, f.add.p99).padEnd(11)}${ratio(w.del?.p50, f.del?.p50).padEnd(11)}${ratio(w.del?.p99, f.del?.p99).padEnd(11)}${ratio(w.version?.p50, f.version?.p50).padEnd(13)}${w.burst && f.burst ? `${ratio(w.burst.addWallMs, f.burst.addWallMs)}, ${ratio(w.burst.delWallMs, f.burst.delWallMs)}` : ''}`,
    );
    // A runtime starts the plugin in its own namespace without `ip netns exec`: take the launcher
    // off both sides for the ratio a runtime would see (the stricter of the two, as weft is slower).
    const floor = r.launcher.p50;
    const net = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : ratio(a - floor, b - floor));
    const netAdd = (w.add.p50 - floor) / (f.add.p50 - floor);
    lines.push(`${'  launcher taken off'.padEnd(22)}${net(w.add.p50, f.add.p50).padEnd(11)}${net(w.add.p99, f.add.p99).padEnd(11)}${net(w.del?.p50, f.del?.p50).padEnd(11)}${net(w.del?.p99, f.del?.p99).padEnd(11)}${net(w.version?.p50, f.version?.p50)}`);
    const met = Math.max(addRatio, netAdd) <= 3;
    lines.push(`goal: weft's ADD within 3× of the reference: ${met ? 'met' : 'NOT met'} (p50 ${addRatio.toFixed(2)}× as measured, ${netAdd.toFixed(2)}× without the launcher)`);
  }
  if (r.weftKind !== undefined) lines.push(`weft's plugin as installed by setup-cni: ${r.weftKind === 'native' ? 'the native forwarder (native/weft-cni.c), the Node plugin beside it as its fallback' : 'the Node plugin (the native forwarder is not built: no C compiler)'}`);
  lines.push(`launcher floor (ip netns exec HOST true), in every number above: p50 ${ms(r.launcher.p50)}, p99 ${ms(r.launcher.p99)}; with a bare Node start (node -e 0): p50 ${ms(r.nodeStart.p50)}`);
  if ('skipped' in r.router) {
    lines.push(`weft's router alone: not measured (${r.router.skipped})`);
  } else {
    const ro = r.router;
    lines.push(`weft's router alone (a client in the host, no plugin process): POST /cni/add p50 ${ms(ro.add.p50)} p99 ${ms(ro.add.p99)}, POST /cni/del p50 ${ms(ro.del.p50)} p99 ${ms(ro.del.p99)}, GET /health p50 ${ms(ro.health.p50)}`);
    if (w.add !== undefined && w.version !== undefined) {
      // Medians do not add up exactly; shares of weft's ADD p50 say where the time goes.
      const share = (v: number): string => `${ms(v)} (${((100 * v) / w.add!.p50).toFixed(0)}%)`;
      if (r.weftKind === 'native') {
        lines.push(
          `weft ADD p50 ${ms(w.add.p50)} through the native forwarder (BIN_DIR/weft → POST /cni/exec; no Node start): launcher ${share(r.launcher.p50)}; the router's /cni/add alone ${share(ro.add.p50)}; the rest ${share(Math.max(0, w.add.p50 - r.launcher.p50 - ro.add.p50))} (the forwarder's start and connection, the plugin code run in the router, waiting for a CPU)`,
        );
      } else {
        lines.push(
          `weft ADD p50 ${ms(w.add.p50)}: process start (VERSION) ${share(w.version.p50)} = launcher ${ms(r.launcher.p50)} + Node ${ms(r.nodeStart.p50 - r.launcher.p50)} + loading the plugin ${ms(w.version.p50 - r.nodeStart.p50)}; router round trip ${share(ro.add.p50)}; the rest ${share(Math.max(0, w.add.p50 - w.version.p50 - ro.add.p50))} (the plugin's cold HTTP client and parsing, and waiting for a CPU next to the router)`,
        );
      }
    }
  }
  lines.push(r.problems.length === 0 ? 'checks: every ADD had an address; after the DELs no veth on either bridge, no host-local reservation, weft IPAM holds only what it held before the samples (its own gateway address)' : `CHECKS FAILED:\n  ${r.problems.join('\n  ')}`);
  return lines.join('\n');
}
