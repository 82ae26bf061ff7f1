// The namespace setups the data-plane benchmark measures, each one container per host:
//
//   weft:       h0 ◄── h1 (◄── h2 …)   `weft launch` chain on one harness LAN, containers attached
//               with `weft attach 10.32.<h>.1/12`, waited for until every path is direct.
//   reference:  h0 ═══ h1              hand-made kernel VXLAN on another LAN: vx0 (VNI 42, UDP 4789,
//               nolearning) in bridge br-ref, a veth to the container (10.40.0.<h+1>/24), and one
//               all-zero FDB entry per host towards the other (ARP by flooding).
//
// Router PIDs and data dirs are also remembered here so that an interrupted run (SIGINT/SIGTERM)
// kills the routers by PID and removes their dirs; the harness's own exit hook deletes the namespaces.
import { rmSync } from 'node:fs';
import { createLan, waitFor, type Host, type Lan } from '../test/harness/netns.js';
import { WeftHost } from '../test/harness/weft.js';
import type { PathStatus } from '../router/status.js';

/** One container per host of a LAN, reachable from the others at `ips[i]`. */
export interface Testbed {
  readonly label: string;
  readonly lan: Lan;
  readonly containers: Host[];
  readonly ips: string[];
  /** Overlay MTU of the containers' interfaces. */
  readonly mtu: number;
  /** Ends every process started for it and deletes its namespaces. Safe to repeat. */
  cleanup(): Promise<void>;
}

export interface WeftTestbed extends Testbed {
  readonly routers: WeftHost[];
  /** The routers' PIDs (for CPU accounting). */
  readonly pids: number[];
  /** The ESP cipher of host 0's first path; null without a password. */
  readonly cipher: string | null;
  paths(h: number): Promise<PathStatus[]>;
}

const routerPids = new Set<number>();
const dataDirs = new Set<string>();
let hooked = false;

function killRouters(): void {
  for (const pid of routerPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  routerPids.clear();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  dataDirs.clear();
}

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killRouters);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      killRouters();
      // 'exit' runs the harness's own hook, which deletes the namespaces.
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

async function ipBatch(host: Host, lines: string[]): Promise<void> {
  const r = await host.exec('ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
  if (r.code !== 0) throw new Error(`${host.name}: ip -batch failed: ${r.stderr.trim()}\n${lines.join('\n')}`);
}

async function run(host: Host, cmd: string, args: string[]): Promise<string> {
  const r = await host.exec(cmd, args);
  if (r.code !== 0) throw new Error(`${host.name}: ${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** `hosts` weft routers in a launch chain, one attached container each, all paths direct. */
/** With `password` the routers encrypt, and the testbed is ready once every path also has ESP keys. */
export async function weftTestbed(hosts: number, opts: { password?: string } = {}): Promise<WeftTestbed> {
  hookSignals();
  const lan = await createLan({ hosts });
  const routers = lan.hosts.map((h) => new WeftHost(h));
  for (const r of routers) dataDirs.add(r.dataDir);
  const pids: number[] = [];
  const cleanup = async (): Promise<void> => {
    // WeftHost.cleanup() ends them; forget them first so no later signal can reach a reused PID.
    for (const pid of pids) routerPids.delete(pid);
    for (const r of routers) {
      await r.cleanup().catch(() => undefined);
      dataDirs.delete(r.dataDir);
    }
    await lan.cleanup();
  };
  try {
    for (const [i, r] of routers.entries()) {
      await r.launch(i === 0 ? [] : [lan.hosts[i - 1]!.addr], opts.password ? { WEFT_PASSWORD: opts.password } : {});
      const pid = await r.pid();
      if (pid === undefined) throw new Error(`weft on ${lan.hosts[i]!.name} did not report its PID`);
      pids.push(pid);
      routerPids.add(pid);
    }
    const containers: Host[] = [];
    const ips: string[] = [];
    for (const [i, r] of routers.entries()) {
      const c = await lan.addContainer();
      const ip = `10.32.${i}.1`;
      const res = await r.weft(['attach', `${ip}/12`, c.name]);
      if (res.code !== 0) throw new Error(`weft attach on ${lan.hosts[i]!.name} failed: ${res.stderr || res.stdout}`);
      containers.push(c);
      ips.push(ip);
    }
    const paths = async (h: number): Promise<PathStatus[]> => (await routers[h]!.json<{ paths: PathStatus[] }>(['status', 'connections'])).paths;
    for (let h = 0; h < hosts; h++) {
      await waitFor(async () => (await paths(h)).filter((p) => p.path === 'direct' && p.endpoints === 1 && (!opts.password || p.encryption?.spiOut)).length === hosts - 1, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: `weft on ${lan.hosts[h]!.name} to reach every other peer directly`,
      });
    }
    const first = (await paths(0))[0];
    return {
      label: opts.password ? 'weft + ESP' : 'weft', lan, routers, pids, containers, ips, mtu: first?.mtu ?? 0, cipher: first?.encryption?.cipher ?? null, paths, cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Two hosts joined by a hand-configured kernel VXLAN (see the top of this file), with overlay MTU `mtu`. */
export async function referenceTestbed(mtu: number): Promise<Testbed> {
  hookSignals();
  const lan = await createLan({ hosts: 2 });
  const cleanup = (): Promise<void> => lan.cleanup();
  try {
    const containers = [await lan.addContainer(), await lan.addContainer()];
    const ips = ['10.40.0.1', '10.40.0.2'];
    for (const [i, h] of lan.hosts.entries()) {
      const other = lan.hosts[1 - i]!;
      const c = containers[i]!;
      await ipBatch(h, [
        `link add vx0 mtu ${mtu} type vxlan id 42 dstport 4789 local ${h.addr} nolearning`,
        `link add br-ref mtu ${mtu} type bridge stp_state 0 forward_delay 0`,
        'link set br-ref up',
        'link set vx0 master br-ref',
        'link set vx0 up',
        `link add vref mtu ${mtu} type veth peer name eth0 netns ${c.name}`,
        'link set vref master br-ref',
        'link set vref up',
      ]);
      await run(h, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', other.addr]);
      await ipBatch(c, [`link set eth0 mtu ${mtu}`, `addr add ${ips[i]}/24 dev eth0`, 'link set eth0 up']);
    }
    await waitFor(
      async () => {
        const states = await Promise.all(lan.hosts.map((h) => run(h, 'ip', ['-o', '-d', 'link', 'show', 'master', 'br-ref'])));
        return states.every((s) => s.split('\n').filter((l) => /state forwarding/.test(l) && !l.includes('NO-CARRIER')).length === 2);
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'the reference bridges\' ports to forward' },
    );
    return { label: 'reference', lan, containers, ips, mtu, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Resolves once `from` gets a reply from `ip` (ARP warmed up). */
export async function reachable(from: Host, ip: string): Promise<void> {
  await waitFor(async () => (await from.exec('ping', ['-c', '1', '-W', '1', ip], { timeoutMs: 5_000 })).code === 0, {
    timeoutMs: 15_000,
    intervalMs: 100,
    what: `${from.name} to reach ${ip}`,
  });
}
