// PeerActivity on the memory kernel: which peers carry traffic, from when each forwarding entry
// last forwarded a frame (MemoryKernel.transmit stands in for the kernel forwarding one).
//
//   vxlan-weft: 02:00:00:00:0a:01 → peer A (direct, 198.18.0.2)
//               02:00:00:00:0b:01 → peer B (relayed via 198.18.0.2, its relay VNI)
//               00:00:00:00:00:00 → 198.18.0.2, 198.18.0.3 (head-end)
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { PeerActivity } from './activity.js';
import type { LinkSpec } from './kernel.js';
import { MemoryKernel } from './memory-kernel.js';

const A: PeerName = 0x0an;
const B: PeerName = 0x0bn;
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0b:01';
const VXLAN: LinkSpec = { name: 'vxlan-weft', kind: 'vxlan', mtu: 1450, up: true, vxlan: { vni: 42, port: 6784, learning: false, proxy: true } };

describe('PeerActivity', () => {
  let clock: ManualClock;
  let kernel: MemoryKernel;
  let activity: PeerActivity;
  let reported: PeerName[][];

  beforeEach(async () => {
    clock = new ManualClock();
    kernel = new MemoryKernel({ clock });
    await kernel.apply([
      { op: 'link-add', link: VXLAN },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: MAC_A, dst: '198.18.0.2' } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: MAC_B, dst: '198.18.0.2', vni: 0x80000b } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: '00:00:00:00:00:00', dst: '198.18.0.2' } },
      { op: 'fdb-add', entry: { dev: 'vxlan-weft', mac: '00:00:00:00:00:00', dst: '198.18.0.3' } },
    ]);
    reported = [];
    const owners = new Map([[MAC_A, A], [MAC_B, B]]);
    activity = new PeerActivity({
      kernel, clock, log: silentLogger(), dev: 'vxlan-weft', pollMs: 1000, activeMs: 10_000,
      ownerOf: (mac) => owners.get(mac),
      onChange: (s) => reported.push([...s].sort()),
    });
    activity.start();
  });

  it('a freshly programmed entry is no traffic: nobody is active until a frame is forwarded', async () => {
    await activity.poll();
    expect([...activity.active()]).toEqual([]);
    expect(reported).toEqual([]);
  });

  it('the owner of a used entry is active (also through a relay) until activeMs without traffic', async () => {
    clock.advance(500);
    kernel.transmit('vxlan-weft', MAC_B);
    await activity.poll();
    expect([...activity.active()]).toEqual([B]);
    kernel.transmit('vxlan-weft', MAC_A);
    await activity.poll();
    expect(reported).toEqual([[B], [A, B]]);
    clock.advance(10_500);
    await activity.poll();
    expect(reported.at(-1)).toEqual([]);
  });

  it('broadcasts (head-end entries) make no peer active', async () => {
    clock.advance(500);
    expect(kernel.transmit('vxlan-weft', 'ff:ff:ff:ff:ff:ff')).toEqual(['198.18.0.2', '198.18.0.3']);
    await activity.poll();
    expect(reported).toEqual([]);
  });

  it('polls on its own every pollMs and stops on stop()', async () => {
    clock.advance(500);
    kernel.transmit('vxlan-weft', MAC_A);
    clock.advance(500);
    await Promise.resolve();
    await Promise.resolve();
    expect(reported).toEqual([[A]]);
    activity.stop();
    clock.advance(20_000);
    await Promise.resolve();
    expect(reported).toEqual([[A]]);
  });
});
