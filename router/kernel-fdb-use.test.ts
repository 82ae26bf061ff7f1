// The Kernel contract for fdbUse() (how long ago each static FDB entry forwarded a frame), run
// against the in-memory kernel (manual clock, MemoryKernel.transmit) and against the real kernel
// in a throwaway namespace (real time, a ping through the VXLAN device; root only):
//
//   <p>host   weft bridge 10.32.0.1/12 ── vxlan-weft (vni 42, nolearning, proxy), IPv6 off so
//             nothing but the ping leaves through it
//               02:00:00:00:00:09 dst 198.18.0.2      ← 10.32.0.9 (proxy ARP answers with this MAC)
//               02:00:00:00:00:08 dst 198.18.0.5      (no traffic)
//               00:00:00:00:00:00 dst 198.18.0.3      (head-end entry: listed, not compared — the
//                                                      kernel may flood something through it)
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import { canUseNetns } from '../test/harness/privileges.js';
import type { FdbEntry, FdbUse, Kernel, LinkSpec } from './kernel.js';
import { MemoryKernel } from './memory-kernel.js';
import { NetlinkKernel } from './netlink-kernel.js';

const BRIDGE: LinkSpec = { name: 'weft', kind: 'bridge', mtu: 1410, up: true };
const VXLAN: LinkSpec = {
  name: 'vxlan-weft', kind: 'vxlan', mtu: 1410, master: 'weft', up: true,
  vxlan: { vni: 42, port: 6784, learning: false, proxy: true }, port: { hairpin: false, learning: false },
};
const USED: FdbEntry = { dev: 'vxlan-weft', mac: '02:00:00:00:00:09', dst: '198.18.0.2' };
const IDLE: FdbEntry = { dev: 'vxlan-weft', mac: '02:00:00:00:00:08', dst: '198.18.0.5' };
const HEAD: FdbEntry = { dev: 'vxlan-weft', mac: '00:00:00:00:00:00', dst: '198.18.0.3' };
/** Time between programming the entries and the traffic. */
const WAIT_MS = 1_000;

interface Subject {
  kernel: Kernel;
  /** Lets WAIT_MS pass. */
  wait(): Promise<void>;
  /** Sends one frame to USED.mac through the VXLAN device. */
  traffic(): Promise<void>;
}

function contract(make: () => Promise<Subject>): void {
  let s: Subject;
  const find = (list: FdbUse[], e: FdbEntry): FdbUse => {
    const u = list.find((x) => x.mac === e.mac && x.dst === e.dst);
    if (!u) throw new Error(`no entry ${e.mac} dst ${e.dst} in ${JSON.stringify(list)}`);
    return u;
  };

  beforeAll(async () => {
    s = await make();
    const res = await s.kernel.apply([
      { op: 'link-add', link: BRIDGE },
      { op: 'link-add', link: VXLAN },
      { op: 'fdb-add', entry: USED },
      { op: 'fdb-add', entry: IDLE },
      { op: 'fdb-add', entry: HEAD },
      { op: 'neigh-add', entry: { dev: 'vxlan-weft', ip: '10.32.0.9', mac: USED.mac } },
    ]);
    expect(res.map((r) => r.error)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it('lists the static entries of the named VXLAN devices as read() does, with their age', async () => {
    const list = await s.kernel.fdbUse(['vxlan-weft', 'weft', 'absent']);
    const read = (await s.kernel.read(['vxlan-weft'])).fdb;
    expect(list.map(({ dev, mac, dst, vni }) => ({ dev, mac, dst, vni })).sort((a, b) => a.mac.localeCompare(b.mac))).toEqual(
      read.map((e) => ({ dev: e.dev, mac: e.mac, dst: e.dst, vni: e.vni })).sort((a, b) => a.mac.localeCompare(b.mac)),
    );
    // Being created counts as a use.
    for (const u of list) expect(u.usedAgoMs).toBeLessThan(WAIT_MS);
    expect(await s.kernel.fdbUse(['absent'])).toEqual([]);
  });

  it('an entry that forwarded a frame is younger than one that did not, by the time between; updated is not touched by traffic', async () => {
    await s.wait();
    const before = await s.kernel.fdbUse(['vxlan-weft']);
    for (const e of [USED, IDLE]) expect(find(before, e).usedAgoMs).toBeGreaterThanOrEqual(WAIT_MS - 20);
    await s.traffic();
    const after = await s.kernel.fdbUse(['vxlan-weft']);
    const used = find(after, USED);
    const idle = find(after, IDLE);
    expect(used.usedAgoMs).toBeLessThanOrEqual(idle.usedAgoMs - WAIT_MS / 2);
    expect(idle.usedAgoMs).toBeGreaterThanOrEqual(WAIT_MS - 20);
    expect(used.updatedAgoMs).toBeGreaterThanOrEqual(WAIT_MS - 20);
    // Asked for recent ones only: the used entry alone.
    expect((await s.kernel.fdbUse(['vxlan-weft'], WAIT_MS / 2)).map((e) => e.mac).filter((m) => m !== HEAD.mac)).toEqual([USED.mac]);
  });

  it('moving an entry to another destination is an update', async () => {
    const moved: FdbEntry = { ...USED, dst: '198.18.0.4' };
    expect((await s.kernel.apply([{ op: 'fdb-add', entry: moved }]))[0]!.error).toBeUndefined();
    const u = find(await s.kernel.fdbUse(['vxlan-weft']), moved);
    expect(u.updatedAgoMs).toBeLessThan(WAIT_MS / 2);
  });
}

describe('Kernel.fdbUse on the memory kernel', () => {
  contract(async () => {
    const clock = new ManualClock();
    const kernel = new MemoryKernel({ clock });
    return {
      kernel,
      wait: async () => clock.advance(WAIT_MS),
      traffic: async () => {
        expect(kernel.transmit('vxlan-weft', USED.mac)).toEqual([USED.dst]);
      },
    };
  });

  it('floods a frame for an unknown MAC to the head-end entries, which are then used', async () => {
    const clock = new ManualClock();
    const k = new MemoryKernel({ clock });
    await k.apply([{ op: 'link-add', link: BRIDGE }, { op: 'link-add', link: VXLAN }, { op: 'fdb-add', entry: HEAD }, { op: 'fdb-add', entry: USED }]);
    clock.advance(500);
    expect(k.transmit('vxlan-weft', '02:00:00:00:00:77')).toEqual([HEAD.dst]);
    const list = await k.fdbUse(['vxlan-weft']);
    expect(list.find((e) => e.mac === HEAD.mac)!.usedAgoMs).toBe(0);
    expect(list.find((e) => e.mac === USED.mac)!.usedAgoMs).toBe(500);
  });
});

const cap = canUseNetns();
const HOST = `wfU${process.pid}`;

describe.skipIf(!cap.ok)(`Kernel.fdbUse on the real kernel (netlink, in a namespace)${cap.ok ? '' : ` (skipped: ${cap.reason})`}`, () => {
  let k: NetlinkKernel | undefined;
  afterAll(() => {
    k?.close();
    try {
      execFileSync('ip', ['netns', 'del', HOST]);
    } catch {
      // not created
    }
  });

  contract(async () => {
    execFileSync('ip', ['netns', 'add', HOST]);
    const inHost = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', HOST, ...args], { encoding: 'utf8' });
    inHost('sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    k = new NetlinkKernel({ log: silentLogger(), netns: `/run/netns/${HOST}` });
    const kernel = k;
    return {
      kernel,
      wait: () => sleep(WAIT_MS),
      traffic: async () => {
        execFileSync('ip', ['-n', HOST, 'addr', 'replace', '10.32.0.1/12', 'dev', 'weft']);
        // No answer comes (198.18.0.2 does not exist); the echo request leaving is the use.
        try {
          inHost('ping', '-c', '1', '-W', '0.2', '10.32.0.9');
        } catch {
          // unanswered, as expected
        }
      },
    };
  });
});
