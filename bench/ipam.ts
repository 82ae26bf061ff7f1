// The IPAM benchmark: allocation latency on a real 3-router mesh over loopback, and the time
// until 100 and 1,000 peers started at once all have a usable ring (simulated). See
// ipam-latency.ts, ipam-simulated.ts and ipam-memory-mesh.ts for what each run does.
import { measureAllocationLatency, type LatencyResult, type Stats } from './ipam-latency.js';
import { meshFormation, type MeshFormationResult } from './ipam-memory-mesh.js';
import { simulateFormation, type FormationOptions, type FormationResult } from './ipam-simulated.js';

export interface FormationRun extends FormationResult {
  label: string;
  note?: string;
}

export interface IpamBenchResult {
  latency: LatencyResult;
  formation: FormationRun[];
  overMesh: MeshFormationResult;
}

const REPORT_DEFERRED = 'free-count reports every 10 s instead of 1 s, so their N(N−1) broadcast wave stays out of the window';

export async function runIpamBench(): Promise<IpamBenchResult> {
  const latency = await measureAllocationLatency();
  const formation: FormationRun[] = [];
  const run = async (label: string, n: number, mode: 'seed' | 'consensus', loss: number, opts: FormationOptions = {}, note?: string): Promise<void> => {
    formation.push({ label, ...(note ? { note } : {}), ...(await simulateFormation(n, mode, loss, opts)) });
  };
  for (const n of [100, 1000]) {
    await run('seed', n, 'seed', 0);
    await run('consensus', n, 'consensus', 0);
    if (n === 100) await run('consensus, 5% loss', n, 'consensus', 0.05);
    else await run('consensus, 5% loss', n, 'consensus', 0.05, { reportFreeMs: 10_000 }, REPORT_DEFERRED);
  }
  for (const n of [100, 1000]) {
    await run('consensus, only the highest-named peer allocates', n, 'consensus', 0, { allocating: 'highest', stepMs: 10, maxMs: 2 * n * 1000 + 60_000 });
  }
  const overMesh = await meshFormation(100);
  return { latency, formation, overMesh };
}

const ms = (x: number | undefined, digits = 1): string => (x === undefined ? '-' : `${x.toFixed(digits)} ms`);
const secs = (x: number | undefined): string => (x === undefined ? '-' : x >= 10_000 ? `${(x / 1000).toFixed(0)} s` : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);
const size = (b: number): string => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
const row = (cells: string[], widths: number[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('').trimEnd();
const pct = (part: number, whole: number): string => `${Math.round((100 * part) / whole)}%`;

function latencyTable(l: LatencyResult): string {
  const w = [58, 12, 12, 0];
  const s = (x: Stats): [string, string] => [ms(x.p50, 2), ms(x.p99, 2)];
  const lines = [
    `allocation latency: 3 routers over loopback TCP, FileIpamStore in ${l.dir.replace(/weft-ipam-bench-.*$/, '')} (every save: write, fsync, rename, fsync dir), consensus, quorum 2`,
    row(['', 'p50', 'p99', 'notes'], w),
    row(['first allocation, fresh mesh, on the lowest-named peer', ms(l.firstOnLowestMs), '', 'Paxos bootstrap (it proposes at once) + save'], w),
    row(['first allocation, fresh mesh, on the highest-named peer', ms(l.firstOnHighestMs), '', 'its query wakes the lowest-named peer, which proposes'], w),
    row(['steady state, 1,000 sequential allocations, one peer', ...s(l.sequential), `mean ${ms(l.sequential.mean, 2)}`], w),
    row(['  of which the allocator\'s saves', ...s(l.sequentialSaves), `${pct(l.sequentialSaves.mean * l.sequentialSaves.n, l.sequential.mean * l.sequential.n)} of the time is the disk`], w),
    row(['FileIpamStore.save alone, same state', ...s(l.saveAlone), `${size(l.saveAlone.stateBytes)} of JSON: the state after the runs above`], w),
    row([`100 concurrent allocations, one peer`, ms(l.concurrent.wallMs), '', `${Math.round(l.concurrent.perSecond).toLocaleString('en')}/s: ${l.concurrent.saves} save(s) shared by all 100`], w),
    row(['allocation that gets space from another peer first (/24)', ...s(l.withDonation), `${l.withDonation.n} runs, ${l.donationSavesPerAlloc.toFixed(1)} saves each (donor and requester)`], w),
  ];
  return lines.join('\n');
}

function formationTable(runs: FormationRun[]): string {
  const w = [7, 50, 14, 12, 22, 12, 0];
  const lines = [
    'ring formation: N allocators started at once, everyone knows everyone, in-memory gossip fabric, 1–3 ms per message, simulated time',
    row(['N', 'mode', 'all can alloc', 'median peer', 'messages (cons./ring)', 'bytes', 'real time'], w),
  ];
  const notes: string[] = [];
  for (const r of runs) {
    let cons = 0;
    let ring = 0;
    for (const [k, v] of Object.entries(r.byKind)) {
      if (k.startsWith('consensus')) cons += v.messages;
      else ring += v.messages;
    }
    let mark = '';
    if (r.note) {
      notes.push(r.note);
      mark = ` [${notes.length}]`;
    }
    const all = r.simulatedMs !== undefined ? secs(r.simulatedMs) : r.readyMs !== undefined ? `ring at ${secs(r.readyMs)}` : 'never';
    const failed = r.failed > 0 ? `, ${r.failed} allocate() failed (no ring after 30 s)` : '';
    lines.push(row([String(r.n), `${r.label}${mark}`, all, secs(r.medianMs), `${r.messages} (${cons}/${ring})`, size(r.bytes), `${secs(r.realMs)} (+${secs(r.setupMs)} setup)${failed}`], w));
  }
  notes.forEach((n, i) => lines.push(`[${i + 1}] ${n}`));
  lines.push('messages: every delivery the fabric attempted (a broadcast counts once per receiver), lost ones included; bytes: IPAM payload only');
  return lines.join('\n');
}

export function formatIpam(r: IpamBenchResult): string {
  const m = r.overMesh;
  return [
    latencyTable(r.latency),
    '',
    formationTable(r.formation),
    '',
    `over real MeshRouters (memory transport, N=${m.n}, consensus): every peer allocated after ${secs(m.simulatedMs)} simulated${m.failed ? ` (${m.failed} failed)` : ''} (the memory transport has no latency), ${size(m.bytes)} of mesh traffic, ${secs(m.realMs)} real; mesh formation itself took ${secs(m.meshMs)} simulated.`,
    'N=1,000 over MemoryMesh is not run: the mesh alone takes > 100 s real time to form 200 routers in one process (bench/mesh-simulated.ts), far past the budget.',
  ].join('\n');
}
