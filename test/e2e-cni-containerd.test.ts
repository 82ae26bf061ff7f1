// weft's CNI plugin under containerd's CRI plugin, driven over gRPC as a kubelet drives it:
// RunPodSandbox (CNI ADD) → StopPodSandbox (DEL) → RemovePodSandbox (DEL again, CNI_NETNS empty).
//
//   h0 198.18.0.1 ◄──────── h1 198.18.0.2        weft routers, range 10.46.1.0/24, consensus=2
//   containerd (nsenter --net=h0)               containerd (nsenter --net=h1), private root/state/socket
//   └─ pod sandbox pod-h0 ══ bridge weft        └─ pod sandbox pod-h1 ══ bridge weft
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type Lan } from './harness/netns.js';
import { bridgePorts } from './harness/weft-state.js';
import { canUseContainerd } from './harness/runtimes/capabilities.js';
import { Containerd, type CriStatus, type PodSandbox } from './harness/runtimes/containerd.js';
import { run } from './harness/runtimes/exec.js';
import { cleanupWeftCni, heldAddresses, launchWeftCni, type WeftCniHost } from './harness/runtimes/weft-cni.js';

const RANGE = '10.46.1.0/24';
const IN_RANGE = /^10\.46\.1\.\d+$/;

const netns = canUseNetns();
const can = netns.ok ? canUseContainerd() : netns;
if (!can.ok) console.warn(`SKIP weft CNI under containerd: ${can.reason}`);

describe.skipIf(!can.ok)('weft CNI plugin under containerd CRI', () => {
  let lan: Lan;
  let hosts: WeftCniHost[];
  let ctrd: Containerd[] = [];

  beforeAll(async () => {
    lan = await createLan({ hosts: 2 });
    hosts = await launchWeftCni(lan, { range: RANGE });
    for (const h of hosts) ctrd.push(await Containerd.start(h.host, { cniBinDir: h.binDir, cniConfDir: h.confDir }));
  }, 120_000);
  afterAll(async () => {
    for (const c of ctrd) await c.cleanup();
    ctrd = [];
    await cleanupWeftCni(hosts);
    await lan?.cleanup();
  }, 120_000);

  const pingFrom = async (pod: PodSandbox, ip: string): Promise<boolean> => (await run('nsenter', [`--net=${pod.netns}`, '--', 'ping', '-c', '1', '-W', '1', ip])).code === 0;

  it('the CRI reports the network ready; sandboxes on two hosts get addresses and reach each other; stop and remove release', async () => {
    for (const c of ctrd) {
      let last: unknown;
      await waitFor(
        async () => {
          const net = (await c.cri<CriStatus>('status')).status.conditions.find((x) => x.type === 'NetworkReady');
          last = net;
          return net?.status;
        },
        { timeoutMs: 15_000, intervalMs: 100, what: `the CRI on ${c.host.name} to report NetworkReady` },
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}: ${JSON.stringify(last)}`);
      });
    }
    const portsBefore = await Promise.all(hosts.map((h) => bridgePorts(h.host)));
    const t0 = Date.now();
    const pods = await Promise.all(ctrd.map((c, i) => c.runPod(`pod-h${i}`, { namespace: 'weft-e2e', uid: `uid-${i}` })));
    console.log(`containerd: RunPodSandbox on both hosts took ${Date.now() - t0} ms; addresses ${pods.map((p) => p.ip).join(', ')}`);
    for (const [i, p] of pods.entries()) {
      expect(p.ip).toMatch(IN_RANGE);
      expect(p.netns).toMatch(/^\/var\/run\/netns\/cni-|^\/run\/netns\/cni-/);
      expect(await heldAddresses(hosts[i]!)).toContain(p.ip);
    }
    expect(pods[0]!.ip).not.toBe(pods[1]!.ip);
    // What must be left once the pods are gone: all but the pod's address (the first ADD on a host
    // also gives the host its own overlay address, the pods' gateway, which stays)
    const heldAfter = await Promise.all(hosts.map(async (h, i) => (await heldAddresses(h)).filter((x) => x !== pods[i]!.ip)));
    const ps = await hosts[0]!.weft.weft(['ps']);
    console.log(`weft ps on h0:\n${ps.stdout}`);
    expect(ps.stdout).toContain('pod-h0');

    await waitFor(() => pingFrom(pods[0]!, pods[1]!.ip), { timeoutMs: 20_000, intervalMs: 100, what: `pod-h0 to ping pod-h1 ${pods[1]!.ip}` });
    await waitFor(() => pingFrom(pods[1]!, pods[0]!.ip), { timeoutMs: 20_000, intervalMs: 100, what: `pod-h1 to ping pod-h0 ${pods[0]!.ip}` });

    // StopPodSandbox: the first DEL, with the namespace; the address goes back at once
    for (const [i, c] of ctrd.entries()) {
      await c.stopPod(pods[i]!.id);
      expect(await heldAddresses(hosts[i]!)).toEqual(heldAfter[i]);
    }
    // RemovePodSandbox: the second DEL (CNI_NETNS empty) must be harmless
    for (const [i, c] of ctrd.entries()) {
      await c.removePod(pods[i]!.id);
      expect(await c.podIds()).toEqual([]);
      expect(await heldAddresses(hosts[i]!)).toEqual(heldAfter[i]);
      expect(await bridgePorts(hosts[i]!.host)).toEqual(portsBefore[i]);
    }
  });

  it('a pod started again after its address was released gets one and reaches the other host; stop/remove twice is harmless', async () => {
    const a = await ctrd[0]!.runPod('again-h0');
    const b = await ctrd[1]!.runPod('again-h1');
    await waitFor(() => pingFrom(a, b.ip), { timeoutMs: 20_000, intervalMs: 100, what: `again-h0 to ping again-h1 ${b.ip}` });
    for (const [i, p] of [a, b].entries()) {
      await ctrd[i]!.stopPod(p.id);
      await ctrd[i]!.stopPod(p.id);
      await ctrd[i]!.removePod(p.id);
      await ctrd[i]!.removePod(p.id);
      expect(await heldAddresses(hosts[i]!)).not.toContain(p.ip);
    }
  });
});
