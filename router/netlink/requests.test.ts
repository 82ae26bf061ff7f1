// Request payloads byte for byte, expectations written from the UAPI struct layouts
// (ndmsg, ifinfomsg, nlattr), and the decoders on kernel-shaped messages.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeAttrs, str, u32, u8, nested, bytes } from './attrs.js';
import { AF_BRIDGE, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTM_DELNEIGH, RTM_NEWLINK, RTM_NEWNEIGH, RTM_SETLINK } from './constants.js';
import { decodeAddr, decodeLink, decodeNeigh, decodeRoute, ifaddrmsg, ndmsg, rtmsg } from './messages.js';
import * as rq from './requests.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('request payloads', () => {
  it('fdb-add: ndmsg AF_BRIDGE, NUD_PERMANENT, NTF_SELF, lladdr, dst, vni', () => {
    const r = rq.newFdb(5, { dev: 'vxlan-weft', mac: '02:00:00:00:00:01', dst: '198.18.0.3', vni: 77 });
    expect(r.type).toBe(RTM_NEWNEIGH);
    expect(r.flags).toBe(NLM_F_CREATE | NLM_F_REPLACE);
    expect(hex(r.payload)).toBe(
      '07' + '00' + '0000' + '05000000' + '8000' + '02' + '00' + // family pad pad ifindex state flags type
        '0a000200' + '020000000001' + '0000' + // NDA_LLADDR, padded
        '08000100' + 'c6120003' + // NDA_DST 198.18.0.3
        '08000700' + '4d000000', // NDA_VNI 77
    );
  });

  it('fdb-add of the all-zero MAC appends to the head-end list; fdb-del carries the same match', () => {
    const e = { dev: 'v', mac: '00:00:00:00:00:00', dst: '198.18.0.2' };
    expect(rq.newFdb(5, e).flags).toBe(NLM_F_CREATE | NLM_F_APPEND);
    const del = rq.delFdb(5, e);
    expect(del.type).toBe(RTM_DELNEIGH);
    expect(hex(del.payload)).toBe('07000000' + '05000000' + '8000' + '0200' + '0a000200' + '000000000000' + '0000' + '08000100' + 'c6120002');
  });

  it('port flags: AF_BRIDGE SETLINK with a nested IFLA_PROTINFO', () => {
    const r = rq.setPortFlags(9, { hairpin: true, learning: false });
    expect(r.type).toBe(RTM_SETLINK);
    expect(hex(r.payload)).toBe(
      '07' + '00' + '0000' + '09000000' + '00000000' + '00000000' + // ifinfomsg
        '14000c80' + // IFLA_PROTINFO | NLA_F_NESTED, len 4 + 2×8
        '05000400' + '01000000' + // IFLA_BRPORT_MODE = hairpin
        '05000800' + '00000000', // IFLA_BRPORT_LEARNING = 0
    );
  });

  it('vxlan link-add: CREATE|EXCL, up, INFO_DATA with a big-endian port', () => {
    const r = rq.newLink({ name: 'vxlan-weft', kind: 'vxlan', mtu: 1410, master: 'weft', up: true, vxlan: { vni: 42, port: 6784, learning: false, proxy: true } }, 3);
    expect([r.type, r.flags]).toEqual([RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL]);
    expect(hex(r.payload.subarray(0, 16))).toBe('00000000' + '00000000' + '01000000' + '01000000');
    const data = encodeAttrs([u32(1, 42), bytes(15, Buffer.from([0x1a, 0x80])), u8(7, 0), u8(11, 1)]);
    expect(hex(r.payload)).toContain(hex(data));
    expect(decodeLink(r.payload)).toEqual({
      ok: true,
      value: { family: 0, index: 0, flags: 1, name: 'vxlan-weft', mtu: 1410, master: 3, kind: 'vxlan', vxlan: { vni: 42, port: 6784, learning: false, proxy: true } },
    });
  });

  it('veth: the peer is an ifinfomsg with name, mtu and the namespace fd inside VETH_INFO_PEER', () => {
    const r = rq.newVeth({ hostIfname: 'vethwe1', ifname: 'ethwe', mtu: 1410 }, 3, 42);
    const peer = Buffer.concat([Buffer.alloc(16), encodeAttrs([str(3, 'ethwe'), u32(4, 1410), u32(28, 42)])]);
    const linkinfo = encodeAttrs([nested(18, [str(1, 'veth'), nested(2, [bytes(1, peer)])])]);
    expect(hex(r.payload)).toBe(hex(Buffer.concat([Buffer.from('0000000000000000' + '01000000' + '01000000', 'hex'),
      encodeAttrs([str(3, 'vethwe1'), u32(4, 1410), u32(10, 3)]), linkinfo])));
  });

  it('address and link route', () => {
    expect(hex(rq.newAddr(4, '10.32.0.1/12').payload)).toBe('020c0000' + '04000000' + '08000200' + '0a200001' + '08000100' + '0a200001');
    expect(hex(rq.newLinkRoute(4, '10.0.0.0/8').payload)).toBe('02080000' + 'fe03fd01' + '00000000' + '08000100' + '0a000000' + '08000400' + '04000000');
    expect(() => rq.newAddr(4, '10.32.0.1/33')).toThrow(/CIDR/);
    expect(() => rq.newFdb(4, { dev: 'v', mac: '02:00', dst: '1.2.3.4' })).toThrow(/MAC/);
  });
});

describe('decoders', () => {
  it('decodes an FDB entry of a VXLAN device', () => {
    const p = ndmsg({ family: AF_BRIDGE, ifindex: 5, state: 0x80, flags: 0x02 }, [
      bytes(2, Buffer.from('020000000001', 'hex')), bytes(1, Buffer.from([198, 18, 0, 3])), u32(7, 77), u32(9, 3),
    ]);
    expect(decodeNeigh(p)).toEqual({ ok: true, value: { family: 7, ifindex: 5, state: 0x80, flags: 2, lladdr: '02:00:00:00:00:01', dst: '198.18.0.3', vni: 77, master: 3 } });
  });

  it('decodes a bridge port from an AF_BRIDGE link dump', () => {
    const p = Buffer.concat([Buffer.from('07000100' + '09000000' + '43100100' + '00000000', 'hex'),
      encodeAttrs([str(3, 'vethc1'), u32(4, 1410), bytes(1, Buffer.from('62c59ef0a376', 'hex')), u32(10, 3), u8(16, 6), nested(12, [u8(4, 1), u8(8, 0)])])]);
    expect(decodeLink(p)).toEqual({
      ok: true,
      value: { family: 7, index: 9, flags: 0x11043, name: 'vethc1', mtu: 1410, mac: '62:c5:9e:f0:a3:76', master: 3, operstate: 6, port: { hairpin: true, learning: false } },
    });
  });

  it('decodes addresses and routes (with an RTAX_MTU metric)', () => {
    const a = ifaddrmsg({ family: 2, prefixlen: 24, scope: 0, index: 2 }, [bytes(2, Buffer.from([198, 18, 0, 1])), str(3, 'u0')]);
    expect(decodeAddr(a)).toEqual({ ok: true, value: { family: 2, prefixlen: 24, scope: 0, index: 2, local: '198.18.0.1', label: 'u0' } });
    const r = rtmsg({ family: 2, dstLen: 32, table: 254, protocol: 0, scope: 0, type: 1 }, [
      bytes(1, Buffer.from([198, 18, 0, 7])), u32(4, 2), bytes(7, Buffer.from([198, 18, 0, 1])), nested(8, [u32(2, 1400)]),
    ]);
    expect(decodeRoute(r)).toEqual({ ok: true, value: { family: 2, dstLen: 32, table: 254, protocol: 0, scope: 0, type: 1, dst: '198.18.0.7', oif: 2, prefsrc: '198.18.0.1', mtu: 1400 } });
  });

  it('returns a reason for short headers and bad attributes, never throws on random bytes', () => {
    expect(decodeLink(Buffer.alloc(10))).toMatchObject({ ok: false, reason: expect.stringMatching(/ifinfomsg/) });
    expect(decodeNeigh(Buffer.concat([Buffer.alloc(12), Buffer.from('ff000100', 'hex')]))).toMatchObject({ ok: false });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (u) => {
        const b = Buffer.from(u);
        for (const d of [decodeLink, decodeNeigh, decodeAddr, decodeRoute]) d(b);
      }),
    );
  });
});
