// Proves that the kernel's xfrm and weft's TypeScript codecs agree byte for byte: SAs and policies
// installed with router/netlink/xfrm.ts, ESP opened and sealed with crypto/esp.ts. Runs as root on a
// kernel with ESP (inside the VM of xfrm-vm.test.ts, or any such host); prints one line
// `XFRM-PROBE <json>` per cipher and exits 0 only if every check passed.
//
//   netns A  eth0 198.18.0.1/24 ══ veth ══ eth0 198.18.0.2/24  netns B
//   ESP-in-UDP transport SAs A→B and B→A (encap espinudp 6783 → 6783), policies on UDP dport 6784.
//
//   0 no SA yet   A has its out policy but no SA: the datagram is dropped, not sent in clear.
//   1 capture     B: plain socket on 6783, no SA. A's kernel seals a datagram to B:6784; B reads the
//                 ESP bytes and openEsp (same key) must yield the UDP header and payload.
//   2 kernel→kernel  B: SAs, policies, an ESP-in-UDP socket on 6783: the datagram arrives on 6784.
//   3 replay      the captured packet (seq 1) is accepted once, then counted as a replay.
//   4 cleartext   A without its out policy sends in clear: B's in policy drops it.
//   5 TS→kernel   sealEsp'd by weft (seq 101) and sent from a plain socket: arrives on 6784;
//                 the captured packet is now outside the window; a bad ICV is counted.
//   6 counters    GETSA and dumps agree with what was sent; delete and flush leave nothing.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NetlinkClient } from '../../router/netlink/client.js';
import type { NlRequest } from '../../router/netlink/codec.js';
import { openNetlinkSocket } from '../../router/netlink/socket.js';
import {
  NETLINK_XFRM, UDP_ENCAP_ESPINUDP, XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA, aeadFor, decodePolicy, decodeSa, deletePolicy, deleteSa,
  dumpPolicies, dumpSas, flushPolicies, flushSas, getSa, newPolicy, newSa, xfrmMessageName, type XfrmPolicy, type XfrmSa, type XfrmSaInfo,
  type XfrmSelector,
} from '../../router/netlink/xfrm.js';
import { NEXT_HEADER_UDP, openEsp, sealEspPacket } from '../../crypto/esp.js';
import { ESP_CIPHERS, InboundSa, OutboundSa, type EspCipher, type EspSaKeys } from '../../crypto/esp-sa.js';
import { NsUdp, openEncapSocket, type EncapSocket } from './ns-udp.js';

const ESP_PORT = 6783;
const VXLAN_PORT = 6784;
const A = '198.18.0.1';
const B = '198.18.0.2';
const WAIT_MS = 5_000;
const REQID = 7;

interface Check {
  name: string;
  ok: boolean;
  detail?: unknown;
}

export interface CipherReport {
  cipher: EspCipher;
  supported: boolean;
  reason?: string;
  checks: Check[];
  /** B's inbound SA as GETSA reported it, keys hidden. */
  inbound?: Omit<XfrmSaInfo, 'aead'> & { aead?: { name: string; icvBits: number; keyMatches: boolean } };
  /** What the kernel says when a check failed: states, policies, xfrm_stat, sockets per namespace. */
  diagnostics?: Record<string, string>;
  /** Raw payloads, with WEFT_XFRM_PROBE_RAW=1, for codec fixtures. */
  raw?: Record<string, string>;
}

class Ns {
  readonly path: string;
  readonly client: NetlinkClient;

  constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
    this.client = new NetlinkClient(openNetlinkSocket({ protocol: NETLINK_XFRM, netns: this.path }));
  }

  async do(req: NlRequest): Promise<Buffer[]> {
    try {
      return (await this.client.request(req)).map((m) => m.payload);
    } catch (err) {
      const e = err as { code?: string; extack?: string; message?: string };
      throw new Error(`${this.name}: ${xfrmMessageName(req.type)} failed: ${e.code ?? e.message}${e.extack ? ` (${e.extack})` : ''}`, { cause: err });
    }
  }

  async dump(req: NlRequest, type: number): Promise<Buffer[]> {
    return (await this.client.dump(req)).filter((m) => m.type === type).map((m) => m.payload);
  }
}

const selector = (from: string, to: string): XfrmSelector => ({ src: `${from}/32`, dst: `${to}/32`, proto: 17, dport: VXLAN_PORT });

function sa(from: string, to: string, spi: number, keys: EspSaKeys, replayWindow: number): XfrmSa {
  return {
    src: from, dst: to, spi, mode: 'transport', reqid: REQID, selector: selector(from, to), aead: aeadFor(keys),
    encap: { type: UDP_ENCAP_ESPINUDP, sport: ESP_PORT, dport: ESP_PORT }, replayWindow,
  };
}

function policy(from: string, to: string, dir: 'in' | 'out'): XfrmPolicy {
  return { selector: selector(from, to), dir, priority: 100, templates: [{ src: from, dst: to, mode: 'transport', reqid: REQID }] };
}

function udpDatagram(sport: number, dport: number, body: Buffer): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt16BE(b.length, 4);
  body.copy(b, 8);
  return b;
}

function xfrmStat(ns: string, counter: string): number {
  const text = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/xfrm_stat'], { encoding: 'utf8' });
  const m = new RegExp(`^${counter}\\s+(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

async function until<T>(what: string, get: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function probeCipher(cipher: EspCipher, index: number, a: Ns, b: Ns): Promise<CipherReport> {
  const report: CipherReport = { cipher, supported: true, checks: [] };
  const check = (name: string, ok: boolean, detail?: unknown): void => {
    report.checks.push(detail === undefined ? { name, ok } : { name, ok, detail });
  };
  const raw: Record<string, string> | undefined = process.env.WEFT_XFRM_PROBE_RAW === '1' ? (report.raw = {}) : undefined;
  const spiAB = 0x0100_0000 + index * 16 + 1;
  const spiBA = spiAB + 1;
  const keysAB: EspSaKeys = { cipher, key: randomBytes(32), salt: randomBytes(4) };
  const keysBA: EspSaKeys = { cipher, key: randomBytes(32), salt: randomBytes(4) };
  // Above 32 the window travels as a bitmap attribute, up to 32 in the legacy field: test both.
  const window = index % 2 === 0 ? 64 : 32;
  const text = (n: number): Buffer => Buffer.from(`weft xfrm probe ${cipher} #${n}`);
  const sockets: { close(): unknown }[] = [];
  const encaps: EncapSocket[] = [];

  try {
    for (const ns of [a, b]) {
      await ns.do(flushSas());
      await ns.do(flushPolicies());
    }

    // 0 policy before SA: the kernel drops (no cleartext while keys are being set up)
    const capture = new NsUdp(b.path, B, ESP_PORT);
    const early = new NsUdp(b.path, B, VXLAN_PORT);
    const sender = new NsUdp(a.path, A, 0);
    sockets.push(capture, early, sender);
    await a.do(newPolicy(policy(A, B, 'out')));
    const noStatesBefore = xfrmStat(a.name, 'XfrmOutNoStates');
    sender.send(text(0), B, VXLAN_PORT);
    await until('XfrmOutNoStates in A', () => xfrmStat(a.name, 'XfrmOutNoStates'), (n) => n > noStatesBefore);

    // 1 capture
    try {
      await a.do(newSa(sa(A, B, spiAB, keysAB, 0)));
    } catch (err) {
      // "Requested AEAD algorithm not found" (ENOSYS) or no ESP at all; anything else is our fault.
      if (!/ENOSYS|EPROTONOSUPPORT/.test((err as Error).message)) throw err;
      report.supported = false;
      report.reason = (err as Error).message;
      return report;
    }
    sender.send(text(1), B, VXLAN_PORT);
    const esp = await capture.next(WAIT_MS);
    check('capture: ESP-in-UDP from A:6783', esp.from === A && esp.port === ESP_PORT, { from: esp.from, port: esp.port, bytes: esp.data.length });
    const tsIn = new InboundSa(spiAB, keysAB);
    const plain = Buffer.alloc(2048);
    const opened = openEsp(esp.data, (spi) => (spi === spiAB ? tsIn : undefined), plain);
    if (raw) raw.esp = esp.data.toString('hex');
    check('capture: openEsp accepts the kernel\'s packet', opened.ok, opened.ok ? { seq: opened.seq, nextHeader: opened.nextHeader } : opened.reason);
    if (opened.ok) {
      const inner = plain.subarray(0, opened.length);
      check('capture: seq 1, next header UDP', opened.seq === 1 && opened.nextHeader === NEXT_HEADER_UDP);
      check('capture: inner UDP to 6784 with the payload', inner.readUInt16BE(2) === VXLAN_PORT && inner.readUInt16BE(4) === inner.length && inner.subarray(8).equals(text(1)), {
        dport: inner.readUInt16BE(2), body: inner.subarray(8).toString(),
      });
    }
    check('policy without an SA: nothing left A, in clear or otherwise', early.pending().length === 0 && capture.pending().length === 0);
    for (const sock of [capture, early]) {
      sock.close();
      sockets.splice(sockets.indexOf(sock), 1);
    }

    // 2 kernel → kernel
    encaps.push(await openEncapSocket(b.name, ESP_PORT), await openEncapSocket(a.name, ESP_PORT));
    const rxB = new NsUdp(b.path, B, VXLAN_PORT);
    const rxA = new NsUdp(a.path, A, VXLAN_PORT);
    sockets.push(rxB, rxA);
    await b.do(newSa(sa(A, B, spiAB, keysAB, window)));
    await b.do(newSa(sa(B, A, spiBA, keysBA, 0)));
    await b.do(newPolicy(policy(A, B, 'in')));
    await b.do(newPolicy(policy(B, A, 'out')));
    await a.do(newSa(sa(B, A, spiBA, keysBA, window)));
    await a.do(newPolicy(policy(B, A, 'in')));
    sender.send(text(2), B, VXLAN_PORT);
    const d2 = await rxB.next(WAIT_MS);
    check('kernel→kernel: A→B arrives', d2.data.equals(text(2)) && d2.from === A, d2.data.toString());
    const senderB = new NsUdp(b.path, B, 0);
    sockets.push(senderB);
    senderB.send(text(3), A, VXLAN_PORT);
    const d3 = await rxA.next(WAIT_MS);
    check('kernel→kernel: B→A arrives', d3.data.equals(text(3)) && d3.from === B, d3.data.toString());

    // 3 replay of the captured packet
    sender.send(esp.data, B, ESP_PORT);
    const d1 = await rxB.next(WAIT_MS);
    check('replay: the captured seq 1 is accepted once', d1.data.equals(text(1)), d1.data.toString());
    sender.send(esp.data, B, ESP_PORT);

    // 4 cleartext from A is dropped by B's inbound policy
    const mismatchBefore = xfrmStat(b.name, 'XfrmInTmplMismatch');
    await a.do(deletePolicy(policy(A, B, 'out')));
    sender.send(text(5), B, VXLAN_PORT);
    await until('XfrmInTmplMismatch in B', () => xfrmStat(b.name, 'XfrmInTmplMismatch'), (n) => n > mismatchBefore);
    await a.do(newPolicy(policy(A, B, 'out')));
    sender.send(text(6), B, VXLAN_PORT);
    const d6 = await rxB.next(WAIT_MS);
    check('cleartext: dropped by the in policy, encrypted traffic resumes', d6.data.equals(text(6)) && rxB.pending().length === 0, d6.data.toString());

    // 5 TS → kernel
    const tsOut = new OutboundSa(spiAB, keysAB, { lastSequence: 100 });
    const sealed = sealEspPacket(tsOut, udpDatagram(40000, VXLAN_PORT, text(4)));
    sender.send(sealed, B, ESP_PORT);
    const d4 = await rxB.next(WAIT_MS);
    check('TS→kernel: sealEsp packet delivered on 6784', d4.data.equals(text(4)) && d4.from === A && d4.port === 40000, { body: d4.data.toString(), port: d4.port });
    sender.send(esp.data, B, ESP_PORT);
    const forged = sealEspPacket(tsOut, udpDatagram(40000, VXLAN_PORT, text(99)));
    forged[forged.length - 1]! ^= 0x01;
    sender.send(forged, B, ESP_PORT);

    // 6 counters, dumps, delete, flush
    const idB = { dst: B, spi: spiAB };
    const counted = (s: XfrmSaInfo): boolean => s.stats.replay >= 1 && s.stats.integrityFailed >= 1 && s.stats.replayWindow >= 1;
    const inbound = await until('B inbound SA counters', async () => {
      const [reply] = await b.do(getSa(idB));
      if (raw && reply) raw.getSaReply = reply.toString('hex');
      const r = reply ? decodeSa(reply) : { ok: false as const, reason: 'no reply' };
      if (!r.ok) throw new Error(`GETSA reply: ${r.reason}`);
      return r.value;
    }, counted);
    const { aead, ...rest } = inbound;
    report.inbound = aead ? { ...rest, aead: { name: aead.name, icvBits: aead.icvBits, keyMatches: aead.key.equals(aeadFor(keysAB).key) } } : rest;
    check('GETSA: packets = 4 delivered (seq 2, 1, 3, 101)', inbound.current.packets === 4, inbound.current);
    check('GETSA: one replay, one out of window, one bad ICV', inbound.stats.replay === 1 && inbound.stats.replayWindow === 1 && inbound.stats.integrityFailed === 1, inbound.stats);
    check('GETSA: highest sequence received 101', inbound.replay?.inbound === 101, inbound.replay);
    check('GETSA: the SA reads back as installed', inbound.spi === spiAB && inbound.src === A && inbound.dst === B && inbound.mode === 'transport'
      && inbound.reqid === REQID && inbound.replayWindow === window && inbound.encap?.sport === ESP_PORT && inbound.encap?.dport === ESP_PORT
      && inbound.encap?.type === UDP_ENCAP_ESPINUDP && aead?.key.equals(aeadFor(keysAB).key) === true && aead?.name === aeadFor(keysAB).name
      && inbound.selector.dport === VXLAN_PORT && inbound.selector.src === `${A}/32`, report.inbound);
    const [outReply] = await a.do(getSa({ dst: B, spi: spiAB }));
    const outbound = outReply ? decodeSa(outReply) : undefined;
    check('GETSA: A sent seq 1..3', outbound?.ok === true && outbound.value.replay?.outbound === 3, outbound?.ok ? outbound.value.replay : outbound);

    const sas = (await b.dump(dumpSas(), XFRM_MSG_NEWSA)).map(decodeSa);
    check('dump SAs in B: both SPIs', sas.length === 2 && sas.every((s) => s.ok) && new Set(sas.map((s) => (s.ok ? s.value.spi : 0))).size === 2
      && sas.every((s) => s.ok && [spiAB, spiBA].includes(s.value.spi)));
    const pols = (await b.dump(dumpPolicies(), XFRM_MSG_NEWPOLICY)).map(decodePolicy);
    if (raw) raw.policy = (await b.dump(dumpPolicies(), XFRM_MSG_NEWPOLICY))[0]?.toString('hex') ?? '';
    check('dump policies in B: in and out with their templates', pols.length === 2 && pols.every((p) => p.ok && p.value.templates.length === 1
      && p.value.templates[0]!.reqid === REQID && p.value.templates[0]!.mode === 'transport' && p.value.selector.dport === VXLAN_PORT)
      && new Set(pols.map((p) => (p.ok ? p.value.dir : ''))).size === 2, pols.map((p) => (p.ok ? { dir: p.value.dir, sel: p.value.selector } : p)));

    await b.do(deleteSa(idB));
    await b.do(deletePolicy(policy(A, B, 'in')));
    const gone = await b.do(getSa(idB)).then(() => 'still there', (e: Error) => e.message);
    const left = await b.dump(dumpSas(), XFRM_MSG_NEWSA);
    const leftPols = await b.dump(dumpPolicies(), XFRM_MSG_NEWPOLICY);
    check('delete: SA and policy gone', /ESRCH/.test(gone) && left.length === 1 && leftPols.length === 1, { gone, sas: left.length, policies: leftPols.length });
    for (const ns of [a, b]) {
      await ns.do(flushSas());
      await ns.do(flushPolicies());
    }
    const after = [...(await a.dump(dumpSas(), XFRM_MSG_NEWSA)), ...(await b.dump(dumpPolicies(), XFRM_MSG_NEWPOLICY))];
    check('flush: nothing left', after.length === 0);
  } catch (err) {
    check('no unexpected error', false, (err as Error).message);
  } finally {
    if (report.checks.some((c) => !c.ok)) report.diagnostics = diagnostics([a.name, b.name]);
    for (const s of sockets) s.close();
    for (const e of encaps) await e.close();
  }
  return report;
}

function diagnostics(namespaces: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ns of namespaces) {
    const script = 'exec 2>&1; ip -s xfrm state; ip xfrm policy; grep -v -E "\\s0$" /proc/net/xfrm_stat; ss -uan; nstat -a 2>/dev/null | grep -E "Udp|Icmp"';
    try {
      out[ns] = execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      out[ns] = `diagnostics failed: ${(err as Error).message}`;
    }
  }
  return out;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function main(): Promise<number> {
  const tag = `wx${process.pid.toString(36)}`;
  const [nameA, nameB] = [`${tag}-a`, `${tag}-b`];
  ip(['netns', 'add', nameA]);
  ip(['netns', 'add', nameB]);
  let a: Ns | undefined;
  let b: Ns | undefined;
  try {
    ip(['-n', nameA, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nameB]);
    for (const [ns, addr] of [[nameA, A], [nameB, B]] as const) {
      execFileSync('ip', ['-n', ns, '-batch', '-'], { input: `link set lo up\naddr add ${addr}/24 dev eth0\nlink set eth0 up\n`, stdio: ['pipe', 'ignore', 'pipe'] });
    }
    a = new Ns(nameA);
    b = new Ns(nameB);
    let failed = 0;
    for (const [i, cipher] of ESP_CIPHERS.entries()) {
      const report = await probeCipher(cipher, i, a, b);
      failed += report.checks.filter((c) => !c.ok).length + (report.supported ? 0 : 1);
      console.log(`XFRM-PROBE ${JSON.stringify(report)}`);
    }
    return failed === 0 ? 0 : 1;
  } finally {
    a?.client.close();
    b?.client.close();
    for (const n of [nameA, nameB]) {
      try {
        ip(['netns', 'del', n]);
      } catch {
        // already gone
      }
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`xfrm-probe: ${(err as Error).stack ?? String(err)}`);
    process.exit(2);
  },
);
