// Runs inside the VM (test/vm/engines-vm.test.ts): two weft hosts in network namespaces on Debian's
// stock kernel, h0 with the kernel engine (xfrm), h1 with the user-space engine, a container on
// each; they must ping each other both ways. Prints one `ENGINES-PROBE {json}` line.
import { createLan, waitFor, type Host } from '../harness/netns.js';
import { WeftHost } from '../harness/weft.js';
import type { DataplaneStatus, PathStatus } from '../../router/status.js';

export interface EnginesReport {
  engines: (string | null)[];
  ciphers: (string | null)[];
  pingKernelToUser: boolean;
  pingUserToKernel: boolean;
  /** The same after h1 restarts offering only ChaCha20-Poly1305. */
  chacha: { ciphers: (string | null)[]; pingKernelToUser: boolean; pingUserToKernel: boolean };
  cleartextDropped: unknown[];
  error?: string;
  logs?: string;
}

const SEEDS = ['--ipalloc-init', 'seed=02:00:00:00:00:01,02:00:00:00:00:02'];

async function main(): Promise<void> {
  const report: EnginesReport = {
    engines: [], ciphers: [], pingKernelToUser: false, pingUserToKernel: false, chacha: { ciphers: [], pingKernelToUser: false, pingUserToKernel: false }, cleartextDropped: [],
  };
  const lan = await createLan({ hosts: 2 });
  const hosts = lan.hosts.map((h) => new WeftHost(h));
  try {
    const env = { WEFT_PASSWORD: 'vm-interop' };
    await hosts[0]!.launch(['--name', '02:00:00:00:00:01', ...SEEDS, '--esp-engine', 'kernel'], env);
    await hosts[1]!.launch(['--name', '02:00:00:00:00:02', ...SEEDS, '--esp-engine', 'user', lan.hosts[0]!.addr], env);
    const containers: { ns: Host; ip: string }[] = [];
    for (const h of hosts) {
      const ns = await lan.addContainer();
      const r = await h.weft(['attach', ns.name]);
      if (r.code !== 0) throw new Error(`attach: ${r.stderr}`);
      const a = (await ns.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
      containers.push({ ns, ip: /inet (\S+)\//.exec(a)![1]! });
    }
    const ping = async (a: number, b: number): Promise<boolean> =>
      (await containers[a]!.ns.exec('ping', ['-c', '1', '-W', '2', containers[b]!.ip], { timeoutMs: 15_000 })).code === 0;
    report.pingKernelToUser = await waitFor(() => ping(0, 1), { timeoutMs: 90_000, intervalMs: 1000, what: 'kernel → user ping' }).then(() => true, () => false);
    report.pingUserToKernel = await ping(1, 0);
    for (const h of hosts) {
      const s = await h.json<{ paths: PathStatus[]; dataplane: DataplaneStatus }>(['status', 'connections']);
      report.engines.push(s.paths[0]?.encryption?.engine ?? null);
      report.ciphers.push(s.paths[0]?.encryption?.cipher ?? null);
      report.cleartextDropped.push(s.dataplane.encryption?.cleartextDropped ?? null);
    }
    await hosts[1]!.stop();
    await hosts[1]!.launch(['--name', '02:00:00:00:00:02', ...SEEDS, '--esp-engine', 'user', '--esp-cipher', 'chacha20-poly1305', lan.hosts[0]!.addr], env);
    const cipherOf = async (h: number): Promise<string | null> => (await hosts[h]!.json<{ paths: PathStatus[] }>(['status', 'connections'])).paths[0]?.encryption?.cipher ?? null;
    await waitFor(async () => (await cipherOf(0)) === 'chacha20-poly1305' && (await cipherOf(1)) === 'chacha20-poly1305', { timeoutMs: 60_000, intervalMs: 1000, what: 'ChaCha20-Poly1305 keys' }).catch(() => undefined);
    report.chacha.ciphers = [await cipherOf(0), await cipherOf(1)];
    report.chacha.pingKernelToUser = await waitFor(() => ping(0, 1), { timeoutMs: 60_000, intervalMs: 1000, what: 'kernel → user ping (ChaCha)' }).then(() => true, () => false);
    report.chacha.pingUserToKernel = await ping(1, 0);
  } catch (err) {
    report.error = String(err);
  } finally {
    if (!report.pingKernelToUser || !report.pingUserToKernel || !report.chacha.pingKernelToUser || report.error) {
      const { readFileSync } = await import('node:fs');
      report.logs = hosts.map((h) => { try { return readFileSync(`${h.dataDir}/weft.log`, 'utf8').split('\n').filter((l) => /"level":(40|50)|ESP/.test(l)).slice(-12).join('\n'); } catch { return ''; } }).join('\n---\n');
    }
    for (const h of hosts) await h.cleanup().catch(() => undefined);
    await lan.cleanup().catch(() => undefined);
  }
  console.log(`ENGINES-PROBE ${JSON.stringify(report)}`);
}

await main();
