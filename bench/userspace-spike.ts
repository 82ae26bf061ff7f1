// Feasibility spike for the user-space ESP engine (issue 5; findings in docs/research/userspace-engine.md).
//
//   container ─ bridge weft ─ vxlan-weft ──(FIB rule: to PEER udp dport 6784 → table 6784)──► TUN weft-esp
//        ▲                                                                                      │ relay (this file)
//        └──── bridge ◄── vxlan-weft ◄── UDP 6784 local delivery ◄── TUN weft-esp ◄── UDP 6783 ─┘ on the peer
//
// `node dist/bench/userspace-spike.js relay --local A --peer B [--esp] [--io mmsg|dgram]` runs one
// host's relay: IPv4/UDP packets read from the TUN lose their IP header, the UDP header and VXLAN
// body travel in a UDP/6783 datagram (sealed as ESP transport mode with --esp, as xfrm would), and
// the receiver rebuilds the IP header (source = sender, destination = itself) and writes it into its
// own TUN. `node dist/bench/userspace-spike.js` (root) measures it against the kernel path.
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { NEXT_HEADER_UDP, openEsp, sealEsp, ESP_PAYLOAD_OFFSET } from '../crypto/esp.js';
import { InboundSa, OutboundSa } from '../crypto/esp-sa.js';
import { ipv4Number, ipv4Text, openBatchUdp, openTun, PacketBatch, type BatchUdp, type TunDevice } from '../router/tun.js';

export const ESP_PORT = 6783;
export const TUN_NAME = 'weft-esp';
const IPV4_HEADER = 20;
/** ESP starts this far into a slot so that its payload lands where the IPv4 header ends (seal in place). */
const ESP_AT = IPV4_HEADER - ESP_PAYLOAD_OFFSET;
const MAX_ROUNDS_PER_WAKEUP = 16;

export interface RelayOptions {
  local: string;
  peers: string[];
  esp: boolean;
  io: 'mmsg' | 'dgram';
  tun?: string;
}

export interface RelayStats {
  tunIn: number;
  udpOut: number;
  udpIn: number;
  tunOut: number;
  dropped: Record<string, number>;
  cpuUserMs: number;
  cpuSystemMs: number;
}

/** Fixed test keys per direction: never use outside this spike. */
export function spikeKeys(src: string, dst: string): { spi: number; key: Buffer; salt: Buffer } {
  const h = createHash('sha256').update(`weft spike ${src}>${dst}`).digest();
  const s = createHash('sha256').update(`weft spike salt ${src}>${dst}`).digest();
  return { spi: 0x1000 + (ipv4Number(dst) & 0xff), key: h, salt: s.subarray(0, 4) };
}

/** Writes a 20-byte IPv4 header (DF, TTL 64, UDP, checksum) at buf[off] for `payloadLength` bytes of UDP. */
export function writeIpv4UdpHeader(buf: Buffer, off: number, src: number, dst: number, payloadLength: number): void {
  buf[off] = 0x45;
  buf[off + 1] = 0;
  buf.writeUInt16BE(IPV4_HEADER + payloadLength, off + 2);
  buf.writeUInt32BE(0x00004000, off + 4);
  buf[off + 8] = 64;
  buf[off + 9] = NEXT_HEADER_UDP;
  buf.writeUInt16BE(0, off + 10);
  buf.writeUInt32BE(src, off + 12);
  buf.writeUInt32BE(dst, off + 16);
  let sum = 0;
  for (let i = 0; i < IPV4_HEADER; i += 2) sum += (buf[off + i]! << 8) | buf[off + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  buf.writeUInt16BE(~sum & 0xffff, off + 10);
}

/** Why an outbound TUN packet cannot be carried (undefined = it can): only unfragmented, option-less IPv4/UDP to a peer. */
export function outboundProblem(p: Buffer, peers: ReadonlySet<number>): string | undefined {
  if (p.length < IPV4_HEADER + 8) return 'short';
  if (p[0] !== 0x45) return 'not-ipv4-without-options';
  if (p[9] !== NEXT_HEADER_UDP) return 'not-udp';
  if ((p.readUInt16BE(6) & 0x3fff) !== 0) return 'fragment';
  if (p.readUInt16BE(2) !== p.length) return 'bad-length';
  if (!peers.has(p.readUInt32BE(16))) return 'not-a-peer';
  return undefined;
}

export function runRelay(opts: RelayOptions): { stop: () => RelayStats } {
  const local = ipv4Number(opts.local);
  const peers = new Set(opts.peers.map(ipv4Number));
  const stats: RelayStats = { tunIn: 0, udpOut: 0, udpIn: 0, tunOut: 0, dropped: {}, cpuUserMs: 0, cpuSystemMs: 0 };
  const drop = (why: string): void => {
    stats.dropped[why] = (stats.dropped[why] ?? 0) + 1;
  };
  const outSa = new Map<number, OutboundSa>();
  const inSa = new Map<number, InboundSa>();
  for (const p of opts.peers) {
    const o = spikeKeys(opts.local, p);
    outSa.set(ipv4Number(p), new OutboundSa(o.spi, { cipher: 'aes-256-gcm', key: o.key, salt: o.salt }));
    const i = spikeKeys(p, opts.local);
    inSa.set(i.spi, new InboundSa(i.spi, { cipher: 'aes-256-gcm', key: i.key, salt: i.salt }));
  }

  const tun: TunDevice = openTun({ name: opts.tun ?? TUN_NAME, persist: true });
  const tx = new PacketBatch();
  const rx = new PacketBatch();
  const sendOffset = opts.esp ? ESP_AT : IPV4_HEADER;
  const recvOffset = opts.esp ? ESP_AT : IPV4_HEADER;

  // Turns the IPv4 packets in tx (at slot offset 0) into datagrams at sendOffset; returns how many remain.
  const sealTx = (n: number): number => {
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const p = tx.packet(i, 0);
      const problem = outboundProblem(p, peers);
      if (problem) {
        drop(problem);
        continue;
      }
      const dst = p.readUInt32BE(16);
      const slot = tx.slot(i);
      let len = p.length - IPV4_HEADER;
      if (opts.esp) {
        const r = sealEsp(outSa.get(dst)!, slot.subarray(IPV4_HEADER, p.length), NEXT_HEADER_UDP, slot, ESP_AT);
        if (!r.ok) {
          drop(r.reason);
          continue;
        }
        len = r.length;
      }
      if (kept !== i) tx.slab.copyWithin(tx.slotStart(kept) + sendOffset, tx.slotStart(i) + sendOffset, tx.slotStart(i) + sendOffset + len);
      tx.lengths[kept] = len;
      tx.addrs[kept] = dst;
      kept++;
    }
    return kept;
  };

  // Turns the datagrams in rx (at recvOffset, sources in rx.addrs) into IPv4 packets at offset 0.
  const openRx = (n: number): number => {
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const len = rx.lengths[i]!;
      const src = rx.addrs[i]!;
      if (len < 0) {
        drop('truncated');
        continue;
      }
      if (!peers.has(src)) {
        drop('not-a-peer');
        continue;
      }
      const slot = rx.slot(i);
      let payload = len;
      if (opts.esp) {
        const r = openEsp(slot.subarray(ESP_AT, ESP_AT + len), (spi) => inSa.get(spi), slot, IPV4_HEADER);
        if (!r.ok) {
          drop(`esp-${r.reason}`);
          continue;
        }
        if (r.nextHeader !== NEXT_HEADER_UDP) {
          drop('esp-not-udp');
          continue;
        }
        payload = r.length;
      }
      if (payload < 8) {
        drop('short');
        continue;
      }
      writeIpv4UdpHeader(slot, 0, src, local, payload);
      if (kept !== i) rx.slab.copyWithin(rx.slotStart(kept), rx.slotStart(i), rx.slotStart(i) + IPV4_HEADER + payload);
      rx.lengths[kept] = IPV4_HEADER + payload;
      kept++;
    }
    return kept;
  };

  const writeTun = (n: number): void => {
    const done = tun.write(rx, n, 0);
    for (let i = 0; i < done; i++) {
      if (rx.lengths[i]! < 0) drop(`tun-write-errno-${-rx.lengths[i]!}`);
      else stats.tunOut++;
    }
    if (done < n) stats.dropped['tun-full'] = (stats.dropped['tun-full'] ?? 0) + n - done;
  };

  let stopIo: () => void;
  if (opts.io === 'mmsg') {
    const udp: BatchUdp = openBatchUdp({ address: opts.local, port: ESP_PORT });
    tun.onReadable(() => {
      for (let round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
        const n = tun.read(tx, 0);
        if (n === 0) return;
        stats.tunIn += n;
        const kept = sealTx(n);
        const sent = udp.send(tx, kept, ESP_PORT, sendOffset);
        stats.udpOut += sent;
        if (sent < kept) stats.dropped['udp-full'] = (stats.dropped['udp-full'] ?? 0) + kept - sent;
      }
    });
    udp.onReadable(() => {
      for (let round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
        const n = udp.receive(rx, recvOffset);
        if (n === 0) return;
        stats.udpIn += n;
        writeTun(openRx(n));
      }
    });
    stopIo = () => udp.close();
  } else {
    const sock: Socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    sock.bind(ESP_PORT, opts.local);
    let pending = 0;
    let flushing = false;
    const flush = (): void => {
      flushing = false;
      writeTun(openRx(pending));
      pending = 0;
    };
    sock.on('message', (msg, rinfo) => {
      stats.udpIn++;
      if (msg.length > rx.slotSize - recvOffset - 64) {
        drop('truncated');
        return;
      }
      msg.copy(rx.slab, rx.slotStart(pending) + recvOffset);
      rx.lengths[pending] = msg.length;
      rx.addrs[pending] = ipv4Number(rinfo.address);
      if (++pending === rx.capacity) flush();
      else if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    });
    tun.onReadable(() => {
      for (let round = 0; round < MAX_ROUNDS_PER_WAKEUP; round++) {
        const n = tun.read(tx, 0);
        if (n === 0) return;
        stats.tunIn += n;
        const kept = sealTx(n);
        for (let i = 0; i < kept; i++) {
          // dgram may send after this returns; the slab is reused at once, so each datagram is copied.
          sock.send(Buffer.from(tx.packet(i, sendOffset)), ESP_PORT, ipv4Text(tx.addrs[i]!));
          stats.udpOut++;
        }
      }
    });
    stopIo = () => sock.close();
  }

  return {
    stop() {
      stopIo();
      tun.close();
      const cpu = process.cpuUsage();
      stats.cpuUserMs = Math.round(cpu.user / 1000);
      stats.cpuSystemMs = Math.round(cpu.system / 1000);
      return stats;
    },
  };
}

function relayMain(argv: string[]): void {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const local = arg('local');
  const peers = (arg('peer') ?? '').split(',').filter(Boolean);
  if (!local || peers.length === 0) throw new Error('relay --local ADDR --peer ADDR[,ADDR…] [--esp] [--io mmsg|dgram] [--tun NAME]');
  const relay = runRelay({ local, peers, esp: argv.includes('--esp'), io: arg('io') === 'dgram' ? 'dgram' : 'mmsg', tun: arg('tun') });
  console.log('ready');
  const finish = (): void => {
    console.log(`stats ${JSON.stringify(relay.stop())}`);
    process.exit(0);
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain && process.argv[2] === 'relay') relayMain(process.argv.slice(3));
