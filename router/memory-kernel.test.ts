import { describe, expect, it } from 'vitest';
import type { KernelOp, LinkSpec } from './kernel.js';
import { MemoryKernel } from './memory-kernel.js';

const bridge: LinkSpec = { name: 'weft', kind: 'bridge', mtu: 1410, up: true };
const vxlan: LinkSpec = {
  name: 'vxlan-weft',
  kind: 'vxlan',
  mtu: 1410,
  up: true,
  master: 'weft',
  vxlan: { vni: 1, port: 6784, learning: false, proxy: true },
};
const base: KernelOp[] = [
  { op: 'link-add', link: bridge },
  { op: 'link-add', link: vxlan },
];

async function withBase(): Promise<MemoryKernel> {
  const k = new MemoryKernel();
  const r = await k.apply(base);
  expect(r.every((x) => x.error === undefined)).toBe(true);
  return k;
}

describe('MemoryKernel links', () => {
  it('renders links like ip link and refuses a second link of the same name', async () => {
    const k = await withBase();
    const [r] = await k.apply([{ op: 'link-add', link: { ...bridge, mtu: 1500 } }]);
    expect(r?.error).toBe('EEXIST');
    expect(k.render()).toBe(
      [
        'link vxlan-weft vxlan id 1 dstport 6784 nolearning proxy master weft mtu 1410 up',
        'link weft bridge mtu 1410 up',
      ].join('\n'),
    );
  });

  it('needs the master to exist and be a bridge, and names to fit IFNAMSIZ', async () => {
    const k = new MemoryKernel();
    const r = await k.apply([
      { op: 'link-add', link: vxlan },
      { op: 'link-add', link: { ...vxlan, name: 'vx2', master: undefined } },
      { op: 'link-add', link: { ...vxlan, name: 'vx3', master: 'vx2' } },
      { op: 'link-add', link: { ...bridge, name: 'a-name-too-long!' } },
    ]);
    expect(r.map((x) => x.error)).toEqual(['ENODEV', undefined, 'EOPNOTSUPP', 'EINVAL']);
  });

  it('reads back the kernel MAC, an index and default port flags', async () => {
    const k = await withBase();
    const { links } = await k.read(['weft', 'vxlan-weft', 'missing']);
    expect(links.map((l) => [l.name, l.index])).toEqual([
      ['vxlan-weft', 2],
      ['weft', 1],
    ]);
    expect(links[0]?.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(links[0]?.port).toEqual({ hairpin: false, learning: true });
    expect(links[1]?.port).toBeUndefined();
  });

  it('link-set changes mtu, master, up and port flags in place', async () => {
    const k = await withBase();
    const before = (await k.read(['vxlan-weft'])).links[0];
    await k.apply([{ op: 'link-set', link: { ...vxlan, mtu: 1376, up: false, port: { hairpin: true, learning: false } } }]);
    const after = (await k.read(['vxlan-weft'])).links[0];
    expect(after?.index).toBe(before?.index);
    expect(k.render()).toContain('link vxlan-weft vxlan id 1 dstport 6784 nolearning proxy master weft hairpin on learning off mtu 1376 down');
    await k.apply([{ op: 'link-set', link: { ...vxlan, master: undefined } }]);
    expect((await k.read(['vxlan-weft'])).links[0]?.port).toBeUndefined();
  });

  it('deleting a link removes its entries and releases its ports', async () => {
    const k = await withBase();
    await k.apply([
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: '02:00:00:00:00:01', dst: '198.18.0.2' } },
      { op: 'neigh-add', entry: { dev: 'vxlan-weft', ip: '10.32.0.5', mac: '02:00:00:00:00:01' } },
      { op: 'link-del', name: 'weft' },
    ]);
    expect(k.render()).toBe(
      [
        'link vxlan-weft vxlan id 1 dstport 6784 nolearning proxy mtu 1410 up',
        '02:00:00:00:00:01 dev vxlan-weft dst 198.18.0.2 self permanent',
        '10.32.0.5 dev vxlan-weft lladdr 02:00:00:00:00:01 PERMANENT',
      ].join('\n'),
    );
    await k.apply([{ op: 'link-del', name: 'vxlan-weft' }]);
    expect(k.render()).toBe('');
    expect(await k.read(['vxlan-weft'])).toEqual({ links: [], fdb: [], neigh: [] });
  });

  it('reads are copies', async () => {
    const k = await withBase();
    const s = await k.read(['vxlan-weft']);
    if (s.links[0]?.vxlan !== undefined) s.links[0].vxlan.vni = 99;
    expect(k.render()).toContain('vxlan id 1 ');
  });
});

describe('MemoryKernel FDB and neighbours', () => {
  it('replaces a MAC entry per (dev, mac) and shows a VNI only when it differs from the device', async () => {
    const k = await withBase();
    const mac = '02:00:00:00:00:01';
    await k.apply([
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac, dst: '198.18.0.2' } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac, dst: '198.18.0.3', vni: 8388609 } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: '02:00:00:00:00:02', dst: '198.18.0.3', vni: 1 } },
    ]);
    expect(k.render().split('\n').slice(2)).toEqual([
      '02:00:00:00:00:01 dev vxlan-weft dst 198.18.0.3 self permanent vni 8388609',
      '02:00:00:00:00:02 dev vxlan-weft dst 198.18.0.3 self permanent',
    ]);
  });

  it('appends all-zero MAC entries per (dst, VNI); a delete matches the VNI too', async () => {
    const k = await withBase();
    const zero = '00:00:00:00:00:00';
    const r = await k.apply([
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.2' } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.3' } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.3', vni: 1 } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.3', vni: 7 } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.2', vni: 7 } },
      { op: 'fdb-del', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.2', vni: 8 } },
      { op: 'fdb-del', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.2', vni: 7 } },
      { op: 'fdb-del', entry: { dev: 'vxlan-weft', mac: zero, dst: '198.18.0.9' } },
    ]);
    expect(r.map((x) => x.error)).toEqual([undefined, undefined, undefined, undefined, undefined, 'ENOENT', undefined, 'ENOENT']);
    expect(k.render().split('\n').slice(2)).toEqual([
      '00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.2 self permanent',
      '00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.3 self permanent',
      '00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.3 self permanent vni 7',
    ]);
  });

  it('needs a VXLAN device for FDB entries and an existing device for neighbours', async () => {
    const k = await withBase();
    const r = await k.apply([
      { op: 'fdb-add', entry: { dev: 'nope', mac: '02:00:00:00:00:01', dst: '198.18.0.2' } },
      { op: 'fdb-add', entry: { dev: 'weft', mac: '02:00:00:00:00:01', dst: '198.18.0.2' } },
      { op: 'neigh-add', entry: { dev: 'nope', ip: '10.32.0.1', mac: '02:00:00:00:00:01' } },
      { op: 'neigh-del', entry: { dev: 'vxlan-weft', ip: '10.32.0.1', mac: '02:00:00:00:00:01' } },
    ]);
    expect(r.map((x) => x.error)).toEqual(['ENODEV', 'EOPNOTSUPP', 'ENODEV', 'ENOENT']);
  });

  it('keys neighbours by (dev, ip) and replaces the MAC', async () => {
    const k = await withBase();
    await k.apply([
      { op: 'neigh-add', entry: { dev: 'vxlan-weft', ip: '10.32.0.5', mac: '02:00:00:00:00:05' } },
      { op: 'neigh-add', entry: { dev: 'vxlan-weft', ip: '10.32.0.5', mac: '02:00:00:00:00:06' } },
    ]);
    expect((await k.read(['vxlan-weft'])).neigh).toEqual([{ dev: 'vxlan-weft', ip: '10.32.0.5', mac: '02:00:00:00:00:06' }]);
  });
});

describe('MemoryKernel batches, counters, failure injection and watch', () => {
  it('continues a batch after a failing op and counts ops and round trips', async () => {
    const k = new MemoryKernel({ failOp: (_op, n) => (n === 1 ? 'EIO' : undefined) });
    const r = await k.apply([...base, { op: 'link-add', link: { ...bridge, name: 'weft2' } }]);
    expect(r.map((x) => x.error)).toEqual([undefined, 'EIO', undefined]);
    expect(k.applied).toBe(2);
    expect(k.roundTrips).toBe(1);
    expect(k.render()).not.toContain('vxlan-weft');
  });

  it('calls watchers on a change until unsubscribed', async () => {
    const k = new MemoryKernel();
    let calls = 0;
    const stop = k.watch(() => calls++);
    await k.apply(base);
    await k.apply([{ op: 'link-add', link: bridge }]);
    expect(calls).toBe(1);
    k.changed();
    stop();
    await k.apply([{ op: 'link-del', name: 'vxlan-weft' }]);
    expect(calls).toBe(2);
  });
});

describe('MemoryKernel attachments, addresses and routes', () => {
  const spec = {
    hostIfname: 'vethwe1',
    bridge: 'weft',
    netns: '/run/netns/c1',
    ifname: 'ethwe',
    mtu: 1410,
    addresses: ['10.32.0.5/12'],
    routes: [],
  };

  it('attaches idempotently, lists ports and the MACs learnt on them', async () => {
    const k = await withBase();
    await expect(k.attach({ ...spec, bridge: 'nobridge' })).rejects.toThrow(/ENODEV/);
    const a = await k.attach(spec);
    expect(await k.attach(spec)).toEqual(a);
    expect(await k.ports('weft')).toEqual(['vethwe1']);
    k.learn('vethwe1', a.mac);
    k.learn('vxlan-weft', '02:00:00:00:00:09');
    expect(await k.bridgeMacs('weft')).toEqual([{ mac: a.mac, port: 'vethwe1' }]);
    expect(k.attachment('vethwe1')?.addresses).toEqual(['10.32.0.5/12']);
    await k.detach('vethwe1');
    await k.detach('vethwe1');
    expect(await k.ports('weft')).toEqual([]);
    expect(await k.bridgeMacs('weft')).toEqual([]);
  });

  it('a deleted bridge releases its veth ports', async () => {
    const k = await withBase();
    await k.attach(spec);
    await k.apply([{ op: 'link-del', name: 'weft' }]);
    expect(await k.ports('weft')).toEqual([]);
    expect(k.render()).toContain('link vethwe1 veth mtu 1410 up');
  });

  it('keeps addresses per device', async () => {
    const k = await withBase();
    await k.addAddress('weft', '10.32.0.1/12');
    await k.addAddress('weft', '10.32.0.1/12');
    await expect(k.addAddress('nope', '10.32.0.1/12')).rejects.toThrow(/ENODEV/);
    await expect(k.addAddress('weft', '10.32.0.1')).rejects.toThrow(/EINVAL/);
    expect(await k.addresses('weft')).toEqual(['10.32.0.1/12']);
    expect(k.render()).toContain('inet 10.32.0.1/12 dev weft');
    await k.delAddress('weft', '10.32.0.1/12');
    await k.delAddress('weft', '10.32.0.1/12');
    expect(await k.addresses('weft')).toEqual([]);
  });

  it('answers routeTo by longest prefix', async () => {
    const k = new MemoryKernel();
    k.setRoute('0.0.0.0/0', { dev: 'eth0', mtu: 1500, src: '192.0.2.1' });
    k.setRoute('198.18.0.0/15', { dev: 'eth1', mtu: 9000, src: '198.18.0.1' });
    expect(await k.routeTo('198.19.255.255')).toEqual({ dev: 'eth1', mtu: 9000, src: '198.18.0.1' });
    expect(await k.routeTo('198.20.0.1')).toEqual({ dev: 'eth0', mtu: 1500, src: '192.0.2.1' });
    expect(await k.routeTo('not-an-ip')).toBeUndefined();
    expect(await new MemoryKernel().routeTo('198.18.0.1')).toBeUndefined();
  });
});
