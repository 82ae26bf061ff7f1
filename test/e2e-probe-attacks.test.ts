// Attacks on the probe port (issue 13), from a namespace host on the same LAN that is no weft peer:
// reflection with amplification towards a third host, and forged acks that would move a path.
//
//   h1 198.18.0.1 ◄── h2 198.18.0.2          (`weft launch`: h2 and h3 join h1)
//        ▲
//        └────────── h3 198.18.0.3           c1 10.32.1.1 on h1, c2 10.32.2.1 on h2
//   attacker 198.18.0.4   victim 198.18.0.5  (no weft; nft counters count what reaches them)
//
// The router sees a probe only after its kernel decapsulated it (a packet socket on the bridge),
// never the outer source address, so the attacker sends from its own address: spoofing it would
// add nothing (and for the forged acks "from h2" it would be dropped by the h1–h2 UDP block).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockUdpPort, canUseNetns, canUseNft, createLan, unblockUdpPort, waitFor, type Host, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';
import type { PathStatus } from '../router/status.js';
import { bridgeMacFor } from '../router/dataplane.js';
import { parsePeerName, peerNameToBytes, type PeerName } from '../mesh/peer-name.js';
import { encodeProbeDatagram } from '../router/probe-codec.js';
import { parseIpv4 } from '../router/addresses.js';
import { randomBytes } from 'node:crypto';

const can = canUseNetns();
if (!can.ok) console.warn(`SKIP probe attack tests: ${can.reason}`);
const nft = canUseNft();
if (can.ok && !nft.ok) console.warn(`SKIP probe attack tests: ${nft.reason}`);

const VNI = 24241;
const PORT = 6784;
const TABLE = 'wt_probe_attack';

/** Sends the datagrams (hex) round-robin to addr:6784 until `count` are sent or `ms` passed; prints {sent, bytes}. */
const FLOOD = `
const s = require('dgram').createSocket('udp4');
const o = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const bufs = o.frames.map((h) => Buffer.from(h, 'hex'));
let sent = 0, bytes = 0;
const end = Date.now() + o.ms;
const burst = () => {
  for (let i = 0; i < o.burst && sent < o.count; i++, sent++) { const b = bufs[sent % bufs.length]; bytes += b.length; s.send(b, ${PORT}, o.addr); }
  if (sent < o.count && Date.now() < end) setTimeout(burst, o.gapMs);
  else setTimeout(() => { s.close(); console.log(JSON.stringify({ sent, bytes })); }, 300);
};
burst();
`;

/** A version 1 (pre-issue-13) probe datagram as the attacker built it: 68 bytes. */
function v1Datagram(o: { kind: 1 | 2; dstMac: string; from: PeerName; to: PeerName; seq: number; replyTo: string; probed: string; mtu: number }): Buffer {
  const b = Buffer.alloc(8 + 14 + 46);
  b[0] = 0x08;
  b.writeUIntBE(VNI, 4, 3);
  Buffer.from(o.dstMac.replace(/:/g, ''), 'hex').copy(b, 8);
  Buffer.from('020000000099', 'hex').copy(b, 14);
  b.writeUInt16BE(0x88b5, 20);
  b.write('WFTP', 22, 'latin1');
  b[26] = o.kind;
  peerNameToBytes(o.from).copy(b, 27);
  peerNameToBytes(o.to).copy(b, 33);
  b.writeUInt32BE(o.seq >>> 0, 39);
  parseIpv4(o.replyTo)!.copy(b, 43);
  parseIpv4(o.probed)!.copy(b, 47);
  b.writeUInt16BE(o.mtu, 51);
  return b;
}

/** A current (version 2) datagram, minimal size; mtuField overrides the mtu field as an attacker would. */
function v2Datagram(o: { kind: 'probe' | 'ack'; dstMac: string; from: PeerName; to: PeerName; seq: number; replyTo: string; probed: string; mtuField: number }): Buffer {
  const d = encodeProbeDatagram(
    { kind: o.kind, from: o.from, to: o.to, seq: o.seq, nonce: randomBytes(16), replyTo: o.replyTo, probed: o.probed, mtu: 0, received: o.kind === 'ack' ? 1450 : 0 },
    { vni: VNI, dstMac: o.dstMac, srcMac: '02:00:00:00:00:99' },
  );
  d.writeUInt16BE(o.mtuField, 8 + 14 + 45);
  return d;
}

async function counterBytes(h: Host, name: string): Promise<number> {
  const r = await h.exec('nft', ['list', 'counter', 'inet', TABLE, name]);
  if (r.code !== 0) throw new Error(`${h.name}: reading nft counter ${name}: ${r.stderr}`);
  return Number(/bytes (\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

describe.skipIf(!can.ok || !nft.ok)('probe attacks from a host on the underlay', () => {
  let lan: Lan;
  let hosts: WeftHost[];
  let attacker: Host;
  let victim: Host;
  let names: PeerName[];
  let c1: Host;
  const c2ip = '10.32.2.1';

  const status = <T>(h: number): Promise<T> => hosts[h]!.json<T>(['status', 'connections']);
  const pathTo = async (from: number, to: number): Promise<PathStatus | undefined> =>
    (await status<{ paths: PathStatus[] }>(from)).paths.find((p) => p.nickname === lan.hosts[to]!.name);
  const dropped = async (h: number): Promise<Record<string, number>> => (await status<{ dataplane: { probes: { dropped: Record<string, number> } } }>(h)).dataplane.probes.dropped;
  const flood = async (o: { frames: Buffer[]; addr: string; count: number; ms: number; burst: number; gapMs: number }): Promise<{ sent: number; bytes: number }> => {
    const r = await attacker.exec(process.execPath, ['-e', FLOOD], { input: JSON.stringify({ ...o, frames: o.frames.map((f) => f.toString('hex')) }), timeoutMs: o.ms + 20_000 });
    if (r.code !== 0) throw new Error(`attacker: ${r.stderr}`);
    return JSON.parse(r.stdout) as { sent: number; bytes: number };
  };

  beforeAll(async () => {
    lan = await createLan({ hosts: 5 });
    [attacker, victim] = [lan.hosts[3]!, lan.hosts[4]!];
    hosts = lan.hosts.slice(0, 3).map((h) => new WeftHost(h));
    await hosts[0]!.launch([]);
    await hosts[1]!.launch([lan.hosts[0]!.addr]);
    await hosts[2]!.launch([lan.hosts[0]!.addr]);
    names = await Promise.all(hosts.map(async (h) => parsePeerName((await h.json<{ name: string }>(['status'])).name)!));
    c1 = await lan.addContainer();
    const c2 = await lan.addContainer();
    for (const [h, ns, ip] of [
      [0, c1, '10.32.1.1'],
      [1, c2, c2ip],
    ] as const) {
      const r = await hosts[h]!.weft(['attach', `${ip}/12`, ns.name]);
      expect(r.code, r.stderr).toBe(0);
    }
    const h1 = lan.hosts[0]!.addr;
    for (const h of [attacker, victim]) {
      const r = await h.exec('nft', ['-f', '-'], {
        input: `table inet ${TABLE} {
  counter udp_in {}
  counter from_router {}
  counter to_router {}
  chain in { type filter hook input priority 0; policy accept; meta l4proto udp counter name udp_in; ip saddr ${h1} counter name from_router; }
  chain out { type filter hook output priority 0; policy accept; ip daddr ${h1} udp dport ${PORT} counter name to_router; }
}
`,
      });
      expect(r.code, r.stderr).toBe(0);
    }
    for (let h = 0; h < 3; h++) {
      await waitFor(async () => (await status<{ paths: PathStatus[] }>(h)).paths.filter((p) => p.path === 'direct').length === 2, {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: `h${h + 1} to reach both other peers directly`,
      });
    }
  }, 120_000);
  afterAll(async () => {
    for (const h of hosts ?? []) await h.cleanup();
    await lan?.cleanup();
  });

  it('probes naming a third host as replyTo with mtu 65000 put nothing on the victim and get no more bytes back than were sent', async () => {
    const h1 = lan.hosts[0]!.addr;
    const dstMac = bridgeMacFor(names[0]!);
    const common = { dstMac, to: names[0]!, replyTo: victim.addr, probed: h1 };
    const frames: Buffer[] = [];
    for (let seq = 1; seq <= 10; seq++) {
      // Claiming to be h2 (a peer h1 knows), and a stranger; in the old format and the current one.
      frames.push(v1Datagram({ ...common, kind: 1, from: names[1]!, seq, mtu: 65000 }));
      frames.push(v2Datagram({ ...common, kind: 'probe', from: names[1]!, seq, mtuField: 65000 }));
      frames.push(v2Datagram({ ...common, kind: 'probe', from: 0x02_de_ad_be_ef_01n, seq, mtuField: 65000 }));
    }
    const before = await dropped(0);
    const sent = await flood({ frames, addr: h1, count: 3000, ms: 10_000, burst: 30, gapMs: 5 });
    await new Promise((r) => setTimeout(r, 1000)); // answers, if any, are on their way at once
    const atVictim = await counterBytes(victim, 'udp_in');
    const toRouter = await counterBytes(attacker, 'to_router');
    const fromRouter = await counterBytes(attacker, 'from_router');
    const after = await dropped(0);
    const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    console.log(
      `reflection: attacker sent ${sent.sent} probes (${sent.bytes} B of UDP payload, ${toRouter} B of IP); victim received ${atVictim} B; ` +
        `router sent the attacker ${fromRouter} B (factor ${(fromRouter / toRouter).toFixed(3)}); h1 dropped ${JSON.stringify(after)}`,
    );
    // The attack reached h1's router and was judged, not lost on the way (a test that cannot fail
    // is a defect); a loaded machine may drop some in socket buffers.
    expect(delta("probe reply address not its sender's") + delta('probe from unknown peer') + delta('unsupported probe version 0')).toBeGreaterThanOrEqual(sent.sent * 0.5);
    expect(delta('probe from unknown peer')).toBeGreaterThan(0);
    expect(delta('unsupported probe version 0')).toBeGreaterThan(0);
    expect(atVictim).toBe(0);
    expect(toRouter).toBeGreaterThan(0);
    expect(fromRouter).toBeLessThanOrEqual(toRouter);
  }, 60_000);

  it('with UDP 6784 blocked between h1 and h2, forged acks "from h2" leave h1 on the relay via h3 and c1→c2 keeps working', async () => {
    await blockUdpPort(lan.hosts[0]!, lan.hosts[1]!, PORT);
    try {
      const relay = `relay via ${lan.hosts[2]!.name}`;
      await waitFor(async () => (await pathTo(0, 1))?.path === relay, { timeoutMs: 15_000, intervalMs: 200, what: 'h1 to relay to h2 via h3' });
      const h2 = lan.hosts[1]!.addr;
      const dstMac = bridgeMacFor(names[0]!);
      // Sequence numbers were a counter from 0; cover the outstanding ones and those of the next ~10 s.
      const base = (await status<{ dataplane: { probes: { sent: number } } }>(0)).dataplane.probes.sent;
      const frames: Buffer[] = [];
      for (let seq = Math.max(0, base - 20); seq < base + 300; seq++) {
        const common = { dstMac, from: names[1]!, to: names[0]!, seq, replyTo: h2, probed: h2 };
        frames.push(v1Datagram({ ...common, kind: 2, mtu: 1450 }));
        frames.push(v2Datagram({ ...common, kind: 'ack', mtuField: 1450 }));
      }
      const before = await dropped(0);
      const ping = c1.spawn('ping', ['-i', '0.2', '-c', '30', '-W', '1', c2ip]);
      const attack = flood({ frames, addr: lan.hosts[0]!.addr, count: Number.MAX_SAFE_INTEGER, ms: 6_000, burst: 160, gapMs: 5 });
      const seen = new Set<string>();
      let polling = true;
      const poll = (async () => {
        while (polling) {
          const p = await pathTo(0, 1);
          seen.add(p?.path ?? 'missing');
          await new Promise((r) => setTimeout(r, 150));
        }
      })();
      const sent = await attack;
      await new Promise((r) => setTimeout(r, 1500)); // a flip would show within a probe round or two
      polling = false;
      await poll;
      const exit = await ping.exited;
      const after = await dropped(0);
      const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
      console.log(`forgery: ${sent.sent} forged acks (${sent.bytes} B); h1's path to h2 was ${[...seen].join(', ')}; ${/\d+ packets transmitted.*loss/.exec(ping.stdout())?.[0]}; h1 dropped ${JSON.stringify(after)}`);
      // Some forgeries named an outstanding probe: only the nonce told them apart.
      expect(delta('ack nonce mismatch')).toBeGreaterThan(0);
      expect(delta('ack for no outstanding probe')).toBeGreaterThan(0);
      expect(delta('unsupported probe version 0')).toBeGreaterThan(0);
      expect([...seen]).toEqual([relay]);
      expect(ping.stdout(), ping.output()).toMatch(/30 packets transmitted, 30 received, 0% packet loss/);
      expect(exit.code).toBe(0);
    } finally {
      await unblockUdpPort(lan.hosts[0]!, lan.hosts[1]!, PORT);
    }
    await waitFor(async () => (await pathTo(0, 1))?.path === 'direct', { timeoutMs: 10_000, intervalMs: 200, what: 'h1 back to direct to h2 once unblocked' });
  }, 90_000);
});
