// The kernel data plane, end to end: real routers (the CLI in network namespaces), real
// bridges, VXLAN devices, veths and static FDB/neighbour entries, real pings between containers.
//
//   h0 198.18.0.1 ◄── h1 198.18.0.2 ◄── h2 198.18.0.3     (`weft launch` chain on one LAN)
//   containers: h0c0 10.32.0.1, h0c1 10.32.0.2 on h0; 10.32.1.x on h1; 10.32.2.x on h2
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockUdpPort, canUseNetns, canUseNft, createLan, unblockUdpPort, waitFor, type Host, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';
import type { PathStatus, EndpointStatus } from '../router/status.js';
import { bridgeMacFor } from '../router/dataplane.js';
import { parsePeerName } from '../mesh/peer-name.js';

const can = canUseNetns();
if (!can.ok) console.warn(`SKIP end-to-end data-plane tests: ${can.reason}`);
const nft = canUseNft();

interface Container {
  ns: Host;
  host: number;
  ip: string;
}

describe.skipIf(!can.ok)('the kernel data plane in network namespaces', () => {
  let lan: Lan;
  let hosts: WeftHost[];
  const containers: Container[] = [];

  const paths = async (h: number): Promise<PathStatus[]> => (await hosts[h]!.json<{ paths: PathStatus[] }>(['status', 'connections'])).paths;
  const pathTo = async (from: number, to: number): Promise<PathStatus | undefined> => (await paths(from)).find((p) => p.nickname === lan.hosts[to]!.name);
  const ping = async (from: Container, to: Container, count = 1): Promise<boolean> => {
    const r = await from.ns.exec('ping', ['-c', String(count), '-W', '2', '-i', '0.2', to.ip], { timeoutMs: 20_000 });
    return r.code === 0;
  };
  const ip = (args: string[]) => async (h: number) => (await lan.hosts[h]!.exec('ip', args)).stdout;
  const neigh = ip(['neigh', 'show', 'dev', 'vxlan-weft']);

  beforeAll(async () => {
    lan = await createLan({ hosts: 3 });
    hosts = lan.hosts.map((h) => new WeftHost(h));
    for (const [i, h] of hosts.entries()) await h.launch(i === 0 ? [] : [lan.hosts[i - 1]!.addr]);
    for (let h = 0; h < 3; h++) {
      for (let i = 0; i < 2; i++) {
        const ns = await lan.addContainer();
        const c = { ns, host: h, ip: `10.32.${h}.${i + 1}` };
        const r = await hosts[h]!.weft(['attach', `${c.ip}/12`, ns.name]);
        expect(r.code, r.stderr).toBe(0);
        containers.push(c);
      }
    }
  }, 120_000);
  afterAll(async () => {
    for (const h of hosts ?? []) await h.cleanup();
    await lan?.cleanup();
  });

  it('every peer is reached directly, with the MTU of the underlay minus the VXLAN overhead', async () => {
    for (let h = 0; h < 3; h++) {
      await waitFor(async () => (await paths(h)).filter((p) => p.path === 'direct' && p.endpoints === 2).length === 2, {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: `h${h} to see both other peers directly, with their endpoints`,
      });
    }
    const p = (await pathTo(0, 2))!;
    expect(p.mtu).toBe(1450);
    expect(p.address).toBe('198.18.0.3');
    expect(p.reason).toMatch(/probes answered/);
    const link = await containers[0]!.ns.exec('ip', ['-o', 'link', 'show', 'eth0']);
    expect(link.stdout).toMatch(/mtu 1450/);
  });

  it('every container pings every other container', async () => {
    const results = await Promise.all(
      containers.map(async (from) => {
        const failed: string[] = [];
        for (const to of containers) if (to !== from && !(await ping(from, to))) failed.push(`${from.ip}→${to.ip}`);
        return failed;
      }),
    );
    expect(results.flat()).toEqual([]);
  });

  it('the kernel holds static entries for remote endpoints only, and ARP is answered locally', async () => {
    const n = await neigh(0);
    for (const c of containers) {
      if (c.host === 0) expect(n).not.toContain(`${c.ip} `);
      else expect(n).toMatch(new RegExp(`${c.ip.replace(/\./g, '\\.')} lladdr [0-9a-f:]+ PERMANENT`));
    }
    const fdb = (await lan.hosts[0]!.exec('bridge', ['fdb', 'show', 'dev', 'vxlan-weft'])).stdout;
    expect(fdb).toMatch(/00:00:00:00:00:00 dst 198\.18\.0\.2 self permanent/);
    expect(fdb).toMatch(/00:00:00:00:00:00 dst 198\.18\.0\.3 self permanent/);
    const eps = await hosts[0]!.json<EndpointStatus[]>(['status', 'endpoints']);
    expect(eps.filter((e) => e.local).map((e) => e.ips[0]).sort()).toEqual(['10.32.0.1/12', '10.32.0.2/12']);
    expect(eps.filter((e) => !e.local).length).toBe(4);
  });

  it('detach and attach are reflected everywhere', async () => {
    const c = containers[5]!; // on h2
    expect((await hosts[2]!.weft(['detach', c.ns.name])).code).toBe(0);
    await waitFor(async () => !(await neigh(0)).includes(`${c.ip} `), { timeoutMs: 10_000, intervalMs: 100, what: 'h0 to drop the detached container' });
    expect(await ping(containers[0]!, c)).toBe(false);
    const ps = await hosts[2]!.weft(['ps']);
    expect(ps.stdout).not.toContain(c.ns.name);
    expect((await hosts[2]!.weft(['attach', `${c.ip}/12`, c.ns.name])).code).toBe(0);
    await waitFor(async () => (await neigh(0)).includes(`${c.ip} `), { timeoutMs: 10_000, intervalMs: 100, what: 'h0 to learn the re-attached container' });
    expect(await ping(containers[0]!, c)).toBe(true);
    expect((await hosts[2]!.weft(['ps'])).stdout).toContain(c.ns.name);
  });

  it.skipIf(!nft.ok)('with UDP 6784 dropped between h0 and h2, their containers talk through h1', async () => {
    await blockUdpPort(lan.hosts[0]!, lan.hosts[2]!, 6784);
    try {
      for (const [a, b] of [
        [0, 2],
        [2, 0],
      ] as const) {
        await waitFor(async () => (await pathTo(a, b))?.path === `relay via ${lan.hosts[1]!.name}`, { timeoutMs: 15_000, intervalMs: 200, what: `h${a} to relay to h${b} via h1` });
      }
      const p = (await pathTo(0, 2))!;
      expect(p.reason).toMatch(/no answer to direct probes/);
      expect(p.address).toBe('198.18.0.2');
      expect(await ping(containers[0]!, containers[4]!, 3)).toBe(true);
      expect(await ping(containers[5]!, containers[1]!, 3)).toBe(true);
      const relay = await hosts[1]!.json<{ dataplane: { relaying: string[] } }>(['status', 'connections']);
      expect(relay.dataplane.relaying.length).toBe(2);
    } finally {
      await unblockUdpPort(lan.hosts[0]!, lan.hosts[2]!, 6784);
    }
    const healed = Date.now();
    await waitFor(async () => (await pathTo(0, 2))?.path === 'direct', { timeoutMs: 10_000, intervalMs: 100, what: 'h0 back to direct to h2' });
    console.log(`direct path back after ${Date.now() - healed} ms`);
    expect(await ping(containers[0]!, containers[4]!)).toBe(true);
  });

  it('a ping stream across a router restart loses no packets', async () => {
    const stream = containers[0]!.ns.spawn('ping', ['-i', '0.05', '-c', '120', '-W', '1', containers[2]!.ip]);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await hosts[1]!.stop()).code).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    await hosts[1]!.launch([lan.hosts[0]!.addr]);
    const exit = await stream.exited;
    const out = stream.stdout();
    expect(out, out).toMatch(/120 packets transmitted, 120 received, 0% packet loss/);
    expect(exit.code).toBe(0);
    // the restarted router adopted its containers
    expect((await hosts[1]!.weft(['ps'])).stdout).toContain(containers[2]!.ns.name);
  });

  it('malformed probes arriving over VXLAN are counted and dropped; the router carries on', async () => {
    const name = (await hosts[0]!.json<{ name: string }>(['status'])).name;
    const mac = bridgeMacFor(parsePeerName(name)!).replace(/:/g, '');
    // VXLAN header (VNI 24241) + Ethernet to h0's bridge, ethertype 0x88b5, then garbage.
    const hex = `08000000${(24241).toString(16).padStart(6, '0')}00${mac}020000000099` + '88b5' + 'ff'.repeat(60);
    const script = `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('${hex}','hex'),6784,'${lan.hosts[0]!.addr}',()=>s.close())`;
    expect((await lan.hosts[1]!.exec(process.execPath, ['-e', script])).code).toBe(0);
    await waitFor(async () => (await hosts[0]!.json<{ dataplane: { probes: { dropped: Record<string, number> } } }>(['status', 'connections'])).dataplane.probes.dropped['bad probe magic'], {
      timeoutMs: 5_000,
      what: 'the bad probe to be counted',
    });
    expect(await ping(containers[0]!, containers[4]!)).toBe(true);
  });

  it('a router killed with SIGKILL and launched again loses no packets and adopts its containers', async () => {
    const stream = containers[3]!.ns.spawn('ping', ['-i', '0.05', '-c', '100', '-W', '1', containers[0]!.ip]);
    await new Promise((r) => setTimeout(r, 1000));
    await hosts[1]!.crash();
    await new Promise((r) => setTimeout(r, 500));
    await hosts[1]!.launch([lan.hosts[0]!.addr]);
    await stream.exited;
    expect(stream.stdout()).toMatch(/100 packets transmitted, 100 received, 0% packet loss/);
    const ps = (await hosts[1]!.weft(['ps'])).stdout;
    expect(ps).toContain(containers[2]!.ns.name);
    expect(ps).toContain(containers[3]!.ns.name);
  });

  it('a MAC that appears on the bridge by other means is announced to the others', async () => {
    const ns = await lan.addContainer();
    const h0 = lan.hosts[0]!;
    const link = await h0.exec('sh', ['-c', `ip link add vethx0 mtu 1450 type veth peer name eth0 netns ${ns.name} && ip link set vethx0 master weft up`]);
    expect(link.code, link.stderr).toBe(0);
    const cfg = await ns.exec('sh', ['-c', 'ip addr add 10.32.0.50/12 dev eth0 && ip link set eth0 up && ip -o link show eth0']);
    expect(cfg.code, cfg.stderr).toBe(0);
    const mac = /link\/ether ([0-9a-f:]{17})/.exec(cfg.stdout)![1]!;
    await ns.exec('ping', ['-c', '1', '-W', '2', containers[2]!.ip]); // the bridge learns the MAC from this frame
    await waitFor(async () => (await hosts[1]!.json<EndpointStatus[]>(['status', 'endpoints'])).some((e) => !e.local && e.mac === mac), {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'h1 to learn the MAC that appeared on h0',
    });
  });

  it('weft reset removes the bridge, the VXLAN device and the containers\' veths', async () => {
    const r = await hosts[2]!.weft(['reset']);
    expect(r.code, r.stderr).toBe(0);
    const links = (await lan.hosts[2]!.exec('ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toMatch(/\bweft\b|vxlan-weft|vethwe/);
    await waitFor(async () => !(await neigh(0)).includes('10.32.2.1 '), { timeoutMs: 10_000, intervalMs: 100, what: 'h0 to drop the reset host\'s endpoints' });
  });
});
