import { describe, expect, it } from 'vitest';
import { SAMPLE } from './memory-router.js';
import { diffPrevResult, mergeResult, toResult } from './result.js';


describe('results per version', () => {
  it('1.0.0: host veth and container interface, ips without version, no mtu', () => {
    expect(toResult(SAMPLE, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'vethwe12345678', mac: 'ee:00:00:00:00:01' },
        { name: 'eth0', mac: '02:42:0a:20:00:05', sandbox: '/run/netns/c1' },
      ],
      ips: [{ address: '10.32.0.5/12', gateway: '10.32.0.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.32.0.1' }],
      dns: {},
    });
  });

  it('1.1.0 adds the container interface\'s mtu; 0.3.1 and 0.4.0 carry "version" on each ip', () => {
    expect(toResult(SAMPLE, '1.1.0').interfaces[1]).toEqual({ name: 'eth0', mac: '02:42:0a:20:00:05', sandbox: '/run/netns/c1', mtu: 1410 });
    for (const v of ['0.3.1', '0.4.0'] as const) {
      const r = toResult(SAMPLE, v);
      expect(r.cniVersion).toBe(v);
      expect(r.ips).toEqual([{ version: '4', address: '10.32.0.5/12', gateway: '10.32.0.1', interface: 1 }]);
      expect(r.interfaces[1]!.mtu).toBeUndefined();
    }
  });

  it('leaves out a gateway it does not have, and a route without a next hop keeps no gw', () => {
    const r = toResult({ ...SAMPLE, gateway: undefined, routes: [{ dst: '10.32.0.0/12' }] }, '1.0.0');
    expect(r.ips).toEqual([{ address: '10.32.0.5/12', interface: 1 }]);
    expect(r.routes).toEqual([{ dst: '10.32.0.0/12' }]);
  });

  it('appends to a prevResult, shifting its interface indexes past the earlier ones', () => {
    const prev = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'lo', sandbox: '/run/netns/c1' }],
      ips: [{ version: '4', address: '127.0.0.1/8', interface: 0 }],
      routes: [{ dst: '127.0.0.0/8' }],
      dns: { nameservers: ['10.0.0.10'] },
    };
    const r = mergeResult(prev, SAMPLE, '1.0.0');
    expect(r.interfaces.map((i) => i.name)).toEqual(['lo', 'vethwe12345678', 'eth0']);
    expect(r.ips).toEqual([
      { address: '127.0.0.1/8', interface: 0 },
      { address: '10.32.0.5/12', gateway: '10.32.0.1', interface: 2 },
    ]);
    expect(r.routes).toEqual([{ dst: '127.0.0.0/8' }, { dst: '0.0.0.0/0', gw: '10.32.0.1' }]);
    expect(r.dns).toEqual({ nameservers: ['10.0.0.10'] });
    expect(mergeResult({ ...prev, ips: [{ address: '127.0.0.1/8', interface: 0 }] }, SAMPLE, '0.4.0').ips[0]).toEqual({ version: '4', address: '127.0.0.1/8', interface: 0 });
  });
});

describe('CHECK against prevResult', () => {
  it('agrees with its own ADD result in every version, also behind other plugins\' entries', () => {
    for (const v of ['0.4.0', '1.0.0', '1.1.0'] as const) {
      expect(diffPrevResult(toResult(SAMPLE, v) as unknown as Record<string, unknown>, SAMPLE)).toEqual([]);
      const merged = mergeResult({ interfaces: [{ name: 'lo' }], ips: [], routes: [] }, SAMPLE, v);
      expect(diffPrevResult(merged as unknown as Record<string, unknown>, SAMPLE)).toEqual([]);
    }
  });

  it('names each difference', () => {
    const prev = toResult(SAMPLE, '1.0.0') as unknown as Record<string, unknown>;
    expect(diffPrevResult(prev, { ...SAMPLE, mac: '02:00:00:00:00:09' })).toEqual([expect.stringContaining('MAC 02:00:00:00:00:09')]);
    expect(diffPrevResult(prev, { ...SAMPLE, cidrs: ['10.32.0.6/12'] })).toEqual([
      expect.stringContaining('has 10.32.0.6/12'),
      expect.stringContaining('lists 10.32.0.5/12'),
    ]);
    expect(diffPrevResult(prev, { ...SAMPLE, routes: [{ dst: '10.0.0.0/8', gw: '10.32.0.1' }] })).toEqual([expect.stringContaining('route 10.0.0.0/8')]);
    expect(diffPrevResult(prev, { ...SAMPLE, ifname: 'eth1' })[0]).toContain('no interface eth1');
  });
});
