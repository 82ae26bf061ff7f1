// The probe rates of bench/dataplane-scale.ts once more with real UDP sockets and the real clock:
// one host's Prober and N peer Probers in this process, each with its own UDP socket on a loopback
// address (127.1.x.y:6784, the host 127.0.0.1:6784); a datagram is decapsulated as the peer's
// kernel would (VNI, then the bridge MAC) and handed to its prober. Only loopback carries traffic.
// The host's sent datagrams are counted at its socket.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { realClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { formatMac } from '../router/addresses.js';
import { decapsulate } from '../router/probe-codec.js';
import type { ProbeTransport } from '../router/probe-transport.js';
import { Prober, type ProberOptions } from '../router/prober.js';

const VNI = 0x5eb1;
const PORT = 6784;
const HOST = '127.0.0.1';
const HOST_NAME: PeerName = 0x02_00_00_00_00_01n;
const macOf = (name: PeerName): string => name.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');

async function udpTransport(addr: string, mac: string, count?: { sent: number }): Promise<ProbeTransport & { closed: Promise<void> }> {
  const sock = dgram.createSocket({ type: 'udp4' });
  let rx: ((f: Buffer) => void) | undefined;
  sock.on('message', (d) => {
    const frame = decapsulate(d, VNI);
    if (frame && formatMac(frame.subarray(0, 6)) === mac) rx?.(Buffer.from(frame));
  });
  sock.on('error', () => undefined);
  sock.bind(PORT, addr);
  await once(sock, 'listening');
  return {
    send: (to, port, d) => {
      if (count) count.sent++;
      sock.send(d, port, to);
    },
    receive: (cb) => {
      rx = cb;
    },
    close: () => sock.close(),
    closed: once(sock, 'close').then(() => undefined),
  };
}

export interface SocketRates {
  peers: number;
  fixed: number;
  budgeted: number;
  upFixed: number;
  upBudgeted: number;
}

/** Probe datagrams per second the host sends to `peers` peers over loopback, measured for measureMs after settleMs. */
async function run(peers: number, prober: Partial<ProberOptions>, settleMs: number, measureMs: number): Promise<{ rate: number; up: number }> {
  const count = { sent: 0 };
  const hostMac = macOf(HOST_NAME);
  const base = { vni: VNI, port: PORT, mtu: 1450, clock: realClock, log: silentLogger(), intervalMs: 300, failAfterMs: 1200, onChange: () => undefined };
  const ht = await udpTransport(HOST, hostMac, count);
  const host = new Prober({ ...base, ...prober, self: HOST_NAME, bridgeMac: hostMac, replyTo: () => HOST, transport: ht });
  const list: { name: PeerName; addr: string; prober: Prober; t: Awaited<ReturnType<typeof udpTransport>> }[] = [];
  for (let i = 0; i < peers; i++) {
    const name = 0x02_00_00_10_00_00n + BigInt(i);
    const addr = `127.1.${i >> 8}.${i & 0xff}`;
    const t = await udpTransport(addr, macOf(name));
    const p = new Prober({ ...base, self: name, bridgeMac: macOf(name), replyTo: () => addr, transport: t });
    p.setTargets([{ name: HOST_NAME, addresses: [HOST], bridgeMac: hostMac }]);
    list.push({ name, addr, prober: p, t });
  }
  host.setTargets(list.map((p) => ({ name: p.name, addresses: [p.addr], bridgeMac: macOf(p.name) })));
  host.start();
  try {
    await sleep(settleMs);
    const before = count.sent;
    const t0 = performance.now();
    await sleep(measureMs);
    const rate = ((count.sent - before) * 1000) / (performance.now() - t0);
    return { rate, up: list.filter((p) => host.status(p.name).state === 'up').length };
  } finally {
    host.stop();
    ht.close();
    for (const p of list) p.t.close();
    await Promise.all([ht.closed, ...list.map((p) => p.t.closed)]);
  }
}

export async function measureSocketRates(peers: number, budgeted: Partial<ProberOptions>): Promise<SocketRates> {
  const fixed = await run(peers, {}, 3_000, 10_000);
  const b = await run(peers, budgeted, 15_000, 20_000);
  return { peers, fixed: fixed.rate, budgeted: b.rate, upFixed: fixed.up, upBudgeted: b.up };
}
