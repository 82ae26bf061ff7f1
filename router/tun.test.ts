// TUN and batched-UDP primitives against a real kernel, in a throwaway namespace:
//
//   ns wfU<pid>-tun:  lo 127.0.0.1 + 198.18.77.1/32      TUN wt0 (10.77.0.0/24 routed into it)
//     batched UDP socket ──sendBatch──► 10.77.0.x ──route──► wt0 ──readBatch──► test
//     test ──writeBatch (IPv4 src 198.18.77.2 → 198.18.77.1)──► wt0 ──local delivery──► recvBatch
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PacketBatch, ipv4Number, ipv4Text, openBatchUdp, openTun, type BatchUdp, type TunDevice } from './tun.js';
import { ipv4 } from '../test/harness/pcap.js';
import { canUseNetns } from '../test/harness/privileges.js';

describe('PacketBatch', () => {
  it('cuts one slab into slots with headroom and bounds its arguments', () => {
    const b = new PacketBatch(4, 256, 20);
    expect(b.slab.length).toBe(1024);
    b.lengths[2] = 10;
    b.slab[2 * 256 + 20] = 0xab;
    expect(b.packet(2)[0]).toBe(0xab);
    expect(b.packet(2).length).toBe(10);
    expect(b.packet(2, 0).length).toBe(10);
    b.lengths[1] = -22;
    expect(b.packet(1).length).toBe(0);
    expect(() => new PacketBatch(0)).toThrow(RangeError);
    expect(() => new PacketBatch(257)).toThrow(RangeError);
    expect(() => new PacketBatch(4, 256, 256)).toThrow(RangeError);
  });

  it('converts addresses both ways', () => {
    expect(ipv4Number('198.18.0.1')).toBe(0xc6120001);
    expect(ipv4Text(0xc6120001)).toBe('198.18.0.1');
    expect(() => ipv4Number('1.2.3')).toThrow(RangeError);
  });
});

const can = canUseNetns();
const ns = `wfU${process.pid}-tun`;
const nsPath = `/run/netns/${ns}`;

describe.skipIf(!can.ok)('a TUN device in a real kernel', () => {
  let tun: TunDevice;
  let udp: BatchUdp;
  const ip = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  const sysctl = (kv: string): void => void execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', kv]);

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    ip('link', 'set', 'lo', 'up');
    ip('addr', 'add', '198.18.77.1/32', 'dev', 'lo');
    tun = openTun({ name: 'wt0', netns: nsPath, persist: true });
    ip('link', 'set', 'wt0', 'up');
    ip('route', 'add', '10.77.0.0/24', 'dev', 'wt0');
    sysctl('net.ipv4.conf.all.rp_filter=0');
    sysctl('net.ipv4.conf.wt0.rp_filter=0');
    udp = openBatchUdp({ address: '198.18.77.1', port: 6783, netns: nsPath });
  });
  afterAll(() => {
    udp?.close();
    tun?.close({ remove: true });
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('sendBatch sends many datagrams in one call; readBatch returns them as whole IPv4 packets', () => {
    const out = new PacketBatch(8, 2048, 0);
    for (let i = 0; i < 5; i++) {
      out.slab.fill(i + 1, out.slotStart(i), out.slotStart(i) + 100 + i);
      out.lengths[i] = 100 + i;
      out.addrs[i] = ipv4Number(`10.77.0.${i + 1}`);
    }
    expect(udp.send(out, 5, 9999)).toBe(5);
    const got = new PacketBatch(8, 2048, 4);
    let n = 0;
    const seen: Buffer[] = [];
    while (n < 5) {
      const k = tun.read(got);
      if (k === 0) break; // the kernel queues synchronously on send; nothing more will come
      for (let i = 0; i < k; i++) seen.push(Buffer.from(got.packet(i)));
      n += k;
    }
    const udpPackets = seen.filter((p) => p[9] === 17);
    expect(udpPackets.length).toBe(5);
    udpPackets.forEach((p, i) => {
      expect(p[0]).toBe(0x45);
      expect(p.readUInt16BE(2)).toBe(p.length);
      expect(ipv4Text(p.readUInt32BE(12))).toBe('198.18.77.1');
      expect(ipv4Text(p.readUInt32BE(16))).toBe(`10.77.0.${i + 1}`);
      expect(p.readUInt16BE(22)).toBe(9999);
      expect(p.length).toBe(20 + 8 + 100 + i);
      expect(p[28]).toBe(i + 1);
    });
    expect(tun.read(got)).toBe(0);
  });

  it('sendBatch with gso: runs of equal-size datagrams to one address leave as UDP GSO and arrive as the same separate datagrams, in order', () => {
    const out = new PacketBatch(16, 2048, 0);
    // 6 × 300 bytes and a 120-byte tail to .9, then 2 to .10, then 3 × 300 to .9 again.
    const plan: [number, number][] = [...Array(6).fill([9, 300]), [9, 120], [10, 300], [10, 300], [9, 300], [9, 300], [9, 300]];
    plan.forEach(([host, len], i) => {
      out.slab.fill(0x20 + i, out.slotStart(i), out.slotStart(i) + len);
      out.lengths[i] = len;
      out.addrs[i] = ipv4Number(`10.77.0.${host}`);
    });
    expect(udp.send(out, plan.length, 9999, 0, true)).toBe(plan.length);
    const got = new PacketBatch(32, 2048, 0);
    const seen: Buffer[] = [];
    for (let k = tun.read(got); k > 0; k = tun.read(got)) for (let i = 0; i < k; i++) seen.push(Buffer.from(got.packet(i)));
    const udpPackets = seen.filter((p) => p[9] === 17);
    expect(udpPackets.map((p) => [Number(ipv4Text(p.readUInt32BE(16)).split('.')[3]), p.length - 28, p[28]! - 0x20])).toEqual(plan.map(([h, len], i) => [h, len, i]));
    // Each one is a whole, valid datagram: its UDP length matches and the last byte is still ours.
    for (const p of udpPackets) {
      expect(p.readUInt16BE(24)).toBe(p.length - 20);
      expect(p[p.length - 1]).toBe(p[28]);
    }
  });

  it('writeBatch injects packets the kernel delivers locally even though their source is routed elsewhere; malformed ones are marked', () => {
    const b = new PacketBatch(4, 2048, 0);
    for (let i = 0; i < 3; i++) {
      const udpHeader = Buffer.alloc(8);
      udpHeader.writeUInt16BE(40000 + i, 0);
      udpHeader.writeUInt16BE(6783, 2);
      udpHeader.writeUInt16BE(8 + 16, 4); // checksum 0: none
      const packet = ipv4({ src: '198.18.77.2', dst: '198.18.77.1', proto: 17 }, Buffer.concat([udpHeader, Buffer.alloc(16, 0x60 + i)]));
      packet.copy(b.slab, b.slotStart(i));
      b.lengths[i] = packet.length;
    }
    b.slab[b.slotStart(3)] = 0x45; // a 10-byte "IPv4" packet: rejected or dropped, never fatal
    b.lengths[3] = 10;
    expect(tun.write(b, 4)).toBe(4);
    const rx = new PacketBatch(8, 2048, 0);
    expect(udp.receive(rx)).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(ipv4Text(rx.addrs[i]!)).toBe('198.18.77.2');
      expect(rx.ports[i]).toBe(40000 + i);
      expect(rx.packet(i)).toEqual(Buffer.alloc(16, 0x60 + i));
    }
  });

  it('a persistent device outlives its file descriptor and drops what is routed to it while nobody reads', () => {
    const again = openTun({ name: 'wt1', netns: nsPath, persist: true });
    again.close();
    expect(ip('-d', 'link', 'show', 'wt1')).toMatch(/tun type tun pi off vnet_hdr off persist on/);
    ip('link', 'set', 'wt1', 'up');
    expect(ip('link', 'show', 'wt1')).toContain('NO-CARRIER');
    ip('route', 'add', '10.78.0.0/24', 'dev', 'wt1');
    const b = new PacketBatch(1, 2048, 0);
    b.lengths[0] = 10;
    b.addrs[0] = ipv4Number('10.78.0.1');
    udp.send(b, 1, 9);
    expect(ip('-s', '-j', 'link', 'show', 'wt1')).toMatch(/"tx":\{"bytes":0,"packets":0,"errors":0,"dropped":[1-9]/);
    const last = openTun({ name: 'wt1', netns: nsPath });
    last.close({ remove: true });
    expect(() => ip('link', 'show', 'wt1')).toThrow();
  });
});
