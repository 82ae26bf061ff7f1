// The user-space ESP engine: does in user space what xfrm transport mode would do in the kernel
// (docs/encryption.md). The kernel keeps doing VXLAN; FIB rules steer its UDP/6784 packets into the
// TUN. Each one read from the TUN loses its IPv4 header and its UDP header and VXLAN body are
// sealed as ESP into a UDP/6783 datagram to the same address. Datagrams received on 6783 are opened
// and their VXLAN body is sent to the kernel's VXLAN socket on 127.0.0.1 (see `inject`).
//
//   out: | 20 IPv4 | UDP + VXLAN … |          TUN read at 0; sealed in place: ESP starts at 4
//        | 4 | SPI seq IV (16) | ciphertext | ICV |
//   in:  | 4 | SPI seq IV (16) | UDP 8 | VXLAN … |   opened in place; VXLAN injected from 28
//
// A packet for an address with no outbound SA is dropped (the key exchange is not done, or the
// peer has no direct connection: the data plane then relays via a peer that has). Nothing is ever
// sent in clear. The SAs come from router/esp-keys.ts through the SaTable methods.
import type { Logger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { ESP_MIN_BYTES, ESP_PAYLOAD_OFFSET, NEXT_HEADER_UDP, openEsp, sealEsp } from '../crypto/esp.js';
import { NativeEspContext, nativeEspAvailable, openBatch, sealBatch } from '../crypto/esp-native.js';
import { InboundSa, type OutboundSa } from '../crypto/esp-sa.js';
import type { SaTable } from './esp-keys.js';
import { ipv4Number, MAX_BATCH, PacketBatch, type BatchUdp, type TunDevice } from './tun.js';

const IPV4_HEADER = 20;
const UDP_HEADER = 8;
/** Where ESP starts in a slot, so that its payload is where the IPv4 header ended. */
const ESP_AT = IPV4_HEADER - ESP_PAYLOAD_OFFSET;
/** Where an opened VXLAN body starts in its slot: after the ESP header's room and the UDP header. */
const INJECT_AT = IPV4_HEADER + UDP_HEADER;
const LOOPBACK = 0x7f000001;
/** Batches handled per wakeup before yielding to the event loop. */
const ROUNDS_PER_WAKEUP = 16;
/** Scratch for the native calls: the slots of one SA's packets, and the next headers opened. */
const SLOT_LIST = new Int32Array(MAX_BATCH);
const NEXT_HEADERS = new Uint8Array(MAX_BATCH);

/** One native cipher context per SA, made on first use and freed with the SA. */
class NativeContexts {
  private readonly out = new Map<OutboundSa, NativeEspContext>();
  private readonly in = new Map<InboundSa, NativeEspContext>();

  outbound(sa: OutboundSa): NativeEspContext {
    let c = this.out.get(sa);
    if (!c) this.out.set(sa, (c = NativeEspContext.forOutbound(sa)));
    return c;
  }

  inbound(sa: InboundSa): NativeEspContext {
    let c = this.in.get(sa);
    if (!c) this.in.set(sa, (c = NativeEspContext.forInbound(sa)));
    return c;
  }

  forget(sa: OutboundSa | InboundSa): void {
    const m = (sa instanceof InboundSa ? this.in : this.out) as Map<OutboundSa | InboundSa, NativeEspContext>;
    m.get(sa)?.free();
    m.delete(sa);
  }
}

export interface EspEngineOptions {
  tun: TunDevice;
  udp: BatchUdp;
  /**
   * Hands opened VXLAN datagrams to the kernel's VXLAN socket on 127.0.0.1 (marked, so the
   * cleartext guard lets them in): with UDP GSO a whole batch crosses the stack once and the
   * VXLAN device's GRO coalesces the inner packets (writing each into the TUN costs a full trip
   * through the stack per packet).
   */
  inject: BatchUdp;
  /** UDP port of ESP-in-UDP (6783). */
  espPort: number;
  /** The VXLAN port: the only traffic carried. */
  vxlanPort: number;
  log: Logger;
}

export interface EspPeerCounters {
  sent: number;
  received: number;
  /** Bytes of the VXLAN datagrams (UDP header on) sealed for the peer / opened from it. */
  sentBytes: number;
  receivedBytes: number;
  replayDrops: number;
  authFailures: number;
}

export interface EspEngineCounters {
  tunIn: number;
  sent: number;
  received: number;
  tunOut: number;
  dropped: Record<string, number>;
}

export class EspEngine implements SaTable {
  readonly kind = 'user space' as const;
  private readonly outbound = new Map<PeerName, OutboundSa>();
  private readonly inbound = new Map<number, { peer: PeerName; sa: InboundSa }>();
  /** Underlay address (host order) → peer, from the peer records. */
  private byAddress = new Map<number, PeerName>();
  private readonly perPeer = new Map<PeerName, EspPeerCounters>();
  private readonly tx = new PacketBatch();
  private readonly rx = new PacketBatch();
  private stopped = false;
  /** Native batched AEAD when the addon has it; per-packet crypto/esp.ts otherwise. */
  private readonly contexts: NativeContexts | undefined;
  readonly counters: EspEngineCounters = { tunIn: 0, sent: 0, received: 0, tunOut: 0, dropped: {} };

  constructor(private readonly o: EspEngineOptions) {
    this.contexts = nativeEspAvailable() ? new NativeContexts() : undefined;
  }

  start(): void {
    this.o.tun.onReadable(() => this.fromTun());
    this.o.udp.onReadable(() => this.fromWire());
  }

  stop(opts: { remove?: boolean } = {}): void {
    if (this.stopped) return;
    this.stopped = true;
    this.o.udp.close();
    this.o.inject.close();
    this.o.tun.close(opts);
  }

  // ── SaTable ─────────────────────────────────────────────────────────────────────────────────────

  addInbound(peer: PeerName, sa: InboundSa): void {
    this.inbound.set(sa.spi, { peer, sa });
  }

  removeInbound(spi: number): void {
    const e = this.inbound.get(spi);
    if (!e) return;
    this.peerCounters(e.peer).replayDrops += e.sa.drops.replay + e.sa.drops['too-old'];
    this.peerCounters(e.peer).authFailures += e.sa.drops['auth-failed'];
    this.inbound.delete(spi);
    this.contexts?.forget(e.sa);
  }

  hasInbound(spi: number): boolean {
    return this.inbound.has(spi);
  }

  setOutbound(peer: PeerName, sa: OutboundSa | undefined): void {
    const old = this.outbound.get(peer);
    if (old && old !== sa) this.contexts?.forget(old);
    if (sa) this.outbound.set(peer, sa);
    else this.outbound.delete(peer);
  }

  // ── addresses ───────────────────────────────────────────────────────────────────────────────────

  /** Which peer each underlay address belongs to (the kernel engine also needs our own; this one does not). */
  setAddresses(peers: Map<PeerName, string[]>): void {
    const m = new Map<number, PeerName>();
    for (const [peer, addrs] of peers) for (const a of addrs) m.set(ipv4Number(a), peer);
    this.byAddress = m;
  }

  /** Per peer: packets sent and received, and drops by the replay window and by authentication. */
  peerCounters(peer: PeerName): EspPeerCounters {
    let c = this.perPeer.get(peer);
    if (!c) {
      c = { sent: 0, received: 0, sentBytes: 0, receivedBytes: 0, replayDrops: 0, authFailures: 0 };
      this.perPeer.set(peer, c);
    }
    return c;
  }

  /** peerCounters plus what the live inbound SAs have counted. */
  peerStatus(peer: PeerName): EspPeerCounters {
    const c = { ...this.peerCounters(peer) };
    for (const e of this.inbound.values()) {
      if (e.peer !== peer) continue;
      c.replayDrops += e.sa.drops.replay + e.sa.drops['too-old'];
      c.authFailures += e.sa.drops['auth-failed'];
    }
    return c;
  }

  // ── the two directions ──────────────────────────────────────────────────────────────────────────

  private fromTun(): void {
    const { tx } = this;
    for (let round = 0; round < ROUNDS_PER_WAKEUP && !this.stopped; round++) {
      const n = this.o.tun.read(tx, 0);
      if (n === 0) return;
      this.counters.tunIn += n;
      // Classify, then seal per SA (usually one or two per batch) in one native call each.
      const groups = new Map<OutboundSa, number[]>();
      for (let i = 0; i < n; i++) {
        const sa = this.outboundFor(i);
        if (!sa) {
          tx.lengths[i] = -1;
          continue;
        }
        let g = groups.get(sa);
        if (!g) groups.set(sa, (g = []));
        g.push(i);
        tx.lengths[i] = tx.lengths[i]! - IPV4_HEADER;
      }
      for (const [sa, slots] of groups) this.seal(sa, slots);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const len = tx.lengths[i]!;
        if (len < 0) continue;
        if (kept !== i) {
          const from = tx.slotStart(i) + ESP_AT;
          tx.slab.copyWithin(tx.slotStart(kept) + ESP_AT, from, from + len);
          tx.lengths[kept] = len;
          tx.addrs[kept] = tx.addrs[i]!;
        }
        kept++;
      }
      if (kept === 0) continue;
      const sent = this.o.udp.send(tx, kept, this.o.espPort, ESP_AT, true);
      this.counters.sent += sent;
      for (let i = 0; i < sent; i++) {
        if (tx.lengths[i]! < 0) this.drop(`send-errno-${-tx.lengths[i]!}`);
      }
      if (sent < kept) this.drop('send-queue-full', kept - sent);
    }
  }

  /** Checks TUN packet i and finds its SA (its destination goes to tx.addrs[i]); undefined = drop. */
  private outboundFor(i: number): OutboundSa | undefined {
    const { tx } = this;
    const p = tx.packet(i, 0);
    if (p.length < IPV4_HEADER + UDP_HEADER || p[0] !== 0x45 || p[9] !== NEXT_HEADER_UDP) return this.drop('not-ipv4-udp');
    if ((p.readUInt16BE(6) & 0x3fff) !== 0) return this.drop('fragment');
    if (p.readUInt16BE(2) !== p.length) return this.drop('bad-length');
    if (p.readUInt16BE(IPV4_HEADER + 2) !== this.o.vxlanPort) return this.drop('not-vxlan');
    const dst = p.readUInt32BE(16);
    const peer = this.byAddress.get(dst);
    if (peer === undefined) return this.drop('unknown-peer');
    const sa = this.outbound.get(peer);
    if (!sa) return this.drop('no-sa');
    tx.addrs[i] = dst;
    const c = this.peerCounters(peer);
    c.sent++;
    c.sentBytes += p.length - IPV4_HEADER;
    return sa;
  }

  /** Seals the listed slots (payload at IPV4_HEADER, lengths = payload bytes) into ESP at ESP_AT. */
  private seal(sa: OutboundSa, slots: number[]): void {
    const { tx } = this;
    const ctx = this.contexts?.outbound(sa);
    if (ctx) {
      for (let k = 0; k < slots.length; k++) SLOT_LIST[k] = slots[k]!;
      const r = sealBatch(ctx, sa, tx, SLOT_LIST, slots.length, IPV4_HEADER);
      if (r.sealed < slots.length) this.drop(r.exhausted ? 'sequence-exhausted' : 'seal-failed', slots.length - r.sealed);
      return;
    }
    for (const i of slots) {
      const slot = tx.slot(i);
      const r = sealEsp(sa, slot.subarray(IPV4_HEADER, IPV4_HEADER + tx.lengths[i]!), NEXT_HEADER_UDP, slot, ESP_AT);
      if (r.ok) tx.lengths[i] = r.length;
      else {
        tx.lengths[i] = -1;
        this.drop(r.reason);
      }
    }
  }

  private fromWire(): void {
    const { rx } = this;
    for (let round = 0; round < ROUNDS_PER_WAKEUP && !this.stopped; round++) {
      const n = this.o.udp.receive(rx, ESP_AT);
      if (n === 0) return;
      this.counters.received += n;
      const groups = new Map<number, number[]>();
      for (let i = 0; i < n; i++) {
        const spi = this.inboundSpi(i);
        if (spi === undefined) {
          rx.lengths[i] = -1;
          continue;
        }
        let g = groups.get(spi);
        if (!g) groups.set(spi, (g = []));
        g.push(i);
      }
      for (const [spi, slots] of groups) this.open(this.inbound.get(spi)!, slots);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const len = rx.lengths[i]!;
        if (len < 0) continue;
        if (kept !== i) {
          rx.slab.copyWithin(rx.slotStart(kept) + INJECT_AT, rx.slotStart(i) + INJECT_AT, rx.slotStart(i) + INJECT_AT + len);
          rx.lengths[kept] = len;
        }
        kept++;
      }
      if (kept === 0) continue;
      rx.addrs.fill(LOOPBACK, 0, kept);
      const done = this.o.inject.send(rx, kept, this.o.vxlanPort, INJECT_AT, true);
      for (let i = 0; i < done; i++) {
        if (rx.lengths[i]! < 0) this.drop(`inject-errno-${-rx.lengths[i]!}`);
        else this.counters.tunOut++;
      }
      if (done < kept) this.drop('inject-full', kept - done);
    }
  }

  /** The SPI of received datagram i if it is ESP for a live inbound SA; undefined = drop. */
  private inboundSpi(i: number): number | undefined {
    const { rx } = this;
    const len = rx.lengths[i]!;
    if (len < 0) return this.drop('truncated');
    if (len < ESP_MIN_BYTES) return this.drop('esp-short');
    const start = rx.slotStart(i) + ESP_AT;
    const spi = rx.slab.readUInt32BE(start);
    if (spi === 0) return this.drop('non-esp-marker');
    if (!this.inbound.has(spi)) return this.drop('esp-unknown-spi');
    return spi;
  }

  /** Opens the listed slots (ESP at ESP_AT) and rebuilds each as an IPv4 packet at 0; failures get lengths < 0. */
  private open(e: { peer: PeerName; sa: InboundSa }, slots: number[]): void {
    const { rx } = this;
    const ctx = this.contexts?.inbound(e.sa);
    const payloadAt = ESP_AT + ESP_PAYLOAD_OFFSET;
    if (ctx) {
      for (let k = 0; k < slots.length; k++) SLOT_LIST[k] = slots[k]!;
      openBatch(ctx, e.sa, rx, SLOT_LIST, slots.length, ESP_AT, NEXT_HEADERS);
    } else {
      for (const i of slots) {
        const slot = rx.slot(i);
        const r = openEsp(slot.subarray(ESP_AT, ESP_AT + rx.lengths[i]!), () => e.sa, slot, payloadAt);
        rx.lengths[i] = r.ok ? r.length : -1;
        NEXT_HEADERS[i] = r.ok ? r.nextHeader : 0;
      }
    }
    const counters = this.peerCounters(e.peer);
    for (const i of slots) {
      const len = rx.lengths[i]!;
      if (len < 0) continue;
      const slot = rx.slot(i);
      if (NEXT_HEADERS[i] !== NEXT_HEADER_UDP || len < UDP_HEADER) {
        rx.lengths[i] = -1;
        this.drop('not-udp');
        continue;
      }
      if (slot.readUInt16BE(payloadAt + 2) !== this.o.vxlanPort) {
        rx.lengths[i] = -1;
        this.drop('not-vxlan');
        continue;
      }
      rx.lengths[i] = len - UDP_HEADER;
      counters.received++;
      counters.receivedBytes += len;
    }
  }

  private drop(reason: string, n = 1): undefined {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + n;
    return undefined;
  }
}
