// NetlinkKernel against the real kernel, inside throwaway namespaces (root only).
//
//   <p>host  (the kernel under test: all its sockets live here)
//     u0 198.18.0.1/24 (underlay, for routeTo; a veth pair u0/u1, as the kernel may lack dummy)
//     weft bridge ── vxlan-weft (vni 42, dstport 6784, nolearning, proxy)
//          ├─ vethc1 ── ethwe 10.32.0.1/12 in <p>c1
//          └─ vethc2 ── ethwe 10.32.0.2/12 in <p>c2
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { canUseNetns, hasCommand } from '../test/harness/privileges.js';
import type { FdbEntry, KernelOp, LinkSpec, NeighEntry } from './kernel.js';
import { NetlinkKernel } from './netlink-kernel.js';

const cap = canUseNetns();
const P = `wfN${process.pid}-`;
const HOST = `${P}host`;
const C1 = `${P}c1`;
const C2 = `${P}c2`;
const nsPath = (n: string): string => `/run/netns/${n}`;

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const inHost = (cmd: string, ...args: string[]): string => execFileSync('ip', ['netns', 'exec', HOST, cmd, ...args], { encoding: 'utf8' });

const BRIDGE: LinkSpec = { name: 'weft', kind: 'bridge', mtu: 1410, up: true };
const VXLAN: LinkSpec = {
  name: 'vxlan-weft', kind: 'vxlan', mtu: 1410, master: 'weft', up: true,
  vxlan: { vni: 42, port: 6784, learning: false, proxy: true }, port: { hairpin: false, learning: false },
};
const FDB: FdbEntry[] = [
  { dev: 'vxlan-weft', mac: '00:00:00:00:00:00', dst: '198.18.0.2' },
  { dev: 'vxlan-weft', mac: '00:00:00:00:00:00', dst: '198.18.0.3' },
  { dev: 'vxlan-weft', mac: '02:00:00:00:00:01', dst: '198.18.0.3', vni: 77 },
];
const NEIGH: NeighEntry = { dev: 'vxlan-weft', ip: '10.32.0.9', mac: '02:00:00:00:00:09' };

const byKey = <T extends object>(xs: T[]): T[] => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe.skipIf(!cap.ok)(`NetlinkKernel in network namespaces${cap.ok ? '' : ` (skipped: ${cap.reason})`}`, () => {
  let k: NetlinkKernel;

  beforeAll(() => {
    for (const n of [HOST, C1, C2]) ip('netns', 'add', n);
    ip('-n', HOST, 'link', 'set', 'lo', 'up');
    ip('-n', HOST, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1');
    ip('-n', HOST, 'addr', 'add', '198.18.0.1/24', 'dev', 'u0');
    ip('-n', HOST, 'link', 'set', 'u0', 'up');
    ip('-n', HOST, 'link', 'set', 'u1', 'up');
    k = new NetlinkKernel({ log: silentLogger(), netns: nsPath(HOST) });
  });

  afterAll(() => {
    k?.close();
    for (const n of [HOST, C1, C2]) {
      try {
        ip('netns', 'del', n);
      } catch {
        // not created
      }
    }
  });

  it('creates the bridge and the VXLAN device as its port', async () => {
    const res = await k.apply([{ op: 'link-add', link: BRIDGE }, { op: 'link-add', link: VXLAN }]);
    expect(res.map((r) => r.error)).toEqual([undefined, undefined]);
    const shown = ip('-n', HOST, '-d', 'link', 'show', 'vxlan-weft');
    expect(shown).toMatch(/vxlan id 42 .*dstport 6784 .*nolearning .*proxy/s);
    expect(shown).toContain('master weft');
    expect(shown).toContain('mtu 1410');
    expect(ip('-n', HOST, '-d', 'link', 'show', 'vxlan-weft')).toMatch(/bridge_slave .*hairpin off .*learning off/s);

    const state = await k.read(['weft', 'vxlan-weft', 'absent']);
    expect(state.links.map((l) => l.name)).toEqual(['weft', 'vxlan-weft']);
    const [br, vx] = state.links;
    expect(br).toMatchObject({ kind: 'bridge', mtu: 1410, up: true });
    expect(br!.master).toBeUndefined();
    expect(vx).toMatchObject({ kind: 'vxlan', mtu: 1410, up: true, master: 'weft', vxlan: VXLAN.vxlan, port: VXLAN.port });
    expect(vx!.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });

  it('link-set changes mtu, up and port flags in place', async () => {
    const changed: LinkSpec = { ...VXLAN, mtu: 1400, up: false, port: { hairpin: true, learning: false } };
    expect((await k.apply([{ op: 'link-set', link: changed }]))[0]!.error).toBeUndefined();
    expect((await k.read(['vxlan-weft'])).links[0]).toMatchObject({ mtu: 1400, up: false, master: 'weft', port: { hairpin: true, learning: false } });
    expect((await k.apply([{ op: 'link-set', link: VXLAN }]))[0]!.error).toBeUndefined();
    expect((await k.read(['vxlan-weft'])).links[0]).toMatchObject({ mtu: 1410, up: true, port: VXLAN.port });
    expect((await k.apply([{ op: 'link-set', link: { ...VXLAN, name: 'nonesuch' } }]))[0]!.error).toMatch(/does not exist/);
  });

  it('link-add of an existing link reports EEXIST in the result and still applies the rest', async () => {
    const res = await k.apply([{ op: 'link-add', link: BRIDGE }, { op: 'fdb-add', entry: FDB[0]! }, { op: 'fdb-del', entry: FDB[0]! }]);
    expect(res[0]!.error).toMatch(/EEXIST/);
    expect(res.slice(1).map((r) => r.error)).toEqual([undefined, undefined]);
  });

  it('programs FDB entries (head-end list and a per-entry VNI) idempotently', async () => {
    const ops: KernelOp[] = FDB.map((entry) => ({ op: 'fdb-add', entry }));
    expect((await k.apply(ops)).map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    const shown = execFileSync('ip', ['netns', 'exec', HOST, 'bridge', 'fdb', 'show', 'dev', 'vxlan-weft'], { encoding: 'utf8' });
    expect(shown).toContain('00:00:00:00:00:00 dst 198.18.0.2 self permanent');
    expect(shown).toContain('00:00:00:00:00:00 dst 198.18.0.3 self permanent');
    expect(shown).toContain('02:00:00:00:00:01 dst 198.18.0.3 vni 77 self permanent');

    const first = await k.read(['weft', 'vxlan-weft']);
    expect(byKey(first.fdb)).toEqual(byKey(FDB));
    expect((await k.apply(ops)).map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    expect(await k.read(['weft', 'vxlan-weft'])).toEqual(first);
  });

  it('adds a permanent neighbour entry', async () => {
    expect((await k.apply([{ op: 'neigh-add', entry: NEIGH }]))[0]!.error).toBeUndefined();
    expect(ip('-n', HOST, 'neigh', 'show', 'dev', 'vxlan-weft')).toContain('10.32.0.9 lladdr 02:00:00:00:00:09 PERMANENT');
    expect((await k.read(['vxlan-weft'])).neigh).toEqual([NEIGH]);
  });

  it('attaches containers: address, up, MTU, route; again is a no-op with the same MAC', async () => {
    const spec = (n: string, i: number) => ({
      hostIfname: `vethc${i}`, bridge: 'weft', netns: nsPath(n), ifname: 'ethwe', mtu: 1410,
      addresses: [`10.32.0.${i}/12`], routes: ['10.0.0.0/8'],
    });
    const a1 = await k.attach(spec(C1, 1));
    const a2 = await k.attach(spec(C2, 2));
    expect(a1.hostIfname).toBe('vethc1');
    const addr = ip('-n', C1, 'addr', 'show', 'dev', 'ethwe');
    expect(addr).toContain('inet 10.32.0.1/12');
    expect(addr).toContain('mtu 1410');
    expect(addr).toMatch(/state (UP|LOWERLAYERDOWN)|,UP/);
    expect(addr).toContain(`link/ether ${a1.mac}`);
    expect(ip('-n', C1, 'route')).toContain('10.0.0.0/8 dev ethwe scope link');
    expect(ip('-n', C1, 'link', 'show', 'lo')).toMatch(/<LOOPBACK,UP/);
    expect(ip('-n', HOST, 'link', 'show', 'vethc1')).toMatch(/mtu 1410 .*master weft state UP/);
    expect(await k.attach(spec(C1, 1))).toEqual(a1);
    expect((await k.ports('weft')).sort()).toEqual(['vethc1', 'vethc2']);
    expect(a2.mac).not.toBe(a1.mac);
  });

  it.skipIf(!hasCommand('ping'))('sees the containers\' MACs on the bridge after a ping', async () => {
    execFileSync('ip', ['netns', 'exec', C1, 'ping', '-c', '1', '-W', '2', '10.32.0.2']);
    const macs = await k.bridgeMacs('weft');
    const mac = (n: string) => ip('-n', n, 'link', 'show', 'ethwe').match(/link\/ether (\S+)/)![1];
    expect(macs).toContainEqual({ mac: mac(C1), port: 'vethc1' });
    expect(macs).toContainEqual({ mac: mac(C2), port: 'vethc2' });
    expect(macs.every((m) => m.port !== 'vxlan-weft')).toBe(true);
  });

  it('a CNI-style attach: default route via a gateway, hairpin on the bridge port; inspect() reads it back; a clashing interface name is refused', async () => {
    const spec = {
      hostIfname: 'vethg2', bridge: 'weft', netns: nsPath(C2), ifname: 'eth1', mtu: 1410,
      addresses: ['10.32.0.12/12'], routes: [], gateway: '10.32.0.100', hairpin: true,
    };
    const a = await k.attach(spec);
    expect(ip('-n', C2, 'route')).toContain('default via 10.32.0.100 dev eth1');
    expect(ip('-d', '-n', HOST, 'link', 'show', 'vethg2')).toMatch(/hairpin on/);
    const seen = await k.inspect(nsPath(C2), 'eth1');
    expect(seen).toMatchObject({ mac: a.mac, mtu: 1410, addresses: ['10.32.0.12/12'] });
    expect(seen!.routes).toEqual(expect.arrayContaining([{ dst: '10.32.0.0/12' }, { dst: '0.0.0.0/0', gw: '10.32.0.100' }]));
    expect(await k.inspect(nsPath(C2), 'nosuch0')).toBeUndefined();
    await expect(k.attach({ ...spec, hostIfname: 'vethg3' })).rejects.toThrow(/already has an interface named eth1/);
    expect(ip('-n', HOST, 'link', 'show')).not.toContain('vethg3');
    await k.detach('vethg2');
  });

  it('finds the underlay route, and none to an unreachable address', async () => {
    expect(await k.routeTo('198.18.0.7')).toEqual({ dev: 'u0', mtu: 1500, src: '198.18.0.1' });
    expect(await k.routeTo('203.0.113.1')).toBeUndefined();
  });

  it('adds, lists and deletes addresses', async () => {
    await k.addAddress('weft', '10.32.0.254/12');
    expect(await k.addresses('weft')).toEqual(['10.32.0.254/12']);
    await k.delAddress('weft', '10.32.0.254/12');
    await k.delAddress('weft', '10.32.0.254/12');
    expect(await k.addresses('weft')).toEqual([]);
    expect(await k.addresses('nonesuch')).toEqual([]);
  });

  it('reports changes through watch()', async () => {
    let resolve!: () => void;
    const changed = new Promise<void>((r) => (resolve = r));
    const stop = k.watch(() => resolve());
    ip('-n', HOST, 'link', 'add', 'w0', 'type', 'bridge');
    await changed;
    stop();
    ip('-n', HOST, 'link', 'del', 'w0');
  });

  it('deletes entries, containers and links', async () => {
    const ops: KernelOp[] = [...FDB.map((entry): KernelOp => ({ op: 'fdb-del', entry })), { op: 'neigh-del', entry: NEIGH }];
    expect((await k.apply(ops)).map((r) => r.error)).toEqual([undefined, undefined, undefined, undefined]);
    const state = await k.read(['vxlan-weft']);
    expect(state.fdb).toEqual([]);
    expect(state.neigh).toEqual([]);
    expect(inHost('bridge', 'fdb', 'show', 'dev', 'vxlan-weft')).not.toContain('dst');

    await k.detach('vethc1');
    await k.detach('vethc1');
    expect(await k.ports('weft')).toEqual(['vethc2']);
    expect(ip('-n', C1, 'link', 'show')).not.toContain('ethwe');

    expect((await k.apply([{ op: 'link-del', name: 'vxlan-weft' }, { op: 'link-del', name: 'vxlan-weft' }])).map((r) => r.error)).toEqual([undefined, undefined]);
    expect((await k.read(['weft', 'vxlan-weft'])).links.map((l) => l.name)).toEqual(['weft']);
  });

  it('applies 10,000 FDB entries in one call', async () => {
    expect((await k.apply([{ op: 'link-add', link: VXLAN }])).map((r) => r.error)).toEqual([undefined]);
    const ops: KernelOp[] = [];
    for (let i = 0; i < 10_000; i++) {
      const mac = `02:aa:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      ops.push({ op: 'fdb-add', entry: { dev: 'vxlan-weft', mac, dst: `198.18.0.${2 + (i % 4)}` } });
    }
    const t0 = performance.now();
    const res = await k.apply(ops);
    const ms = performance.now() - t0;
    console.log(`10,000 fdb-add in one apply: ${ms.toFixed(0)} ms`);
    expect(res.filter((r) => r.error !== undefined)).toEqual([]);
    const t1 = performance.now();
    const state = await k.read(['vxlan-weft']);
    console.log(`read() of 10,000 FDB entries: ${(performance.now() - t1).toFixed(0)} ms`);
    expect(state.fdb).toHaveLength(10_000);
    expect(inHost('bridge', 'fdb', 'show', 'dev', 'vxlan-weft').split('\n').filter((l) => l.includes(' dst ')).length).toBe(10_000);
  });
});
