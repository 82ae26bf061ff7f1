// The whole data plane of three routers in memory: real MeshRouters over the memory transport,
// MemoryKernels, probes over MemoryProbeNetwork, one ManualClock. Deterministic, no root.
//
//   r1 198.18.0.1 ◄── r2 198.18.0.2 ◄── r3 198.18.0.3
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { MemoryMesh } from '../test/harness/memory-mesh.js';
import { Dataplane } from './dataplane.js';
import { Endpoints } from './endpoints.js';
import { relayVni } from './forwarding.js';
import { MemoryKernel } from './memory-kernel.js';
import { meshView } from './mesh-view.js';
import { MemoryProbeNetwork } from './probe-transport.js';
import { MemoryHostNat } from './host-nat.js';

const VNI = 0x5eb1;
const NAMES = [0x02_00_00_00_00_01n, 0x02_00_00_00_00_02n, 0x02_00_00_00_00_03n];
const ADDR = ['198.18.0.1', '198.18.0.2', '198.18.0.3'];

describe('three data planes in memory', () => {
  let mesh: MemoryMesh;
  let probes: MemoryProbeNetwork;
  let kernels: MemoryKernel[];
  let planes: Dataplane[];
  let eps: Endpoints[];
  let dir: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-dp-'));
    mesh = new MemoryMesh();
    probes = new MemoryProbeNetwork();
    kernels = [];
    planes = [];
    eps = [];
    for (let i = 0; i < 3; i++) {
      const router = await mesh.add({ name: NAMES[i]!, host: ADDR[i], peers: i === 0 ? [] : [`${ADDR[i - 1]}:6783`] });
      const kernel = new MemoryKernel({ clock: mesh.clock });
      kernels.push(kernel);
      // The endpoints owner without IPAM: every container is given its address.
      const ep: Endpoints = new Endpoints({
        kernel,
        dataplane: { get mtu() { return dp.mtu; }, remoteIps: () => dp.remoteIps(), changed: () => dp.changed(), settled: () => dp.settled() },
        ipam: undefined,
        nat: new MemoryHostNat(),
        overlayRange: '10.32.0.0/12',
        dataDir: join(dir, `r${i}`),
        clock: mesh.clock,
        log: silentLogger(),
        refreshMs: 2000,
        checkNetns: () => undefined,
        checkCidr: () => undefined,
        inRange: () => false,
      });
      const dp: Dataplane = new Dataplane({
        mesh: meshView(router),
        kernel,
        openProbeTransport: () => probes.host(ADDR[i]!, { vni: VNI, port: 6784, mac: macOf(i) }),
        clock: mesh.clock,
        log: silentLogger(),
        dataDir: join(dir, `r${i}`),
        vni: VNI,
        port: 6784,
        mtu: 1450,
        underlayHints: [],
        overlayRange: '10.32.0.0/12',
        probeIntervalMs: 300,
        probeFailAfterMs: 1200,
        probeIdleRate: 50,
        probeBudget: 300,
        activityPollMs: 1000,
        activeMs: 10_000,
        peerGraceMs: 60_000,
        adoptMs: 20_000,
        refreshMs: 2000,
        local: ep,
      });
      await ep.load();
      await dp.start();
      await ep.start();
      planes.push(dp);
      eps.push(ep);
      for (let c = 0; c < 2; c++) {
        const ns = join(dir, `ns-${i}-${c}`);
        writeFileSync(ns, '');
        await ep.attach({ container: ns, netns: ns, cidrs: [`10.32.${i}.${c + 1}/12`] });
      }
    }
  });

  afterEach(async () => {
    for (const e of eps) await e.stop();
    for (const p of planes) await p.stop();
    await mesh.stop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  const macOf = (i: number): string => `02:00:00:00:00:0${i + 1}`;
  const fdbTo = (k: number, dst: string): string[] => kernels[k]!.render().split('\n').filter((l) => l.includes(`dst ${dst} self permanent`));
  const paths = (k: number) => planes[k]!.status().peers.map((p) => `${p.nickname}:${p.path}`).sort();

  it('installs every remote endpoint directly, and nothing for local ones', async () => {
    await mesh.settle(() => paths(0).join() === 'n2:direct,n3:direct' && fdbTo(0, '198.18.0.3').length === 3, 'r1 reaches r2 and r3 directly');
    await mesh.settle(() => planes.every((p) => p.status().peers.every((x) => x.path === 'direct' && x.endpoints === 2)), 'all direct');
    const text = kernels[0]!.render();
    expect(fdbTo(0, '198.18.0.2')).toHaveLength(3); // two endpoints + the head-end entry
    expect(text).toMatch(/^10\.32\.2\.1 dev vxlan-weft lladdr [0-9a-f:]+ PERMANENT$/m);
    expect(text).not.toMatch(/^10\.32\.0\.1 dev vxlan-weft/m);
    expect(text).toMatch(/^link vxlan-weft vxlan id 24241 dstport 6784 nolearning proxy master weft learning off mtu 1450 up$/m);
  });

  it('relays through r2 when r1 and r3 cannot reach each other, and goes back when they can', async () => {
    await mesh.settle(() => planes.every((p) => p.status().peers.filter((x) => x.path === 'direct').length === 2), 'all direct');
    probes.block(ADDR[0]!, ADDR[2]!);
    const took = await mesh.settle(() => paths(0).includes('n3:relay via n2') && paths(2).includes('n1:relay via n2'), 'relay via r2', { stepMs: 50 });
    expect(took).toBeLessThanOrEqual(2500);
    const vni3 = relayVni(NAMES[2]!);
    expect(kernels[0]!.render()).toMatch(new RegExp(`^00:00:00:00:00:00 dev vxlan-weft dst 198\\.18\\.0\\.2 self permanent vni ${vni3}$`, 'm'));
    expect(fdbTo(0, '198.18.0.3')).toEqual([]);
    const relay = kernels[1]!.render();
    expect(relay).toContain(`link wx-020000000003 vxlan id ${vni3} dstport 6784 nolearning master wb-020000000003 hairpin on learning off mtu 1450 up`);
    expect(relay).toMatch(/^00:00:00:00:00:00 dev wx-020000000003 dst 198\.18\.0\.3 self permanent vni 24241$/m);
    expect(planes[1]!.status().relaying).toHaveLength(2);

    probes.unblock(ADDR[0]!, ADDR[2]!);
    const back = await mesh.settle(() => paths(0).includes('n3:direct') && paths(2).includes('n1:direct'), 'direct again', { stepMs: 50 });
    expect(back).toBeLessThanOrEqual(1000);
    await mesh.settle(() => !kernels[1]!.render().includes('wx-'), 'r2 drops its relay devices');
  });

  it('probes a peer whose endpoints get traffic (the kernel says so) as active, and the relay its traffic then goes through', async () => {
    await mesh.settle(() => planes.every((p) => p.status().peers.filter((x) => x.path === 'direct').length === 2), 'all direct');
    const fast = (): number | undefined => planes[0]!.status().probes.fast;
    await mesh.settle(() => fast() === 0, 'r1 probes both peers idly once settled', { stepMs: 100 });
    const mac = planes[0]!.endpointStatus().find((e) => e.peer.endsWith(':03'))!.mac;
    const traffic = (): void => void kernels[0]!.transmit('vxlan-weft', mac);
    traffic();
    const took = await mesh.settle(() => (traffic(), fast() === 1), 'r1 probes r3 as active', { stepMs: 100 });
    expect(took).toBeLessThanOrEqual(1000 + 300); // one poll, plus the steps of settle()
    probes.block(ADDR[0]!, ADDR[2]!);
    await mesh.settle(() => (traffic(), paths(0).includes('n3:relay via n2') && fast() === 2), 'r1 relays to r3 via r2 and probes r2 as active too', { stepMs: 100 });
    // r2 relays for r1 and r3: it probes both destinations every round.
    expect(planes[1]!.status().probes.fast).toBe(2);
    probes.unblock(ADDR[0]!, ADDR[2]!);
    await mesh.settle(() => paths(0).includes('n3:direct'), 'direct again', { stepMs: 100 });
    await mesh.settle(() => fast() === 0, 'no traffic for 10 s: idle again', { stepMs: 500 });
  });

  it('keeps a stopped router\'s endpoints through the grace period, then removes them', async () => {
    await mesh.settle(() => fdbTo(0, '198.18.0.3').length === 3, 'r1 has r3 endpoints');
    await planes[2]!.stop();
    await mesh.routers[2]!.stop();
    await mesh.settle(() => mesh.routers[0]!.peers.get(NAMES[2]!) === undefined, 'r1 forgets r3 in the mesh');
    const reason = (): string => planes[0]!.status().peers.find((p) => p.peer.endsWith(':03'))?.reason ?? '';
    await mesh.settle(() => /keeping the last path/.test(reason()), 'r1 keeps the last path to r3', { stepMs: 50 });
    expect(fdbTo(0, '198.18.0.3')).toHaveLength(3);
    const gone = await mesh.settle(() => fdbTo(0, '198.18.0.3').length === 0, 'r1 removes r3 endpoints after the grace period', { stepMs: 1000 });
    expect(gone).toBeGreaterThanOrEqual(50_000);
  });

  it('an address announced by two peers is reported as a conflict on every peer until one container goes', async () => {
    const a = join(dir, 'dup-a');
    const b = join(dir, 'dup-b');
    writeFileSync(a, '');
    writeFileSync(b, '');
    // Both attached before either hears of the other: what a healed partition can leave.
    await Promise.all([eps[0]!.attach({ container: a, netns: a, cidrs: ['10.32.9.9/12'] }), eps[2]!.attach({ container: b, netns: b, cidrs: ['10.32.9.9/12'] })]);
    const conflicts = (k: number): string[] => planes[k]!.status().conflicts.map((c) => `${c.ip}:${c.peers.length}`);
    await mesh.settle(() => [0, 1, 2].every((k) => conflicts(k).join() === '10.32.9.9:2'), 'every peer reports the conflict');
    await eps[2]!.detach(b);
    await mesh.settle(() => [0, 1, 2].every((k) => conflicts(k).length === 0), 'the conflict clears');
  });

  it('detach removes the endpoint everywhere', async () => {
    await mesh.settle(() => kernels[0]!.render().includes('10.32.2.2 '), 'r1 has 10.32.2.2');
    await eps[2]!.detach(join(dir, 'ns-2-1'));
    await mesh.settle(() => !kernels[0]!.render().includes('10.32.2.2 ') && !kernels[1]!.render().includes('10.32.2.2 '), 'gone everywhere');
  });
});

describe('the underlay MTU', () => {
  it('comes from the first route that leaves the host, never from loopback (a peer list naming this host)', async () => {
    const { underlayMtuFrom } = await import('./dataplane.js');
    expect(underlayMtuFrom([{ dev: 'lo', mtu: 65536 }, { dev: 'eth0', mtu: 1500 }])).toBe(1500);
    expect(underlayMtuFrom([undefined, { dev: 'eth0', mtu: 9000 }])).toBe(9000);
    expect(underlayMtuFrom([{ dev: 'lo', mtu: 65536 }])).toBe(1500);
    expect(underlayMtuFrom([])).toBe(1500);
  });
});
