import { describe, expect, it } from 'vitest';
import { ManualClock, type Clock, type Timer } from '../lib/clock.js';
import { LivenessMonitor, negotiateLiveness, type LivenessTimings } from './liveness.js';

const T: LivenessTimings = { heartbeatMs: 30_000, readDeadlineMs: 60_000, fastHeartbeatMs: 1_000, fastReadDeadlineMs: 4_000 };

describe('negotiateLiveness', () => {
  it.each([
    ['both offer 1 s', T, 1_000, { heartbeatMs: 1_000, readDeadlineMs: 4_000, fast: true }],
    ['the peer offers nothing (Go mesh, older weft)', T, undefined, { heartbeatMs: 30_000, readDeadlineMs: 60_000, fast: false }],
    ['we offer nothing', { ...T, fastHeartbeatMs: 0 }, 1_000, { heartbeatMs: 30_000, readDeadlineMs: 60_000, fast: false }],
    ['the peer is slower: the deadline spans three of its intervals', T, 2_000, { heartbeatMs: 1_000, readDeadlineMs: 6_000, fast: true }],
    ['never beyond mesh’s deadline', T, 30_000, { heartbeatMs: 1_000, readDeadlineMs: 60_000, fast: true }],
    ['the peer is faster: our own deadline holds', T, 100, { heartbeatMs: 1_000, readDeadlineMs: 4_000, fast: true }],
  ])('%s', (_what, timings, theirs, plan) => {
    expect(negotiateLiveness(timings, theirs)).toEqual(plan);
  });
});

function monitor(clock: Clock, plan = { heartbeatMs: 1_000, readDeadlineMs: 4_000, fast: true }) {
  const beats: number[] = [];
  const expired: { at: number; silentMs: number }[] = [];
  const m = new LivenessMonitor(clock, plan, {
    sendHeartbeat: () => {
      beats.push(clock.now());
      return true;
    },
    expired: (silentMs) => expired.push({ at: clock.now(), silentMs }),
  });
  return { m, beats, expired };
}

describe('LivenessMonitor', () => {
  it('heartbeats every interval while idle and expires at the deadline after the last input', () => {
    const clock = new ManualClock(0);
    const { m, beats, expired } = monitor(clock);
    m.start();
    for (let t = 0; t < 10_000; t += 500) {
      clock.advance(500);
      m.heard();
    }
    expect(beats).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => s * 1_000));
    expect(expired).toEqual([]);
    clock.advance(3_999);
    expect(expired).toEqual([]);
    clock.advance(1);
    expect(expired).toEqual([{ at: 14_000, silentMs: 4_000 }]);
    // Stopped: no more heartbeats, no second expiry.
    clock.advance(60_000);
    expect(beats.length).toBe(14);
    expect(expired.length).toBe(1);
  });

  it('sends no heartbeat while other messages go out within the interval', () => {
    const clock = new ManualClock(0);
    const { m, beats } = monitor(clock);
    m.start();
    for (let i = 0; i < 20; i++) {
      clock.advance(600);
      m.sent();
      m.heard();
    }
    expect(beats).toEqual([]);
    // Quiet again: the next heartbeat is one interval after the last message.
    clock.advance(1_000);
    expect(beats).toEqual([13_000]);
  });

  it('stops heartbeating once the connection refuses a send', () => {
    const clock = new ManualClock(0);
    let sends = 0;
    const m = new LivenessMonitor(clock, { heartbeatMs: 1_000, readDeadlineMs: 60_000, fast: true }, { sendHeartbeat: () => (++sends, false), expired: () => undefined });
    m.start();
    clock.advance(10_000);
    expect(sends).toBe(1);
  });

  it('after a stall, input that was waiting to be read saves the connection', () => {
    // A clock whose timers fire only when the test says, so input can land between two timers.
    const due: { at: number; fn: () => void }[] = [];
    let now = 0;
    const clock: Clock = {
      now: () => now,
      setTimeout(fn, ms): Timer {
        const t = { at: now + ms, fn };
        due.push(t);
        return {
          cancel: () => {
            const i = due.indexOf(t);
            if (i >= 0) due.splice(i, 1);
          },
        };
      },
    };
    const fireNext = (): void => {
      due.sort((a, b) => a.at - b.at);
      const t = due.shift()!;
      now = Math.max(now, t.at);
      t.fn();
    };
    const { m, expired } = monitor(clock, { heartbeatMs: 60_000, readDeadlineMs: 4_000, fast: true });
    m.start();
    now = 9_000; // the event loop was blocked for 9 s
    fireNext(); // deadline passed: look again after pending input
    expect(expired).toEqual([]);
    m.heard(); // the socket had data
    fireNext();
    expect(expired).toEqual([]);
    // Really silent this time: two looks, then expiry.
    now = 13_000;
    fireNext();
    fireNext();
    expect(expired).toEqual([{ at: 13_000, silentMs: 4_000 }]);
  });
});
