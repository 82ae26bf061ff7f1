// Encryption of the data plane with a password (docs/encryption.md): wires the key exchange
// (esp-keys.ts), the user-space engine (esp-engine.ts), the kernel steering and the cleartext
// guard together, and answers the data plane's questions about them.
import type { Clock, Timer } from '../src/clock.js';
import { errorMessage } from '../src/errors.js';
import type { Logger } from '../src/log.js';
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
import type { BatchUdp, TunDevice } from './tun.js';
import type { DataplaneEncryption } from './dataplane.js';

/** ESP-in-UDP (8) + SPI/seq/IV (16) + pad and trailer (≤ 5) + ICV (16), rounded up to 4: what a VXLAN packet grows by. */
export const ESP_OVERHEAD = 48;
export const ESP_TABLE = 6784;
export const ESP_RULE_PRIORITY = 100;
export const ESP_TUN = 'weft-esp';

export interface EncryptionOptions {
  clock: Clock;
  log: Logger;
  tun: TunDevice;
  udp: BatchUdp;
  /** See EspEngineOptions.inject. */
  inject?: BatchUdp;
  guard: CleartextGuard;
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
  replayDrops: number;
  authFailures: number;
}

export interface EncryptionSummary {
  engine: 'user space' | 'kernel';
  tun: string;
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
  readonly engine: EspEngine;
  readonly keys: EspKeys;
  readonly steering: EspSteering;
  private channel: GossipChannel | undefined;
  private ticker: Timer | undefined;
  private keylogWrites: Promise<void> = Promise.resolve();
  private cleartext: CleartextCounts | null = null;
  private lastError: string | null = null;
  private stopped = false;
  private resetting = false;

  constructor(private readonly o: EncryptionOptions) {
    this.steering = { tun: o.tun.name, table: ESP_TABLE, port: o.vxlanPort, priority: ESP_RULE_PRIORITY };
    this.engine = new EspEngine({ tun: o.tun, udp: o.udp, ...(o.inject ? { inject: o.inject } : {}), espPort: o.espPort, vxlanPort: o.vxlanPort, log: o.log });
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
    await this.o.guard.apply({ vxlanPort: this.o.vxlanPort, tun: this.o.tun.name });
    this.channel = mesh.newGossip(ESP_CHANNEL, this);
    mesh.on('connection-up', (c) => this.keys.connectionUp(c));
    mesh.on('connection-down', (c) => this.keys.connectionDown(c.peer, c.uid));
    this.engine.start();
    this.tick();
  }

  /**
   * Stops the engine. The steering, the guard and the (persistent) TUN stay, so nothing leaves in
   * clear while weft is down or restarting — unless reset() was called.
   */
  stop(): void {
    this.stopped = true;
    this.ticker?.cancel();
    this.keys.clear();
    this.engine.stop({ remove: this.resetting });
  }

  /** `weft reset`: removes the guard now and the TUN at stop (the data plane removes the steering). */
  async reset(): Promise<void> {
    this.resetting = true;
    await this.o.guard.apply(undefined);
  }

  private tick(): void {
    if (this.stopped) return;
    this.keys.tick();
    void this.o.guard.counts().then((c) => {
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
      engine: 'user space',
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
    return {
      engine: 'user space',
      tun: this.o.tun.name,
      ciphers: this.o.ciphers,
      keylog: this.o.keylog ?? null,
      cleartextDropped: this.cleartext,
      packets: { tunIn, sent, received, tunOut },
      dropped: { ...dropped },
      keyExchangeDropped: { ...this.keys.dropped },
      lastError: this.lastError,
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
    this.keylogWrites = this.keylogWrites
      .then(() => appendEspKeylog(file, { src: sa.src, dst: sa.dst, spi: sa.spi, keys: sa.keys }))
      .catch((err: unknown) => this.o.log.warn({ err: errorMessage(err), file }, 'could not write the ESP key log'));
  }
}
