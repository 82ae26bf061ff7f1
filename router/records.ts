// The table of peer data-plane records and the "weft-dataplane" gossip channel's owner.
// Merge rule: per peer, the record with the higher version wins (versions are the sender's
// wall-clock milliseconds, bumped past the previous one, so a restarted router's first record
// supersedes the one it sent before the restart). Our own record changes only through
// setLocal(), which broadcasts it; the periodic full gossip repairs anything lost.
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { GossipChannel, GossipData, Gossiper } from '../mesh/gossip.js';
import type { PeerName } from '../mesh/peer-name.js';
import { decodeRecords, encodeRecords, type PeerRecord } from './peer-record.js';

export const DATAPLANE_CHANNEL = 'weft-dataplane';
/** Records per gossip message; keeps messages far below the 10 MiB frame limit. */
const RECORDS_PER_MESSAGE = 256;

class RecordsData implements GossipData {
  constructor(readonly records: Map<PeerName, PeerRecord>) {}
  encode(): Buffer[] {
    const all = [...this.records.values()];
    const out: Buffer[] = [];
    for (let i = 0; i < all.length; i += RECORDS_PER_MESSAGE) out.push(encodeRecords(all.slice(i, i + RECORDS_PER_MESSAGE)));
    return out;
  }
  merge(other: GossipData): GossipData {
    const merged = new Map(this.records);
    if (other instanceof RecordsData) for (const r of other.records.values()) keepNewer(merged, r);
    return new RecordsData(merged);
  }
}

function keepNewer(table: Map<PeerName, PeerRecord>, r: PeerRecord): boolean {
  const known = table.get(r.name);
  if (known && known.version >= r.version) return false;
  table.set(r.name, r);
  return true;
}

export type LocalRecord = Omit<PeerRecord, 'name' | 'version'>;

export interface RecordsOptions {
  self: PeerName;
  clock: Clock;
  log: Logger;
  /** Called (synchronously) after any record changed; the caller coalesces. */
  onChange: () => void;
}

export class PeerRecords implements Gossiper {
  private readonly table = new Map<PeerName, PeerRecord>();
  private channel: GossipChannel | undefined;
  /** Versions of removed records: the same record gossiped back must not revive them. */
  private readonly removed = new Map<PeerName, bigint>();
  /** Our next version must exceed this (an own record from before a restart was seen). */
  private ownFloor = -1n;
  readonly dropped: Record<string, number> = {};

  constructor(private readonly o: RecordsOptions) {}

  attach(channel: GossipChannel): void {
    this.channel = channel;
    const self = this.table.get(this.o.self);
    if (self) channel.gossipBroadcast(new RecordsData(new Map([[self.name, self]])));
  }

  get(name: PeerName): PeerRecord | undefined {
    return this.table.get(name);
  }

  all(): IterableIterator<PeerRecord> {
    return this.table.values();
  }

  /** Replaces our own record if it differs; broadcasts it. */
  setLocal(rec: LocalRecord): void {
    const prev = this.table.get(this.o.self);
    if (prev && sameContent(prev, rec)) return;
    const now = BigInt(Math.floor(this.o.clock.now()));
    const floor = prev && prev.version > this.ownFloor ? prev.version : this.ownFloor;
    const version = floor >= now ? floor + 1n : now;
    const next: PeerRecord = { ...rec, name: this.o.self, version };
    this.table.set(this.o.self, next);
    this.channel?.gossipBroadcast(new RecordsData(new Map([[next.name, next]])));
    this.o.onChange();
  }

  /** Forgets a remote peer's record (it has been gone longer than the grace period). */
  remove(name: PeerName): void {
    if (name === this.o.self) return;
    const r = this.table.get(name);
    if (!r) return;
    this.table.delete(name);
    this.removed.set(name, r.version);
    this.o.onChange();
  }

  // ---- Gossiper ------------------------------------------------------------------------------

  onGossipUnicast(): void {
    this.count('unexpected unicast');
  }

  onGossipBroadcast(_src: bigint, update: Buffer): GossipData | undefined {
    return this.merge(update);
  }

  gossip(): GossipData | undefined {
    return this.table.size === 0 ? undefined : new RecordsData(new Map(this.table));
  }

  onGossip(msg: Buffer): GossipData | undefined {
    return this.merge(msg);
  }

  private merge(msg: Buffer): GossipData | undefined {
    const d = decodeRecords(msg);
    if (!d.ok) {
      this.count(d.reason);
      return undefined;
    }
    const news = new Map<PeerName, PeerRecord>();
    for (const r of d.value) {
      // Only we write our own record. A copy with a higher version is one we sent before a
      // restart under a clock that has since gone back: ours is re-issued above it.
      if (r.name === this.o.self) {
        this.supersede(r.version);
        continue;
      }
      const removed = this.removed.get(r.name);
      if (removed !== undefined && r.version <= removed) continue;
      if (keepNewer(this.table, r)) {
        this.removed.delete(r.name);
        news.set(r.name, r);
      }
    }
    if (news.size === 0) return undefined;
    this.o.onChange();
    return new RecordsData(news);
  }

  /** An own record from before a restart outranks ours: re-issue ours above it. */
  private supersede(version: bigint): void {
    if (version <= this.ownFloor) return;
    this.ownFloor = version;
    const mine = this.table.get(this.o.self);
    if (!mine || mine.version > version) return;
    const next: PeerRecord = { ...mine, version: version + 1n };
    this.table.set(this.o.self, next);
    this.channel?.gossipBroadcast(new RecordsData(new Map([[next.name, next]])));
  }

  private count(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    this.o.log.debug({ reason }, 'dropped a dataplane gossip message');
  }
}

function sameContent(a: LocalRecord, b: LocalRecord): boolean {
  return canonical(a) === canonical(b);
}

function canonical(r: LocalRecord): string {
  const names = (l: PeerName[]): string[] => l.map(String);
  return JSON.stringify([r.gone, r.mtu, r.addresses, r.bridgeMac, names(r.direct), r.relays.map((x) => [String(x.dest), String(x.via)]), names(r.serving), r.endpoints]);
}
