import { describe, expect, it } from 'vitest';
import type { PeerName } from '../mesh/peer-name.js';
import { ZERO_MAC } from './desired.js';
import { BRIDGE, computeDesired, ownsLink, relayBridgeName, relayVni, relayVxlanName, VXLAN_DEV, type ForwardingInputs } from './forwarding.js';
import type { Path } from './paths.js';
import type { PeerRecord } from './peer-record.js';

const VNI = 0x5eb1;
const A = 0x02_00_00_00_00_0an;
const B = 0x02_00_00_00_00_0bn;
const C = 0x02_00_00_00_00_0cn;
const D = 0x02_00_00_00_00_0dn;
const addr = (n: PeerName): string => `198.18.0.${Number(n & 0xffn)}`;
const M1 = '0a:58:0a:20:00:01';
const M2 = '0a:58:0a:20:00:02';

function rec(name: PeerName, endpoints: PeerRecord['endpoints'] = [], o: Partial<PeerRecord> = {}): PeerRecord {
  return { name, version: 1n, gone: false, mtu: 1450, addresses: [addr(name)], bridgeMac: '02:00:00:00:00:00', direct: [], relays: [], serving: [], endpoints, ...o };
}
const direct = (n: PeerName): Path => ({ kind: 'direct', address: addr(n), reason: '' });

function inputs(records: PeerRecord[], paths: [PeerName, Path][], o: Partial<ForwardingInputs> = {}): ForwardingInputs {
  return { self: A, vni: VNI, port: 6784, mtu: 1450, bridgeMac: '02:00:00:00:00:0a', records, paths: new Map(paths), serving: new Map(), ...o };
}

describe('computeDesired', () => {
  it('always has the bridge and the VXLAN device (learning off, ARP proxy, no hairpin)', () => {
    const d = computeDesired(inputs([], []));
    expect(d.links).toEqual([
      { name: BRIDGE, kind: 'bridge', mtu: 1450, mac: '02:00:00:00:00:0a', up: true },
      { name: VXLAN_DEV, kind: 'vxlan', mtu: 1450, master: BRIDGE, up: true, vxlan: { vni: VNI, port: 6784, learning: false, proxy: true }, port: { hairpin: false, learning: false } },
    ]);
    expect(d.fdb).toEqual([]);
    expect(d.neigh).toEqual([]);
  });

  it('sends a direct peer its head-end entry, its MACs and answers ARP for its IPs', () => {
    const d = computeDesired(inputs([rec(B, [{ mac: M1, ips: ['10.32.0.1', '10.32.0.2'] }])], [[B, direct(B)]]));
    expect(d.fdb).toEqual([
      { dev: VXLAN_DEV, mac: ZERO_MAC, dst: addr(B), vni: undefined },
      { dev: VXLAN_DEV, mac: M1, dst: addr(B), vni: undefined },
    ]);
    expect(d.neigh).toEqual([
      { dev: VXLAN_DEV, ip: '10.32.0.1', mac: M1 },
      { dev: VXLAN_DEV, ip: '10.32.0.2', mac: M1 },
    ]);
  });

  it('sends relayed traffic to the relay with the destination relay VNI', () => {
    const d = computeDesired(inputs([rec(C, [{ mac: M1, ips: ['10.32.0.1'] }])], [[C, { kind: 'relay', via: B, address: addr(B), reason: '' }]]));
    expect(d.fdb).toEqual([
      { dev: VXLAN_DEV, mac: ZERO_MAC, dst: addr(B), vni: relayVni(C) },
      { dev: VXLAN_DEV, mac: M1, dst: addr(B), vni: relayVni(C) },
    ]);
    expect(d.neigh).toEqual([{ dev: VXLAN_DEV, ip: '10.32.0.1', mac: M1 }]);
  });

  it('installs nothing for ourselves, tombstones, peers without a path and peers with path none', () => {
    const records = [rec(A, [{ mac: M1, ips: ['10.32.0.1'] }]), rec(B, [{ mac: M2, ips: ['10.32.0.2'] }], { gone: true }), rec(C, [{ mac: '0a:58:0a:20:00:03', ips: [] }]), rec(D, [{ mac: '0a:58:0a:20:00:04', ips: [] }])];
    const d = computeDesired(inputs(records, [[A, direct(A)], [B, direct(B)], [D, { kind: 'none', reason: '' }]]));
    expect(d.fdb).toEqual([]);
    expect(d.neigh).toEqual([]);
  });

  it('gives a MAC or an IP claimed by two peers to the lowest name, whatever the input order', () => {
    const records = [rec(C, [{ mac: M1, ips: ['10.32.0.1'] }, { mac: M2, ips: ['10.32.0.9'] }]), rec(B, [{ mac: M1, ips: ['10.32.0.1'] }, { mac: '0a:58:0a:20:00:09', ips: ['10.32.0.9'] }])];
    const paths: [PeerName, Path][] = [[B, direct(B)], [C, direct(C)]];
    for (const rs of [records, [...records].reverse()]) {
      const d = computeDesired(inputs(rs, paths));
      expect(d.fdb.filter((e) => e.mac === M1)).toEqual([{ dev: VXLAN_DEV, mac: M1, dst: addr(B), vni: undefined }]);
      expect(d.fdb.find((e) => e.mac === M2)?.dst).toBe(addr(C));
      expect(d.neigh).toEqual([
        { dev: VXLAN_DEV, ip: '10.32.0.1', mac: M1 },
        { dev: VXLAN_DEV, ip: '10.32.0.9', mac: '0a:58:0a:20:00:09' },
      ]);
    }
  });

  it('lets the next claimant have a MAC when the lowest name has no path', () => {
    const d = computeDesired(inputs([rec(B, [{ mac: M1, ips: ['10.32.0.1'] }]), rec(C, [{ mac: M1, ips: ['10.32.0.1'] }])], [[C, direct(C)]]));
    expect(d.fdb.find((e) => e.mac === M1)?.dst).toBe(addr(C));
    expect(d.neigh).toEqual([{ dev: VXLAN_DEV, ip: '10.32.0.1', mac: M1 }]);
  });

  it('builds a hairpin relay bridge and port per served destination, sending on with the data VNI', () => {
    const d = computeDesired(inputs([], [], { serving: new Map([[D, addr(D)], [C, addr(C)]]) }));
    expect(d.links.slice(2)).toEqual([
      { name: 'wb-02000000000c', kind: 'bridge', mtu: 1450, up: true },
      { name: 'wx-02000000000c', kind: 'vxlan', mtu: 1450, master: 'wb-02000000000c', up: true, vxlan: { vni: relayVni(C), port: 6784, learning: false, proxy: false }, port: { hairpin: true, learning: false } },
      { name: 'wb-02000000000d', kind: 'bridge', mtu: 1450, up: true },
      { name: 'wx-02000000000d', kind: 'vxlan', mtu: 1450, master: 'wb-02000000000d', up: true, vxlan: { vni: relayVni(D), port: 6784, learning: false, proxy: false }, port: { hairpin: true, learning: false } },
    ]);
    expect(d.fdb).toEqual([
      { dev: 'wx-02000000000c', mac: ZERO_MAC, dst: addr(C), vni: VNI },
      { dev: 'wx-02000000000d', mac: ZERO_MAC, dst: addr(D), vni: VNI },
    ]);
  });
});

describe('relay names and VNIs', () => {
  it('sets the top VNI bit and keeps the low 23 bits of the name', () => {
    expect(relayVni(0n)).toBe(0x800000);
    expect(relayVni(0x02_00_00_00_00_0cn)).toBe(0x80000c);
    expect(relayVni(0xff_ff_ff_ff_ff_ffn)).toBe(0xffffff);
    expect(relayVni(0x12_34_56_80_00_01n)).toBe(0x800001);
    expect(relayVni(C)).toBeGreaterThan(VNI);
  });

  it('names relay devices within IFNAMSIZ and recognises only weft links', () => {
    expect(relayBridgeName(C)).toBe('wb-02000000000c');
    expect(relayVxlanName(C).length).toBeLessThanOrEqual(15);
    for (const n of [BRIDGE, VXLAN_DEV, relayBridgeName(C), relayVxlanName(D)]) expect(ownsLink(n)).toBe(true);
    for (const n of ['eth0', 'weft0', 'vethwe12345678', 'wb-02000000000', 'wy-02000000000c', 'wb-02000000000C']) expect(ownsLink(n)).toBe(false);
  });
});
