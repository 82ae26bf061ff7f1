// Stands in for channels we do not implement, so a transit peer still relays them: broadcasts
// are passed on as they are; gossip is passed on unless the same bytes were seen within the
// last gossip interval (hash, then byte comparison); unicasts addressed to us are dropped.
import { createHash } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import { BytesGossipData, type GossipData, type Gossiper } from './gossip.js';

/**
 * What a surrogate keeps for the gossiper that later registers its channel (see `replay`): the
 * newest messages, at most this many and this many bytes (a peer flooding a channel nobody here
 * registers cannot make it hold more).
 */
const RETAINED_MESSAGES = 256;
const RETAINED_BYTES = 4 << 20;

export class SurrogateGossiper implements Gossiper {
  private seen = new Map<string, { bytes: Buffer; at: number }[]>();
  private lastSweep = 0;
  /** The latest gossip and broadcasts, within the window, newest last. */
  private retained: { src: bigint | undefined; bytes: Buffer; at: number }[] = [];
  private retainedBytes = 0;
  droppedUnicasts = 0;

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
  ) {}

  onGossipUnicast(): void {
    this.droppedUnicasts++;
  }

  onGossipBroadcast(src: bigint, update: Buffer): GossipData {
    this.retain(src, update);
    return new BytesGossipData([update]);
  }

  /**
   * Hands what this channel carried to the gossiper that now registers it: a router's own
   * channels register as its parts start (the data plane after the mesh is connecting), and a
   * neighbour's complete state, sent once when the connection came up, would otherwise be
   * lost to us until its next periodic gossip.
   */
  replay(to: Gossiper): void {
    const now = this.clock.now();
    for (const m of this.retained) {
      if (now - m.at >= this.windowMs) continue;
      if (m.src === undefined) to.onGossip(m.bytes);
      else to.onGossipBroadcast(m.src, m.bytes);
    }
    this.retained = [];
    this.retainedBytes = 0;
  }

  private retain(src: bigint | undefined, bytes: Buffer): void {
    if (bytes.length > RETAINED_BYTES) return;
    this.retained.push({ src, bytes: Buffer.from(bytes), at: this.clock.now() });
    this.retainedBytes += bytes.length;
    while (this.retained.length > RETAINED_MESSAGES || this.retainedBytes > RETAINED_BYTES) this.retainedBytes -= this.retained.shift()!.bytes.length;
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
    this.retain(undefined, msg);
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
