// Rate limit for accepting connections (mesh: bursts of 20, then one every 50 ms), which also
// slows online password guessing.
import type { Clock } from '../src/clock.js';

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

  /** Takes a token; returns 0 if one was available, else the milliseconds to wait before retrying. */
  take(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) / this.tokenMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) * this.tokenMs);
  }
}
