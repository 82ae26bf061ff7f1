// The anti-replay window of RFC 4303 §3.4.3 for 32-bit sequence numbers: a bitmap of the last
// `size` sequence numbers below the highest one authenticated so far, kept as a ring of 32-bit
// words indexed by sequence number (so sliding the window clears bits instead of shifting).
//
//   check(seq)  — before decryption: a cheap reject that changes nothing
//   accept(seq) — only after the ICV verified, so forged packets cannot move the window

export type ReplayVerdict = 'fresh' | 'replay' | 'too-old';

export const DEFAULT_REPLAY_WINDOW = 1024;

export class ReplayWindow {
  readonly size: number;
  private readonly bits: Uint32Array;
  private top = 0;

  constructor(size = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) {
      throw new RangeError(`replay window size must be a positive multiple of 32, got ${size}`);
    }
    this.size = size;
    this.bits = new Uint32Array(size / 32);
  }

  /** The highest sequence number accepted so far (0 before the first). */
  get highest(): number {
    return this.top;
  }

  /** Whether `seq` may be new. Sequence number 0 is never sent (RFC 4303 §3.3.3), so it is "too-old". */
  check(seq: number): ReplayVerdict {
    if (seq > this.top) return 'fresh';
    if (seq === 0 || this.top - seq >= this.size) return 'too-old';
    return this.isSet(seq) ? 'replay' : 'fresh';
  }

  /** Records an authenticated `seq`. The caller has called check() and got 'fresh'. */
  accept(seq: number): void {
    if (seq > this.top) {
      const advance = seq - this.top;
      if (advance >= this.size) {
        this.bits.fill(0);
      } else {
        for (let s = this.top + 1; s < seq; s++) this.clear(s);
      }
      this.top = seq;
    }
    this.set(seq);
  }

  private isSet(seq: number): boolean {
    const bit = seq % this.size;
    return ((this.bits[bit >>> 5]! >>> (bit & 31)) & 1) === 1;
  }

  private set(seq: number): void {
    const bit = seq % this.size;
    this.bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  private clear(seq: number): void {
    const bit = seq % this.size;
    this.bits[bit >>> 5]! &= ~(1 << (bit & 31));
  }
}
