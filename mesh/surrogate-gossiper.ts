// Stands in for channels we do not implement, so a transit peer still relays them: broadcasts
// are passed on as they are; gossip is passed on unless the same bytes were seen within the
// last gossip interval (hash, then byte comparison); unicasts addressed to us are dropped.
import { createHash } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import { BytesGossipData, type GossipData, type Gossiper } from './gossip.js';

export class SurrogateGossiper implements Gossiper {
  private seen = new Map<string, { bytes: Buffer; at: number }[]>();
  private lastSweep = 0;
  droppedUnicasts = 0;

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
  ) {}

  onGossipUnicast(): void {
    this.droppedUnicasts++;
  }

  onGossipBroadcast(_src: bigint, update: Buffer): GossipData {
    return new BytesGossipData([update]);
  }

  gossip(): undefined {
    return undefined;
  }

  onGossip(msg: Buffer): GossipData | undefined {
    const now = this.clock.now();
    this.expire(now);
    const key = createHash('sha1').update(msg).digest('base64');
    const bucket = this.seen.get(key) ?? [];
    if (bucket.some((e) => now - e.at < this.windowMs && e.bytes.equals(msg))) return undefined;
    bucket.push({ bytes: Buffer.from(msg), at: now });
    this.seen.set(key, bucket);
    return new BytesGossipData([msg]);
  }

  /** Forgets messages older than the window; a full pass runs at most twice per window. */
  private expire(now: number): void {
    if (now - this.lastSweep < this.windowMs / 2) return;
    this.lastSweep = now;
    for (const [k, bucket] of this.seen) {
      const keep = bucket.filter((e) => now - e.at < this.windowMs);
      if (keep.length === 0) this.seen.delete(k);
      else this.seen.set(k, keep);
    }
  }
}
