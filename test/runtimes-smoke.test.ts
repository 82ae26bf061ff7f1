// The runtime harness proven against Debian's standard CNI plugins (bridge + host-local + portmap),
// independently of weft: podman, containerd's CRI plugin and cnitool, each driven inside a namespace
// host the test creates.
//
//   h0 198.18.0.1 ── bridge cni-smoke0 10.47.0.1/24 ─┬─ podman containers (10.47.0.x)
//                                                     ├─ containerd pod sandboxes
//                                                     └─ cnitool's namespace
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type Host, type Lan } from './harness/netns.js';
import { privateDir, removePrivateDir } from './harness/runtimes/dirs.js';
import { Podman } from './harness/runtimes/podman.js';
import { writeBridgeConflist } from './harness/runtimes/standard-cni.js';
import { canUseCnitool, canUseContainerd, canUsePodman } from './harness/runtimes/capabilities.js';
import { Containerd, type CriStatus } from './harness/runtimes/containerd.js';
import { cnitool } from './harness/runtimes/cnitool.js';
import { netnsPathOf } from './harness/runtimes/exec.js';
import { STANDARD_PLUGIN_DIR } from './harness/runtimes/standard-cni.js';

const NET = 'smoke';
const SUBNET = '10.47.0.0/24';

const netns = canUseNetns();
const podmanOk = netns.ok ? canUsePodman() : netns;
if (!podmanOk.ok) console.warn(`SKIP podman smoke test: ${podmanOk.reason}`);
const containerdOk = netns.ok ? canUseContainerd() : netns;
if (!containerdOk.ok) console.warn(`SKIP containerd smoke test: ${containerdOk.reason}`);
const cnitoolOk = netns.ok ? canUseCnitool() : netns;
if (!cnitoolOk.ok) console.warn(`SKIP cnitool smoke test: ${cnitoolOk.reason}`);

describe.skipIf(!netns.ok)('the runtime harness with the standard bridge + host-local + portmap plugins', () => {
  let lan: Lan;
  let h0: Host;
  let dir: string;
  let confDir: string;
  let ipamDir: string;

  beforeAll(async () => {
    lan = await createLan({ hosts: 1 });
    h0 = lan.hosts[0]!;
    dir = privateDir('smoke');
    confDir = join(dir, 'net.d');
    ipamDir = join(dir, 'ipam');
    mkdirSync(ipamDir);
    writeBridgeConflist(confDir, { name: NET, bridge: 'cni-smoke0', subnet: SUBNET, ipamDataDir: ipamDir });
  });
  afterAll(async () => {
    await lan?.cleanup();
    if (dir) removePrivateDir(dir);
  });

  const leases = (): string[] => readdirSync(join(ipamDir, NET)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));

  it.skipIf(!podmanOk.ok)('podman: two containers ping each other; podman rm releases their leases', async () => {
    const podman = await Podman.create(h0, { cniConfDir: confDir });
    try {
      const a = await podman.runDetached(['--network', NET, '--name', 'a']);
      const b = await podman.runDetached(['--network', NET, '--name', 'b']);
      const [ipA, ipB] = [await podman.ipOf(a, NET), await podman.ipOf(b, NET)];
      expect(ipA).not.toBe(ipB);
      expect(leases().sort()).toEqual([ipA, ipB].sort());
      await waitFor(async () => (await podman.exec('a', ['ping', '-c', '1', '-W', '1', ipB])).code === 0, { timeoutMs: 15_000, intervalMs: 100, what: `a to ping b ${ipB}` });
      await waitFor(async () => (await podman.exec('b', ['ping', '-c', '1', '-W', '1', ipA])).code === 0, { timeoutMs: 15_000, intervalMs: 100, what: `b to ping a ${ipA}` });
      await podman.ok(['rm', '--force', '--time', '0', 'a', 'b']);
      expect(leases()).toEqual([]);
    } finally {
      await podman.cleanup();
    }
  });

  it.skipIf(!containerdOk.ok)('containerd CRI: RunPodSandbox gets an address, StopPodSandbox releases it, RemovePodSandbox (a second DEL) is harmless', async () => {
    const ctrd = await Containerd.start(h0, { cniBinDir: STANDARD_PLUGIN_DIR, cniConfDir: confDir });
    try {
      await waitFor(async () => (await ctrd.cri<CriStatus>('status')).status.conditions.find((c) => c.type === 'NetworkReady')?.status, { timeoutMs: 15_000, intervalMs: 100, what: 'the CRI to report NetworkReady' });
      const pod = await ctrd.runPod('smoke-pod');
      expect(pod.ip).toMatch(/^10\.47\.0\.\d+$/);
      expect(leases()).toEqual([pod.ip]);
      await waitFor(async () => (await h0.exec('ping', ['-c', '1', '-W', '1', pod.ip])).code === 0, { timeoutMs: 15_000, intervalMs: 100, what: `h0 to ping the pod ${pod.ip}` });
      await ctrd.stopPod(pod.id);
      expect(leases()).toEqual([]);
      await ctrd.removePod(pod.id);
      expect(await ctrd.podIds()).toEqual([]);
    } finally {
      await ctrd.cleanup();
    }
  });

  it.skipIf(!cnitoolOk.ok)('cnitool: add gives the namespace an address, check passes, del releases it', async () => {
    const c = await lan.addContainer();
    const env = { confDir, pluginDirs: [STANDARD_PLUGIN_DIR], cacheDir: join(dir, 'cni-cache') };
    const add = await cnitool(h0, 'add', NET, netnsPathOf(c), env);
    expect(add.code, add.stderr).toBe(0);
    const ip = ((JSON.parse(add.stdout) as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0]!;
    expect(leases()).toEqual([ip]);
    expect((await c.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain(`${ip}/24`);
    const check = await cnitool(h0, 'check', NET, netnsPathOf(c), env);
    expect(check.code, check.stderr).toBe(0);
    const del = await cnitool(h0, 'del', NET, netnsPathOf(c), env);
    expect(del.code, del.stderr).toBe(0);
    expect(leases()).toEqual([]);
    expect((await c.exec('ip', ['link', 'show', 'eth0'])).code).not.toBe(0);
  });
});
