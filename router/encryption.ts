// Encryption of the data plane with a password (docs/encryption.md): wires the key exchange
// (esp-keys.ts), the user-space engine (esp-engine.ts), the kernel steering and the cleartext
// guard together, and answers the data plane's questions about them.
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { ConnectionUp } from '../mesh/router.js';
import type { PeerName } from '../mesh/peer-name.js';
import type { GossipChannel, Gossiper } from '../mesh/gossip.js';
import type { EspCipher } from '../crypto/esp-sa.js';
import { appendEspKeylog } from '../crypto/esp-keylog.js';
import { EspEngine } from './esp-engine.js';
import { EspKeys, type NewSa } from './esp-keys.js';
import { ESP_CHANNEL } from './esp-messages.js';
import type { CleartextCounts, CleartextGuard } from './esp-firewall.js';
import type { EspSteering } from './kernel.js';
import type { KernelEspEngine } from './esp-kernel-engine.js';
import type { DataplaneEncryption } from './dataplane.js';
import { SerialQueue } from '../lib/serial.js';

/** ESP-in-UDP (8) + SPI/seq/IV (16) + pad and trailer (≤ 5) + ICV (16), rounded up to 4: what a VXLAN packet grows by. */
export const ESP_OVERHEAD = 48;
export const ESP_TABLE = 6784;
export const ESP_RULE_PRIORITY = 100;
export const ESP_TUN = 'weft-esp';

export interface EncryptionOptions {
  clock: Clock;
  log: Logger;
  /** The user-space engine needs the steering and the nft guard; the kernel's policies are both. */
  engine: { kind: 'user space'; engine: EspEngine; tun: string; guard: CleartextGuard } | { kind: 'kernel'; engine: KernelEspEngine };
  espPort: number;
  vxlanPort: number;
  ciphers: EspCipher[];
  keylog?: string;
  rekeyAfterMs: number;
  rekeyAfterPackets: number;
  overlapMs: number;
  lingerMs: number;
}

/** Per peer, as `weft status connections` shows it. */
export interface PeerEncryption {
  encrypted: boolean;
  engine: 'user space' | 'kernel';
  cipher: EspCipher | null;
  spiIn: string | null;
  spiOut: string | null;
  keyAgeMs: number | null;
  rekeys: number;
  state: string;
  sent: number;
  received: number;
  /** Bytes of the VXLAN datagrams carried: user space counts them with their UDP header, the kernel as xfrm's lifetime counters do. */
  sentBytes?: number;
  receivedBytes?: number;
  replayDrops: number;
  authFailures: number;
}

export interface EncryptionSummary {
  engine: 'user space' | 'kernel';
  /** The user-space engine's TUN; null for the kernel engine. */
  tun: string | null;
  ciphers: EspCipher[];
  keylog: string | null;
  /** Cleartext VXLAN dropped by the guard (null if it could not be read). */
  cleartextDropped: CleartextCounts | null;
  packets: { tunIn: number; sent: number; received: number; tunOut: number };
  dropped: Record<string, number>;
  keyExchangeDropped: Record<string, number>;
  lastError: string | null;
}

export class Encryption implements Gossiper, DataplaneEncryption {
  readonly overhead = ESP_OVERHEAD;
  readonly engine: EspEngine | KernelEspEngine;
  readonly keys: EspKeys;
  readonly steering: EspSteering | undefined;
  private channel: GossipChannel | undefined;
  private ticker: Timer | undefined;
  /** Key log lines are appended in the order the SAs were made. */
  private readonly keylogWrites = new SerialQueue();
  private cleartext: CleartextCounts | null = null;
  private lastError: string | null = null;
  private stopped = false;
  private resetting = false;

  constructor(private readonly o: EncryptionOptions) {
    const e = o.engine;
    this.steering = e.kind === 'user space' ? { tun: e.tun, table: ESP_TABLE, port: o.vxlanPort, priority: ESP_RULE_PRIORITY } : undefined;
    this.engine = e.engine;
    this.keys = new EspKeys({
      clock: o.clock,
      log: o.log,
      table: this.engine,
      ciphers: o.ciphers,
      send: (peer, msg) => this.channel?.gossipUnicast(peer, msg),
      onNewSa: o.keylog ? (sa) => this.writeKeylog(sa) : undefined,
      rekeyAfterMs: o.rekeyAfterMs,
      rekeyAfterPackets: o.rekeyAfterPackets,
      overlapMs: o.overlapMs,
      retryMs: 1000,
      lingerMs: o.lingerMs,
    });
    if (o.keylog) o.log.warn({ file: o.keylog }, '--esp-keylog: every ESP key is written to this file; anyone who reads it can decrypt the traffic');
  }

  /** Installs the cleartext guard, then starts the engine. Rejects (and sends nothing) if the guard cannot be installed. */
  async start(mesh: { newGossip(name: string, g: Gossiper): GossipChannel; on(ev: 'connection-up', cb: (c: ConnectionUp) => void): unknown; on(ev: 'connection-down', cb: (c: { peer: PeerName; uid: bigint }) => void): unknown }): Promise<void> {
    const e = this.o.engine;
    if (e.kind === 'user space') await e.guard.apply({ vxlanPort: this.o.vxlanPort, tun: e.tun });
    else await e.engine.start();
    this.channel = mesh.newGossip(ESP_CHANNEL, this);
    mesh.on('connection-up', (c) => this.keys.connectionUp(c));
    mesh.on('connection-down', (c) => this.keys.connectionDown(c.peer, c.uid));
    if (e.kind === 'user space') e.engine.start();
    this.tick();
  }

  /**
   * Stops the engine. The steering, the guard and the (persistent) TUN stay, so nothing leaves in
   * clear while weft is down or restarting — unless reset() was called.
   */
  stop(): void {
    this.stopped = true;
    this.ticker?.cancel();
    const e = this.o.engine;
    if (e.kind === 'user space') {
      this.keys.clear();
      e.engine.stop({ remove: this.resetting });
    } else {
      // The kernel's states keep carrying traffic while weft restarts (unless reset removed them).
      e.engine.stop();
    }
  }

  /** `weft reset`: removes the guard now and the TUN at stop (the data plane removes the steering). */
  async reset(): Promise<void> {
    this.resetting = true;
    const e = this.o.engine;
    if (e.kind === 'user space') await e.guard.apply(undefined);
    else await e.engine.reset().then(() => undefined);
  }

  private tick(): void {
    if (this.stopped) return;
    this.keys.tick();
    const e = this.o.engine;
    const counts = e.kind === 'user space'
      ? e.guard.counts()
      : e.engine.refreshCounters().then(() => ({ inbound: e.engine.counters.dropped.XfrmInTmplMismatch ?? 0, outbound: e.engine.counters.dropped.XfrmOutNoStates ?? 0 }));
    void counts.then((c) => {
      this.cleartext = c ?? null;
    }, (err: unknown) => {
      this.lastError = errorMessage(err);
    });
    this.ticker = this.o.clock.setTimeout(() => this.tick(), 1000);
  }

  peersChanged(addresses: Map<PeerName, string[]>, local: string | undefined): void {
    this.engine.setAddresses(addresses, local);
  }

  peerStatus(peer: PeerName): PeerEncryption {
    const k = this.keys.status(peer);
    const c = this.engine.peerStatus(peer);
    const hex = (n: number | null | undefined): string | null => (n === null || n === undefined ? null : `0x${n.toString(16).padStart(8, '0')}`);
    return {
      encrypted: true,
      engine: this.engine.kind,
      cipher: k?.cipher ?? null,
      spiIn: hex(k?.spiIn),
      spiOut: hex(k?.spiOut),
      keyAgeMs: k?.keyAgeMs ?? null,
      rekeys: k?.rekeys ?? 0,
      state: k?.state ?? 'no direct control connection (traffic is relayed)',
      ...c,
    };
  }

  summary(): EncryptionSummary {
    const { tunIn, sent, received, tunOut, dropped } = this.engine.counters;
    const e = this.o.engine;
    return {
      engine: e.kind,
      tun: e.kind === 'user space' ? e.tun : null,
      ciphers: this.o.ciphers,
      keylog: this.o.keylog ?? null,
      cleartextDropped: this.cleartext,
      packets: { tunIn, sent, received, tunOut },
      dropped: { ...dropped },
      keyExchangeDropped: { ...this.keys.dropped },
      lastError: this.lastError ?? (e.kind === 'kernel' ? e.engine.lastError ?? null : null),
    };
  }

  // ── Gossiper (channel weft-esp: unicast only) ───────────────────────────────────────────────────

  onGossipUnicast(src: bigint, msg: Buffer): void {
    this.keys.onMessage(src, msg);
  }

  onGossipBroadcast(): undefined {
    return undefined;
  }

  gossip(): undefined {
    return undefined;
  }

  onGossip(): undefined {
    return undefined;
  }

  private writeKeylog(sa: NewSa): void {
    const file = this.o.keylog!;
    void this.keylogWrites
      .run(() => appendEspKeylog(file, { src: sa.src, dst: sa.dst, spi: sa.spi, keys: sa.keys }))
      .catch((err: unknown) => this.o.log.warn({ err: errorMessage(err), file }, 'could not write the ESP key log'));
  }
}
