// The ESP key exchange: one pair of SAs per direct mesh connection, keyed from that connection's
// password-bound session key (crypto/hkdf-keys.ts) and fresh salts from both ends, rotated before
// the sequence number or the key's age runs out. This module owns the SAs; the packet engine only
// uses them (SaTable).
//
//   initiator (dialled the connection)            responder
//   offer(epoch, spiI, saltI, ciphers) ─────────►  installs inbound (spiR), holds outbound
//                                      ◄─────────  answer(epoch, spiR, saltR, cipher)
//   installs inbound (spiI) and outbound          (its old outbound keeps sending meanwhile)
//   confirm(epoch) ─────────────────────────────►  switches outbound
//
// A side switches its outbound SA only once the other side has installed the matching inbound SA,
// so rekeying drops nothing; old inbound SAs stay for `overlapMs`. Lost messages are repeated every
// `retryMs` (each message is idempotent). The responder asks for a rekey when its counter runs high.
// SAs outlive their connection by `lingerMs`, so a reconnect does not interrupt traffic; a new
// connection always negotiates fresh keys.
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { PeerName } from '../mesh/peer-name.js';
import { formatPeerName } from '../mesh/peer-name.js';
import { allocateSpi, InboundSa, OutboundSa, type EspCipher, type EspSaKeys } from '../crypto/esp-sa.js';
import { deriveEspKeyPair, freshKeySalt } from '../crypto/hkdf-keys.js';
import { decodeEspMessage, encodeEspMessage, type EspMessage } from './esp-messages.js';

/** Where the SAs go: the packet engine. */
export interface SaTable {
  addInbound(peer: PeerName, sa: InboundSa): void;
  removeInbound(spi: number): void;
  /** The SA used for everything sent to peer from now on; undefined = send nothing to peer. */
  setOutbound(peer: PeerName, sa: OutboundSa | undefined): void;
  hasInbound(spi: number): boolean;
}

export interface NewSa {
  peer: PeerName;
  direction: 'in' | 'out';
  spi: number;
  keys: EspSaKeys;
  /** Underlay addresses of the connection: source and destination of the SA's packets. */
  src: string;
  dst: string;
}

export interface EspKeysOptions {
  clock: Clock;
  log: Logger;
  table: SaTable;
  /** Ciphers we support, in our order of preference. */
  ciphers: EspCipher[];
  send: (peer: PeerName, msg: Buffer) => void;
  /** Told about every SA installed (for --esp-keylog). */
  onNewSa?: (sa: NewSa) => void;
  random?: (n: number) => Buffer;
  rekeyAfterMs: number;
  /** Rekey once an outbound SA has used this many sequence numbers. */
  rekeyAfterPackets: number;
  overlapMs: number;
  retryMs: number;
  lingerMs: number;
}

interface Negotiation {
  epoch: number;
  spi: number;
  salt: Buffer;
  sentAt: number;
  /** Responder: the answer we sent and the outbound SA waiting for the confirm. */
  answer?: EspMessage;
  pendingOut?: OutboundSa;
  cipher?: EspCipher;
}

interface PeerKeys {
  peer: PeerName;
  uid: bigint | undefined;
  initiator: boolean;
  sessionKey: Buffer | undefined;
  local: string;
  remote: string;
  epoch: number;
  negotiating: Negotiation | undefined;
  inbound: InboundSa | undefined;
  outbound: OutboundSa | undefined;
  cipher: EspCipher | undefined;
  keyedAt: number;
  retiring: { spi: number; at: number }[];
  downSince: number | undefined;
  lastRekeyAsk: number;
  rekeys: number;
}

export interface PeerKeyStatus {
  cipher: EspCipher | null;
  spiIn: number | null;
  spiOut: number | null;
  keyAgeMs: number | null;
  epoch: number;
  rekeys: number;
  /** "established", "negotiating", "no connection" … */
  state: string;
}

export class EspKeys {
  private readonly peers = new Map<PeerName, PeerKeys>();
  /** Responder: inbound SAs installed for an answer whose confirm has not arrived. */
  private readonly pendingIn = new Map<number, InboundSa>();
  private readonly random: ((n: number) => Buffer) | undefined;
  readonly dropped: Record<string, number> = {};

  constructor(private readonly o: EspKeysOptions) {
    this.random = o.random;
  }

  connectionUp(c: { peer: PeerName; uid: bigint; outbound: boolean; sessionKey: Buffer | undefined; localAddr: string; remoteAddr: string }): void {
    if (!c.sessionKey) return;
    const prev = this.peers.get(c.peer);
    if (prev) this.abandon(prev, this.o.overlapMs);
    const p: PeerKeys = {
      peer: c.peer,
      uid: c.uid,
      initiator: c.outbound,
      sessionKey: c.sessionKey,
      local: hostOf(c.localAddr),
      remote: hostOf(c.remoteAddr),
      epoch: 0,
      negotiating: undefined,
      // The previous connection's SAs carry traffic until the new ones are in place.
      inbound: prev?.inbound,
      outbound: prev?.outbound,
      cipher: prev?.cipher,
      keyedAt: prev?.keyedAt ?? 0,
      retiring: prev?.retiring ?? [],
      downSince: undefined,
      lastRekeyAsk: 0,
      rekeys: prev?.rekeys ?? 0,
    };
    this.peers.set(c.peer, p);
    if (p.initiator) this.offer(p);
  }

  connectionDown(peer: PeerName, uid: bigint): void {
    const p = this.peers.get(peer);
    if (!p || p.uid !== uid) return;
    p.uid = undefined;
    p.sessionKey = undefined;
    this.abandon(p, this.o.lingerMs);
    p.downSince = this.o.clock.now();
    // The peer may not have switched to our newest inbound SA yet: keep the older ones as long as the rest.
    for (const r of p.retiring) r.at = Math.max(r.at, p.downSince + this.o.lingerMs);
  }

  onMessage(src: PeerName, buf: Buffer): void {
    const d = decodeEspMessage(buf);
    if (!d.ok) return this.drop('malformed', d.reason);
    const m = d.value;
    const p = this.peers.get(src);
    if (!p || p.uid !== m.uid || !p.sessionKey) return this.drop('stale-connection');
    switch (m.type) {
      case 'offer':
        return p.initiator ? this.drop('unexpected') : this.onOffer(p, m);
      case 'answer':
        return p.initiator ? this.onAnswer(p, m) : this.drop('unexpected');
      case 'confirm':
        return p.initiator ? this.drop('unexpected') : this.onConfirm(p, m.epoch);
      case 'rekey':
        if (p.initiator && !p.negotiating && m.epoch === p.epoch) this.offer(p);
        return;
    }
  }

  /** Repeats lost messages, starts rekeys that are due, retires old SAs. Call every second or so. */
  tick(): void {
    const now = this.o.clock.now();
    for (const p of [...this.peers.values()]) {
      for (const r of p.retiring.filter((x) => now >= x.at)) this.o.table.removeInbound(r.spi);
      p.retiring = p.retiring.filter((x) => now < x.at);
      if (p.downSince !== undefined) {
        if (now - p.downSince >= this.o.lingerMs) this.forget(p);
        continue;
      }
      const n = p.negotiating;
      if (n && now - n.sentAt >= this.o.retryMs) {
        n.sentAt = now;
        if (p.initiator) this.sendOffer(p, n);
        else if (n.answer) this.send(p, n.answer);
      }
      const due = p.outbound !== undefined && p.epoch > 0 && (now - p.keyedAt >= this.o.rekeyAfterMs || p.outbound.sequence >= this.o.rekeyAfterPackets);
      if (!due || n) continue;
      if (p.initiator) {
        this.offer(p);
      } else if (now - p.lastRekeyAsk >= this.o.retryMs) {
        p.lastRekeyAsk = now;
        this.send(p, { type: 'rekey', uid: p.uid!, epoch: p.epoch });
      }
    }
  }

  status(peer: PeerName): PeerKeyStatus | undefined {
    const p = this.peers.get(peer);
    if (!p) return undefined;
    const state = p.downSince !== undefined ? 'no connection (old keys kept for a while)' : p.outbound ? (p.negotiating ? 'established, rekeying' : 'established') : 'negotiating';
    return {
      cipher: p.cipher ?? null,
      spiIn: p.inbound?.spi ?? null,
      spiOut: p.outbound?.spi ?? null,
      keyAgeMs: p.outbound ? this.o.clock.now() - p.keyedAt : null,
      epoch: p.epoch,
      rekeys: p.rekeys,
      state,
    };
  }

  /** Removes every SA (shutdown, reset). */
  clear(): void {
    for (const p of [...this.peers.values()]) this.forget(p);
  }

  // ── initiator ──────────────────────────────────────────────────────────────────────────────────

  private offer(p: PeerKeys): void {
    const n: Negotiation = { epoch: p.epoch + 1, spi: this.newSpi(), salt: freshKeySalt(this.random), sentAt: this.o.clock.now() };
    p.negotiating = n;
    this.sendOffer(p, n);
  }

  private sendOffer(p: PeerKeys, n: Negotiation): void {
    this.send(p, { type: 'offer', uid: p.uid!, epoch: n.epoch, spi: n.spi, salt: n.salt, ciphers: this.o.ciphers });
  }

  private onAnswer(p: PeerKeys, m: Extract<EspMessage, { type: 'answer' }>): void {
    const n = p.negotiating;
    if (!n || n.epoch !== m.epoch) {
      // Our confirm was lost: the responder repeats its answer.
      if (m.epoch === p.epoch) this.send(p, { type: 'confirm', uid: p.uid!, epoch: p.epoch });
      return;
    }
    if (!this.o.ciphers.includes(m.cipher)) return this.drop('unsupported-cipher');
    const keys = deriveEspKeyPair({ sessionKey: p.sessionKey!, initiatorSalt: n.salt, responderSalt: m.salt, cipher: m.cipher });
    const inbound = new InboundSa(n.spi, keys.r2i);
    const outbound = new OutboundSa(m.spi, keys.i2r);
    this.install(p, m.epoch, m.cipher, inbound, outbound);
    this.send(p, { type: 'confirm', uid: p.uid!, epoch: m.epoch });
  }

  // ── responder ──────────────────────────────────────────────────────────────────────────────────

  private onOffer(p: PeerKeys, m: Extract<EspMessage, { type: 'offer' }>): void {
    const n = p.negotiating;
    if (n && n.epoch === m.epoch && n.answer) return this.send(p, n.answer);
    if (m.epoch <= p.epoch) return this.drop('old-epoch');
    const cipher = m.ciphers.find((c) => this.o.ciphers.includes(c));
    if (!cipher) {
      this.o.log.warn({ peer: formatPeerName(p.peer), theirs: m.ciphers, ours: this.o.ciphers }, 'no ESP cipher in common with peer');
      return this.drop('no-common-cipher');
    }
    // An offer for the epoch after our pending answer proves the initiator installed it: the confirm was lost.
    if (n?.answer && m.epoch === n.epoch + 1) this.onConfirm(p, n.epoch);
    else this.abandon(p, this.o.overlapMs);
    const spi = this.newSpi();
    const salt = freshKeySalt(this.random);
    const keys = deriveEspKeyPair({ sessionKey: p.sessionKey!, initiatorSalt: m.salt, responderSalt: salt, cipher });
    const inbound = new InboundSa(spi, keys.i2r);
    this.o.table.addInbound(p.peer, inbound);
    this.announce(p, 'in', spi, inbound.cipher, keys.i2r);
    const answer: EspMessage = { type: 'answer', uid: p.uid!, epoch: m.epoch, spi, salt, cipher };
    p.negotiating = { epoch: m.epoch, spi, salt, sentAt: this.o.clock.now(), answer, pendingOut: new OutboundSa(m.spi, keys.r2i), cipher };
    // Until the confirm arrives the new inbound SA is listed as pending, so status shows the old.
    this.pendingIn.set(spi, inbound);
    this.send(p, answer);
  }

  private onConfirm(p: PeerKeys, epoch: number): void {
    const n = p.negotiating;
    if (!n || n.epoch !== epoch || !n.pendingOut || !n.cipher) return;
    const inbound = this.pendingIn.get(n.spi)!;
    this.pendingIn.delete(n.spi);
    this.install(p, epoch, n.cipher, inbound, n.pendingOut, { inboundInstalled: true });
  }

  // ── both ───────────────────────────────────────────────────────────────────────────────────────

  private install(p: PeerKeys, epoch: number, cipher: EspCipher, inbound: InboundSa, outbound: OutboundSa, opts: { inboundInstalled?: boolean } = {}): void {
    const now = this.o.clock.now();
    if (!opts.inboundInstalled) {
      this.o.table.addInbound(p.peer, inbound);
      this.announce(p, 'in', inbound.spi, cipher, { cipher, key: inbound.key, salt: inbound.salt });
    }
    this.o.table.setOutbound(p.peer, outbound);
    this.announce(p, 'out', outbound.spi, cipher, { cipher, key: outbound.key, salt: outbound.salt });
    if (p.inbound && p.inbound.spi !== inbound.spi) p.retiring.push({ spi: p.inbound.spi, at: now + this.o.overlapMs });
    if (p.outbound) p.rekeys++;
    p.inbound = inbound;
    p.outbound = outbound;
    p.cipher = cipher;
    p.epoch = epoch;
    p.keyedAt = now;
    p.negotiating = undefined;
    this.o.log.info({ peer: formatPeerName(p.peer), epoch, cipher, spiIn: hex(inbound.spi), spiOut: hex(outbound.spi) }, 'ESP keys installed');
  }

  private announce(p: PeerKeys, direction: 'in' | 'out', spi: number, cipher: EspCipher, keys: EspSaKeys): void {
    this.o.onNewSa?.({
      peer: p.peer,
      direction,
      spi,
      keys: { ...keys, cipher },
      src: direction === 'out' ? p.local : p.remote,
      dst: direction === 'out' ? p.remote : p.local,
    });
  }

  /** Drops a negotiation under way; an inbound SA we answered with may be in use already, so it retires after keepMs. */
  private abandon(p: PeerKeys, keepMs: number): void {
    const n = p.negotiating;
    p.negotiating = undefined;
    if (!n?.answer) return;
    this.pendingIn.delete(n.spi);
    p.retiring.push({ spi: n.spi, at: this.o.clock.now() + keepMs });
  }

  private forget(p: PeerKeys): void {
    this.abandon(p, 0);
    this.o.table.setOutbound(p.peer, undefined);
    if (p.inbound) this.o.table.removeInbound(p.inbound.spi);
    for (const r of p.retiring) this.o.table.removeInbound(r.spi);
    this.peers.delete(p.peer);
  }

  private newSpi(): number {
    const offered = (spi: number): boolean => [...this.peers.values()].some((p) => p.initiator && p.negotiating?.spi === spi);
    return allocateSpi((spi) => this.o.table.hasInbound(spi) || this.pendingIn.has(spi) || offered(spi), this.random);
  }

  private send(p: PeerKeys, m: EspMessage): void {
    this.o.send(p.peer, encodeEspMessage(m));
  }

  private drop(reason: string, detail?: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    if (detail) this.o.log.debug({ reason: detail }, 'ESP key message dropped');
  }
}

function hostOf(addr: string): string {
  const i = addr.lastIndexOf(':');
  return i > 0 ? addr.slice(0, i).replace(/^\[|\]$/g, '') : addr;
}

function hex(spi: number): string {
  return `0x${spi.toString(16).padStart(8, '0')}`;
}
