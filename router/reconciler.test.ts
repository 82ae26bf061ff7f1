import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../lib/log.js';
import { ZERO_MAC, type DesiredState } from './desired.js';
import type { FdbEntry, KernelOp, LinkSpec, NeighEntry } from './kernel.js';
import { MemoryKernel } from './memory-kernel.js';
import { Reconciler } from './reconciler.js';

const MAC1 = '02:00:00:00:00:01';
const MAC2 = '02:00:00:00:00:02';
const MAC3 = '02:00:00:00:00:03';
const PEER_A = '198.18.0.2';
const PEER_B = '198.18.0.3';
const PEER_C = '198.18.0.4';

const bridge: LinkSpec = { name: 'weft', kind: 'bridge', mtu: 1410, up: true };
const vxlan: LinkSpec = {
  name: 'vxlan-weft',
  kind: 'vxlan',
  mtu: 1410,
  up: true,
  master: 'weft',
  vxlan: { vni: 1, port: 6784, learning: false, proxy: true },
  port: { hairpin: false, learning: false },
};
const relay: LinkSpec = {
  name: 'vxlan-wr1',
  kind: 'vxlan',
  mtu: 1410,
  up: true,
  vxlan: { vni: 2, port: 6784, learning: false, proxy: false },
};

const fdb = (dev: string, mac: string, dst: string, vni?: number): FdbEntry =>
  vni === undefined ? { dev, mac, dst } : { dev, mac, dst, vni };
const neigh = (dev: string, ip: string, mac: string): NeighEntry => ({ dev, ip, mac });

/** Bridge, VXLAN device and relay device; head-end entries, MAC entries with and without VNI. */
function fullState(): DesiredState {
  return {
    links: [bridge, vxlan, relay],
    fdb: [
      fdb('vxlan-weft', ZERO_MAC, PEER_A),
      fdb('vxlan-weft', ZERO_MAC, PEER_B),
      fdb('vxlan-wr1', ZERO_MAC, PEER_C),
      fdb('vxlan-weft', MAC1, PEER_A),
      fdb('vxlan-weft', MAC2, PEER_B, 8388609),
      fdb('vxlan-wr1', MAC3, PEER_C),
    ],
    neigh: [neigh('vxlan-weft', '10.32.0.1', MAC1), neigh('vxlan-weft', '10.32.0.2', MAC2)],
  };
}

const FULL_RENDER = [
  'link vxlan-weft vxlan id 1 dstport 6784 nolearning proxy master weft learning off mtu 1410 up',
  'link vxlan-wr1 vxlan id 2 dstport 6784 nolearning mtu 1410 up',
  'link weft bridge mtu 1410 up',
  '00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.2 self permanent',
  '00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.3 self permanent',
  '00:00:00:00:00:00 dev vxlan-wr1 dst 198.18.0.4 self permanent',
  '02:00:00:00:00:01 dev vxlan-weft dst 198.18.0.2 self permanent',
  '02:00:00:00:00:02 dev vxlan-weft dst 198.18.0.3 self permanent vni 8388609',
  '02:00:00:00:00:03 dev vxlan-wr1 dst 198.18.0.4 self permanent',
  '10.32.0.1 dev vxlan-weft lladdr 02:00:00:00:00:01 PERMANENT',
  '10.32.0.2 dev vxlan-weft lladdr 02:00:00:00:00:02 PERMANENT',
].join('\n');

function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'info',
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  });
  return { log, lines };
}

async function setup(state = fullState()) {
  const kernel = new MemoryKernel();
  const { log, lines } = capturingLog();
  const rec = new Reconciler({ kernel, log });
  const first = await rec.reconcile(state);
  expect(first.failed).toEqual([]);
  return { kernel, rec, lines, first };
}

const kinds = (ops: KernelOp[]) => ops.map((o) => o.op);

describe('Reconciler golden states', () => {
  it('builds the full state in one ordered batch and renders it exactly', async () => {
    const { kernel, first } = await setup();
    expect(kernel.render()).toBe(FULL_RENDER);
    expect(kernel.roundTrips).toBe(1);
    expect(kinds(first.ops)).toEqual([
      'link-add', 'link-add', 'link-add',
      'fdb-add', 'fdb-add', 'fdb-add', 'fdb-add', 'fdb-add', 'fdb-add',
      'neigh-add', 'neigh-add',
    ]);
    expect(first.ops[0]).toEqual({ op: 'link-add', link: bridge });
  });

  it('applying the same state twice reads once and applies nothing', async () => {
    const { kernel, rec } = await setup();
    const reads = kernel.reads;
    const applied = kernel.applied;
    const again = await rec.reconcile(fullState());
    expect(again).toEqual({ ops: [], failed: [] });
    expect(kernel.reads).toBe(reads + 1);
    expect(kernel.roundTrips).toBe(1);
    expect(kernel.applied).toBe(applied);
  });

  it('gives the same batch for the same state in any input order', async () => {
    const s = fullState();
    const reversed: DesiredState = { links: [...s.links].reverse(), fdb: [...s.fdb].reverse(), neigh: [...s.neigh].reverse() };
    const a = await new Reconciler({ kernel: new MemoryKernel(), log: silentLogger() }).reconcile(s);
    const b = await new Reconciler({ kernel: new MemoryKernel(), log: silentLogger() }).reconcile(reversed);
    expect(b.ops).toEqual(a.ops);
  });

  it('a MAC that moves to another peer is one replacing fdb-add', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.fdb[3] = fdb('vxlan-weft', MAC1, PEER_B);
    const r = await rec.reconcile(s);
    expect(r.ops).toEqual([{ op: 'fdb-add', entry: fdb('vxlan-weft', MAC1, PEER_B) }]);
    expect(kernel.render()).toContain('02:00:00:00:00:01 dev vxlan-weft dst 198.18.0.3 self permanent');
  });

  it('a removed peer loses its head-end entry, MAC entries and neighbours, neighbours first', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.fdb = s.fdb.filter((e) => e.dst !== PEER_B);
    s.neigh = s.neigh.filter((e) => e.mac !== MAC2);
    const r = await rec.reconcile(s);
    expect(r.ops).toEqual([
      { op: 'neigh-del', entry: neigh('vxlan-weft', '10.32.0.2', MAC2) },
      { op: 'fdb-del', entry: fdb('vxlan-weft', ZERO_MAC, PEER_B) },
      { op: 'fdb-del', entry: fdb('vxlan-weft', MAC2, PEER_B, 8388609) },
    ]);
    expect(kernel.render()).not.toContain('198.18.0.3');
  });

  it('an address that moves to a new MAC: new FDB entry, then the neighbour, then the old entry goes', async () => {
    const { rec } = await setup();
    const s = fullState();
    s.fdb = s.fdb.filter((e) => e.mac !== MAC1);
    s.fdb.push(fdb('vxlan-weft', '02:00:00:00:00:11', PEER_A));
    s.neigh[0] = neigh('vxlan-weft', '10.32.0.1', '02:00:00:00:00:11');
    const r = await rec.reconcile(s);
    expect(kinds(r.ops)).toEqual(['fdb-add', 'neigh-add', 'fdb-del']);
  });

  it('a head-end entry whose VNI changes is added anew before the old one goes; a MAC entry is replaced', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.fdb[0] = fdb('vxlan-weft', ZERO_MAC, PEER_A, 8388610);
    s.fdb[4] = fdb('vxlan-weft', MAC2, PEER_B);
    const r = await rec.reconcile(s);
    expect(r.ops).toEqual([
      { op: 'fdb-add', entry: fdb('vxlan-weft', ZERO_MAC, PEER_A, 8388610) },
      { op: 'fdb-add', entry: fdb('vxlan-weft', MAC2, PEER_B) },
      { op: 'fdb-del', entry: fdb('vxlan-weft', ZERO_MAC, PEER_A) },
    ]);
    expect(r.failed).toEqual([]);
    const text = kernel.render();
    expect(text).toContain('00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.2 self permanent vni 8388610');
    expect(text).not.toContain('00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.2 self permanent\n');
    expect(text).toContain('02:00:00:00:00:02 dev vxlan-weft dst 198.18.0.3 self permanent\n');
  });

  it('floods to the same peer on the device VNI and on a relay VNI', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.fdb.push(fdb('vxlan-weft', ZERO_MAC, PEER_A, 8388611));
    expect((await rec.reconcile(s)).ops).toEqual([{ op: 'fdb-add', entry: fdb('vxlan-weft', ZERO_MAC, PEER_A, 8388611) }]);
    expect(kernel.render()).toContain('00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.2 self permanent\n');
    expect(kernel.render()).toContain('00:00:00:00:00:00 dev vxlan-weft dst 198.18.0.2 self permanent vni 8388611\n');
    expect((await rec.reconcile(s)).ops).toEqual([]);
  });

  it('an entry VNI equal to the device VNI is the same entry as no VNI', async () => {
    const { rec } = await setup();
    const s = fullState();
    s.fdb[3] = fdb('vxlan-weft', MAC1, PEER_A, 1);
    expect((await rec.reconcile(s)).ops).toEqual([]);
  });

  it('an MTU change is a link-set in place and leaves the entries alone', async () => {
    const { kernel, rec, lines } = await setup();
    const s = fullState();
    s.links = [{ ...bridge, mtu: 1376 }, { ...vxlan, mtu: 1376 }, relay];
    const r = await rec.reconcile(s);
    expect(kinds(r.ops)).toEqual(['link-set', 'link-set']);
    expect(kernel.render()).toBe(
      FULL_RENDER.replace('master weft learning off mtu 1410', 'master weft learning off mtu 1376').replace(
        'link weft bridge mtu 1410',
        'link weft bridge mtu 1376',
      ),
    );
    expect(lines.some((l) => l.msg === 'changing link' && l.link === 'weft')).toBe(true);
  });

  it('a VXLAN port change recreates the device, logs why and restores its entries', async () => {
    const { kernel, rec, lines } = await setup();
    const s = fullState();
    s.links = [bridge, { ...vxlan, vxlan: { vni: 1, port: 4789, learning: false, proxy: true } }, relay];
    const r = await rec.reconcile(s);
    expect(r.failed).toEqual([]);
    expect(kinds(r.ops)).toEqual(['link-del', 'link-add', 'fdb-add', 'fdb-add', 'fdb-add', 'fdb-add', 'neigh-add', 'neigh-add']);
    expect(kernel.render()).toBe(FULL_RENDER.replace('dstport 6784 nolearning proxy', 'dstport 4789 nolearning proxy'));
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'recreating link', link: 'vxlan-weft', reason: 'port 6784 -> 4789' }),
    );
  });

  it('a recreated bridge gets its ports back with a link-set', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.links = [{ ...bridge, mac: '02:00:00:aa:aa:aa' }, vxlan, relay];
    const r = await rec.reconcile(s);
    expect(r.ops).toEqual([
      { op: 'link-del', name: 'weft' },
      { op: 'link-add', link: s.links[0] },
      { op: 'link-set', link: vxlan },
    ]);
    expect(kernel.render()).toContain('master weft learning off mtu 1410 up');
    expect((await rec.reconcile(s)).ops).toEqual([]);
  });

  it('a relay device no longer desired is deleted last, after the entries that replace it', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.links = [bridge, vxlan];
    s.fdb = s.fdb.map((e) => (e.dev === 'vxlan-wr1' ? { ...e, dev: 'vxlan-weft' } : e));
    const r = await rec.reconcile(s);
    expect(kinds(r.ops)).toEqual(['fdb-add', 'fdb-add', 'link-del']);
    expect(kernel.render()).not.toContain('vxlan-wr1');
    // Forgotten once deleted: the next reconcile no longer reads it.
    expect((await rec.reconcile(s)).ops).toEqual([]);
  });

  it('leaves devices it does not own alone', async () => {
    const { kernel, rec } = await setup();
    const other: LinkSpec = { ...relay, name: 'other0', vxlan: { vni: 9, port: 4789, learning: true, proxy: false } };
    await kernel.apply([
      { op: 'link-add', link: other },
      { op: 'fdb-add', entry: fdb('other0', MAC1, '198.18.1.1') },
      { op: 'neigh-add', entry: neigh('other0', '10.99.0.1', MAC1) },
    ]);
    const before = kernel.render();
    const s = fullState();
    s.fdb = [];
    s.neigh = [];
    await rec.reconcile(s);
    const after = kernel.render();
    expect(after).toContain('02:00:00:00:00:01 dev other0 dst 198.18.1.1 self permanent');
    expect(after).toContain('10.99.0.1 dev other0 lladdr 02:00:00:00:00:01 PERMANENT');
    expect(after.split('\n').filter((l) => l.includes('other0'))).toEqual(before.split('\n').filter((l) => l.includes('other0')));
  });

  it('ignores desired entries on a device that is not a desired link, with a warning', async () => {
    const { kernel, rec, lines } = await setup();
    const s = fullState();
    s.fdb.push(fdb('eth0', MAC1, PEER_A));
    expect((await rec.reconcile(s)).ops).toEqual([]);
    expect(kernel.render()).not.toContain('eth0');
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, dev: 'eth0' }));
  });
});

describe('Reconciler ownership, keep() and failures', () => {
  it('deletes owned links from an earlier run, but only those ownsLink() accepts', async () => {
    const kernel = new MemoryKernel();
    await kernel.apply([
      { op: 'link-add', link: { ...relay, name: 'vxlan-wr9' } },
      { op: 'link-add', link: { ...relay, name: 'eth0', vxlan: { ...relay.vxlan!, vni: 3 } } },
    ]);
    const rec = new Reconciler({
      kernel,
      log: silentLogger(),
      owned: ['vxlan-wr9', 'eth0'],
      ownsLink: (n) => n.startsWith('vxlan-w'),
    });
    const r = await rec.reconcile(fullState());
    expect(r.ops.at(-1)).toEqual({ op: 'link-del', name: 'vxlan-wr9' });
    expect(kernel.render()).toBe(`link eth0 vxlan id 3 dstport 6784 nolearning mtu 1410 up\n${FULL_RENDER}`);
  });

  it('finds links of an earlier run through listLinks() once, and retries the listing if it fails', async () => {
    const kernel = new MemoryKernel();
    await kernel.apply([
      { op: 'link-add', link: { ...bridge, name: 'wb-000000000001' } },
      { op: 'link-add', link: { ...relay, name: 'wx-000000000001', master: 'wb-000000000001' } },
      { op: 'link-add', link: { ...relay, name: 'eth0', vxlan: { ...relay.vxlan!, vni: 3 } } },
    ]);
    let calls = 0;
    const rec = new Reconciler({
      kernel,
      log: silentLogger(),
      ownsLink: (n) => /^w[bx]-[0-9a-f]{12}$/.test(n) || n === 'weft' || n.startsWith('vxlan-w'),
      listLinks: async () => {
        if (calls++ === 0) throw new Error('EAGAIN');
        return ['lo', 'eth0', 'wb-000000000001', 'wx-000000000001'];
      },
    });
    await rec.reconcile(fullState());
    expect(kernel.render()).toContain('wx-000000000001');
    const r = await rec.reconcile(fullState());
    expect(r.ops).toEqual([
      { op: 'link-del', name: 'wx-000000000001' },
      { op: 'link-del', name: 'wb-000000000001' },
    ]);
    expect(kernel.render()).toBe(`link eth0 vxlan id 3 dstport 6784 nolearning mtu 1410 up\n${FULL_RENDER}`);
    await rec.reconcile(fullState());
    expect(calls).toBe(2);
  });

  it('keeps undesired entries on its devices when keep() says so', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.fdb = s.fdb.filter((e) => e.dev !== 'vxlan-weft' || e.mac === ZERO_MAC);
    s.neigh = [];
    const r = await rec.reconcile(s, { keep: (e) => 'ip' in e || e.mac === MAC1 });
    expect(r.ops).toEqual([{ op: 'fdb-del', entry: fdb('vxlan-weft', MAC2, PEER_B, 8388609) }]);
    expect(kernel.render()).toContain('10.32.0.2 dev vxlan-weft');
    expect(kernel.render()).toContain('02:00:00:00:00:01 dev vxlan-weft');
    const later = await rec.reconcile(s);
    expect(kinds(later.ops)).toEqual(['neigh-del', 'neigh-del', 'fdb-del']);
  });

  it('retries a failed link deletion on the next reconcile', async () => {
    const { kernel, rec } = await setup();
    const s = fullState();
    s.links = [bridge, vxlan];
    s.fdb = s.fdb.filter((e) => e.dev !== 'vxlan-wr1');
    kernel.failOp = (op) => (op.op === 'link-del' ? 'EBUSY' : undefined);
    const r = await rec.reconcile(s);
    expect(r.failed).toEqual([{ op: { op: 'link-del', name: 'vxlan-wr1' }, error: 'EBUSY' }]);
    kernel.failOp = undefined;
    expect((await rec.reconcile(s)).ops).toEqual([{ op: 'link-del', name: 'vxlan-wr1' }]);
    expect(kernel.render()).not.toContain('vxlan-wr1');
  });

  it('rejects when the kernel cannot be read, and keeps working afterwards', async () => {
    const kernel = new MemoryKernel();
    const rec = new Reconciler({ kernel, log: silentLogger() });
    const read = kernel.read.bind(kernel);
    kernel.read = () => Promise.reject(new Error('netlink gone'));
    await expect(rec.reconcile(fullState())).rejects.toThrow('netlink gone');
    kernel.read = read;
    expect((await rec.reconcile(fullState())).failed).toEqual([]);
    expect(kernel.render()).toBe(FULL_RENDER);
  });
});

describe('Reconciler coalescing', () => {
  it('runs one reconcile at a time and skips intermediate states', async () => {
    const kernel = new MemoryKernel();
    const rec = new Reconciler({ kernel, log: silentLogger() });
    const a = fullState();
    const b = { ...fullState(), neigh: [] };
    const c = { ...fullState(), fdb: [] };
    const pa = rec.reconcile(a);
    const pb = rec.reconcile(b);
    const pc = rec.reconcile(c);
    const [ra, rb, rc] = await Promise.all([pa, pb, pc]);
    expect(kernel.reads).toBe(2);
    expect(kernel.roundTrips).toBe(2);
    expect(rb).toBe(rc);
    expect(ra.ops).toHaveLength(11);
    expect(kernel.render()).toBe(await freshRender(c));
  });

  it('a call made after the run finished starts a new one', async () => {
    const kernel = new MemoryKernel();
    const rec = new Reconciler({ kernel, log: silentLogger() });
    await rec.reconcile(fullState());
    await rec.reconcile(fullState());
    expect(kernel.reads).toBe(2);
  });
});

// ---- property tests ------------------------------------------------------------------------

const MACS = [MAC1, MAC2, MAC3, ZERO_MAC];
const DSTS = [PEER_A, PEER_B, PEER_C];
const IPS = ['10.32.0.1', '10.32.0.2', '10.32.0.3'];
const OWN = ['weft', 'vxlan-weft', 'vxlan-wr1'];
const OTHER: LinkSpec = { name: 'other0', kind: 'vxlan', mtu: 1500, up: true, vxlan: { vni: 9, port: 4789, learning: true, proxy: false } };

const stateArb = fc
  .record({
    mtu: fc.constantFrom(1376, 1410),
    bridgeMac: fc.constantFrom('02:00:00:aa:aa:01', '02:00:00:aa:aa:02'),
    proxy: fc.boolean(),
    portLearning: fc.boolean(),
    relayVni: fc.option(fc.constantFrom(2, 3), { nil: undefined }),
    fdb: fc.array(
      fc.record({
        relay: fc.boolean(),
        mac: fc.constantFrom(...MACS),
        dst: fc.constantFrom(...DSTS),
        vni: fc.constantFrom(undefined, 1, 8388609, 8388610),
      }),
      { maxLength: 8 },
    ),
    neigh: fc.array(
      fc.record({ relay: fc.boolean(), ip: fc.constantFrom(...IPS), mac: fc.constantFrom(MAC1, MAC2, MAC3) }),
      { maxLength: 4 },
    ),
  })
  .map((g): DesiredState => {
    const links: LinkSpec[] = [
      { ...bridge, mtu: g.mtu, mac: g.bridgeMac },
      { ...vxlan, mtu: g.mtu, vxlan: { vni: 1, port: 6784, learning: false, proxy: g.proxy }, port: { hairpin: false, learning: g.portLearning } },
    ];
    if (g.relayVni !== undefined) links.push({ ...relay, vxlan: { ...relay.vxlan!, vni: g.relayVni } });
    const dev = (onRelay: boolean) => (onRelay && g.relayVni !== undefined ? 'vxlan-wr1' : 'vxlan-weft');
    return {
      links,
      fdb: g.fdb.map((e) => fdb(dev(e.relay), e.mac, e.dst, e.vni)),
      neigh: g.neigh.map((e) => neigh(dev(e.relay), e.ip, e.mac)),
    };
  });

const foreignArb = fc.record({
  kind: fc.constantFrom('del-fdb', 'del-neigh', 'neigh-mac', 'fdb-dst', 'extra-fdb', 'mtu', 'del-link', 'other-fdb'),
  pick: fc.nat(),
});
type Foreign = typeof foreignArb extends fc.Arbitrary<infer T> ? T : never;

/** A change made behind the reconciler's back (by an admin, another tool, a crash half-way). */
async function foreignChange(k: MemoryKernel, f: Foreign): Promise<void> {
  const s = await k.read(OWN);
  const pick = <T>(xs: T[]): T | undefined => xs[f.pick % Math.max(1, xs.length)];
  let op: KernelOp | undefined;
  switch (f.kind) {
    case 'del-fdb': {
      const e = pick(s.fdb);
      if (e) op = { op: 'fdb-del', entry: e };
      break;
    }
    case 'del-neigh': {
      const e = pick(s.neigh);
      if (e) op = { op: 'neigh-del', entry: e };
      break;
    }
    case 'neigh-mac': {
      const e = pick(s.neigh);
      if (e) op = { op: 'neigh-add', entry: { ...e, mac: '02:00:00:00:00:99' } };
      break;
    }
    case 'fdb-dst': {
      const e = pick(s.fdb.filter((x) => x.mac !== ZERO_MAC));
      if (e) op = { op: 'fdb-add', entry: { ...e, dst: '198.18.0.99' } };
      break;
    }
    case 'extra-fdb':
      op = { op: 'fdb-add', entry: fdb('vxlan-weft', '02:00:00:00:00:77', PEER_A) };
      break;
    case 'mtu': {
      const l = pick(s.links);
      if (l) op = { op: 'link-set', link: { ...l, mtu: 1500 } };
      break;
    }
    case 'del-link': {
      const l = pick(s.links);
      if (l) op = { op: 'link-del', name: l.name };
      break;
    }
    case 'other-fdb':
      op = { op: 'fdb-add', entry: fdb('other0', MACS[f.pick % 3] as string, DSTS[f.pick % 3] as string) };
      break;
  }
  if (op !== undefined) await k.apply([op]);
}

/** Fail the n-th op of the batch, or every link deletion. */
const failureArb = fc.oneof(fc.nat({ max: 20 }), fc.constant('link-del' as const));

async function freshRender(s: DesiredState): Promise<string> {
  const k = new MemoryKernel();
  const r = await new Reconciler({ kernel: k, log: silentLogger() }).reconcile(s);
  expect(r.failed).toEqual([]);
  return k.render();
}

const ownLines = (text: string) => text.split('\n').filter((l) => !l.includes('other0')).join('\n');
const otherLines = (text: string) => text.split('\n').filter((l) => l.includes('other0'));

describe('Reconciler properties', () => {
  it('after every reconcile the kernel equals a fresh kernel given only the last state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(stateArb, fc.array(foreignArb, { maxLength: 3 })), { minLength: 1, maxLength: 6 }), async (steps) => {
        const kernel = new MemoryKernel();
        await kernel.apply([{ op: 'link-add', link: OTHER }]);
        const rec = new Reconciler({ kernel, log: silentLogger() });
        for (const [state, foreign] of steps) {
          for (const f of foreign) await foreignChange(kernel, f);
          const before = otherLines(kernel.render());
          const r = await rec.reconcile(state);
          expect(r.failed).toEqual([]);
          const text = kernel.render();
          expect(ownLines(text)).toBe(await freshRender(state));
          expect(otherLines(text)).toEqual(before);
          const reads = kernel.reads;
          const trips = kernel.roundTrips;
          expect((await rec.reconcile(state)).ops).toEqual([]);
          expect([kernel.reads, kernel.roundTrips]).toEqual([reads + 1, trips]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('after a failed op the next reconcile repairs the kernel', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(stateArb, failureArb), { minLength: 1, maxLength: 6 }), async (steps) => {
        const kernel = new MemoryKernel();
        const rec = new Reconciler({ kernel, log: silentLogger() });
        for (const [state, failAt] of steps) {
          let n = 0;
          kernel.failOp = (op) => ((failAt === 'link-del' ? op.op === failAt : n++ === failAt) ? 'EIO' : undefined);
          const r = await rec.reconcile(state);
          if (typeof failAt === 'number' && failAt < r.ops.length) expect(r.failed[0]).toEqual({ op: r.ops[failAt], error: 'EIO' });
          if (typeof failAt === 'number' && failAt >= r.ops.length) expect(r.failed).toEqual([]);
          kernel.failOp = undefined;
          expect((await rec.reconcile(state)).failed).toEqual([]);
          expect(kernel.render()).toBe(await freshRender(state));
        }
      }),
      { numRuns: 300 },
    );
  });
});
