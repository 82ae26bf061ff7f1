// `make bench`: every benchmark, printed as a table. Mesh traffic stays on loopback, data-plane
// traffic inside network namespaces the benchmark creates. `node dist/bench/run.js mesh|dataplane|scale|esp|ipam|cni`
// runs one part only.
import { formatCni, runCniBench } from './cni.js';
import { formatDataplane, runDataplaneBench } from './dataplane.js';
import { formatScale, runScaleBench } from './dataplane-scale.js';
import { espBenchUnavailable, formatEspBench, runEspBench } from './esp.js';
import { formatIpam, runIpamBench } from './ipam.js';
import { measureConvergence } from './mesh-convergence.js';
import { formatProcessMesh, measureProcessMesh, type MeshImpl, type ProcessMeshResult } from './mesh-processes.js';
import { formatScale as formatMeshScale, simulateScale } from './mesh-scale.js';
import { simulateConvergence } from './mesh-simulated.js';
import { canUseNetns } from '../test/harness/privileges.js';

function fmtBytes(b: number): string {
  return b > 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`;
}

async function mesh(): Promise<void> {
  const sizes = (process.env.WEFT_BENCH_SIZES ?? '10,50,100').split(',').map(Number);
  console.log('mesh convergence: N in-process routers over loopback TCP, started together as a launch chain');
  console.log('N     topology converged   full mesh      gossip sent per peer   connections per peer');
  for (const n of sizes) {
    const r = await measureConvergence(n);
    console.log(
      `${String(n).padEnd(6)}${(r.convergedMs === undefined ? 'not in 180 s' : `${(r.convergedMs / 1000).toFixed(2)} s`).padEnd(21)}${(r.fullMeshMs === undefined ? '-' : `${(r.fullMeshMs / 1000).toFixed(2)} s`).padEnd(15)}${fmtBytes(r.bytesPerPeer).padEnd(23)}${r.connectionsPerPeer.toFixed(1)}`,
    );
  }
  console.log('\nthe same formation, simulated (in-memory transport, manual clock: the protocol\'s own cost)');
  console.log('N     converged (simulated)   messages per peer   gossip sent per peer');
  for (const n of sizes) {
    const r = await simulateConvergence(n);
    console.log(`${String(n).padEnd(6)}${`${(r.simulatedMs / 1000).toFixed(2)} s`.padEnd(24)}${r.messagesPerPeer.toFixed(0).padEnd(20)}${fmtBytes(r.bytesPerPeer)}`);
  }
  const can = canUseNetns();
  if (!can.ok) console.log(`\nmesh as separate processes: skipped (${can.reason})`);
  else {
    // One router process per host, as users run them, beside the Go mesh peer measured the same way in this run.
    const psizes = (process.env.WEFT_BENCH_PROCESS_SIZES ?? '25,50,100').split(',').map(Number);
    console.log('\nmesh as separate processes (one namespace, loopback addresses), weft against the Go weaveworks/mesh peer');
    const rows: ProcessMeshResult[] = [];
    for (const n of psizes) {
      for (const impl of ['weft', 'go'] as MeshImpl[]) rows.push(await measureProcessMesh(impl, n));
    }
    console.log(formatProcessMesh(rows));
  }
  const ssizes = (process.env.WEFT_BENCH_SCALE_SIZES ?? '250,1000').split(',').map(Number);
  console.log('\nthe real router code at scale: in-memory transport, simulated time, default degree');
  const scaled = [];
  for (const n of ssizes) scaled.push(await simulateScale(n));
  console.log(formatMeshScale(scaled));
  console.log('\nreference (DESIGN.md, measured with Debian\'s Go mesh on these machines): 0.3 s at 10, 1.3 s at 25, 10–25 s at 50, 350 s and 5.6 GB at 100');
}

async function dataplane(): Promise<void> {
  const can = canUseNetns();
  if (!can.ok) {
    console.log(`data plane: skipped (${can.reason})`);
    return;
  }
  const r = await runDataplaneBench();
  console.log(formatDataplane(r));
  if (process.env.WEFT_BENCH_JSON) console.log(JSON.stringify(r, null, 2));
}

/** The data plane at scale (issue 12): probe budget and failover simulated at 1,000 peers, 100,000 endpoints into a namespace. */
async function scale(): Promise<void> {
  const can = canUseNetns();
  if (!can.ok) console.log(`data plane at scale: the install part is skipped (${can.reason})`);
  const r = await runScaleBench({ install: can.ok });
  console.log(formatScale(r));
  if (process.env.WEFT_BENCH_JSON) console.log(JSON.stringify(r, null, 2));
}

async function esp(): Promise<void> {
  const why = espBenchUnavailable();
  if (why !== undefined) {
    console.log(`encrypted data plane: skipped (${why})`);
    return;
  }
  const r = await runEspBench();
  console.log(formatEspBench(r));
  if (process.env.WEFT_BENCH_JSON) console.log(JSON.stringify(r, null, 2));
}

async function ipam(): Promise<void> {
  const r = await runIpamBench();
  console.log(formatIpam(r));
  if (process.env.WEFT_BENCH_JSON) console.log(JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

async function cni(): Promise<void> {
  const can = canUseNetns();
  if (!can.ok) {
    console.log(`CNI plugin: skipped (${can.reason})`);
    return;
  }
  const r = await runCniBench();
  console.log(formatCni(r));
  if (process.env.WEFT_BENCH_JSON) console.log(JSON.stringify(r, null, 2));
  if (r.problems.length > 0) process.exitCode = 1;
}

async function main(): Promise<void> {
  const part = process.argv[2] ?? 'all';
  if (!['all', 'mesh', 'dataplane', 'scale', 'esp', 'ipam', 'cni'].includes(part)) throw new Error(`unknown benchmark ${part}: use mesh, dataplane, scale, esp, ipam, cni or nothing for all`);
  if (part === 'all' || part === 'mesh') await mesh();
  if (part === 'all') console.log('');
  if (part === 'all' || part === 'dataplane') await dataplane();
  if (part === 'all') console.log('');
  if (part === 'all' || part === 'scale') await scale();
  if (part === 'all') console.log('');
  if (part === 'all' || part === 'esp') await esp();
  if (part === 'all') console.log('');
  if (part === 'all' || part === 'ipam') await ipam();
  if (part === 'all') console.log('');
  if (part === 'all' || part === 'cni') await cni();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
