// A ManualClock whose timers sit in a binary heap, so a simulation with thousands of peers and
// tens of thousands of messages in flight pays O(log n) per timer instead of a scan of all of
// them. Same contract as ManualClock: timers fire in due order (ties in the order they were set)
// inside advance().
import { ManualClock, type Timer } from '../lib/clock.js';

interface Slot {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

function before(a: Slot, b: Slot): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

export class HeapClock extends ManualClock {
  private t: number;
  private n = 0;
  private readonly heap: Slot[] = [];

  constructor(start = 1_000_000) {
    super(start);
    this.t = start;
  }

  override now(): number {
    return this.t;
  }

  override setTimeout(fn: () => void, ms: number): Timer {
    const slot: Slot = { due: this.t + Math.max(0, ms), seq: ++this.n, fn, cancelled: false };
    this.push(slot);
    return { cancel: () => void (slot.cancelled = true) };
  }

  override advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const top = this.heap[0];
      if (!top || top.due > end) break;
      this.pop();
      if (top.cancelled) continue;
      this.t = Math.max(this.t, top.due);
      top.fn();
    }
    this.t = end;
  }

  private push(s: Slot): void {
    const h = this.heap;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
