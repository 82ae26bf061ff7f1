// Rate limit for accepting connections (mesh: bursts of 20, then one every 50 ms), which also
// slows online password guessing.
import type { Clock } from '../lib/clock.js';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly capacity: number,
    private readonly tokenMs: number,
  ) {
    this.tokens = capacity;
    this.last = clock.now();
  }

  /**
   * Takes a token, borrowing from the future if none is left; returns how many milliseconds the
   * caller must wait before using it (0 = now). Successive callers get successive slots.
   */
  take(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) / this.tokenMs);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens * this.tokenMs);
  }

  /**
   * Takes a token if one is there (returns 0); otherwise takes nothing and returns how many
   * milliseconds until one will be. Waiters that give up cost no future tokens.
   */
  tryTake(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) / this.tokenMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) * this.tokenMs));
  }
}
