import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, type Clock, type Timer } from '../lib/clock.js';
import { LivenessGroup, LivenessMonitor, negotiateLiveness, type LivenessPlan, type LivenessTimings } from './liveness.js';

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

/** Monitors of one group, each recording the times it sent (heartbeats and messages alike) and expired. */
function groupOf(clock: ManualClock, plans: LivenessPlan[]) {
  const group = new LivenessGroup(clock);
  const members = plans.map((plan) => {
    const rec = { sends: [] as number[], beats: 0, expired: [] as { at: number; silentMs: number }[], m: undefined as unknown as LivenessMonitor };
    rec.m = new LivenessMonitor(
      clock,
      plan,
      {
        sendHeartbeat: () => {
          rec.beats++;
          rec.sends.push(clock.now());
          return true;
        },
        expired: (silentMs) => rec.expired.push({ at: clock.now(), silentMs }),
      },
      group,
    );
    return rec;
  });
  return { group, members };
}

const MESH: LivenessPlan = { heartbeatMs: 30_000, readDeadlineMs: 60_000, fast: false };

describe('LivenessGroup', () => {
  it('idle connections started at different times share one wakeup per interval', () => {
    const clock = new ManualClock(0);
    const { group, members } = groupOf(clock, Array.from({ length: 11 }, () => MESH));
    members.forEach((r, i) => {
      if (i > 0) clock.advance(2_500 * i); // started 2.5–25 s apart, over 137.5 s
      for (const s of members.slice(0, i)) s.m.heard();
      r.m.start();
    });
    const t0 = clock.now();
    const w0 = group.wakeups;
    // Ten minutes idle; every peer's heartbeat arrives every 30 s, each at its own phase.
    for (let t = 0; t < 600_000; t += 1_000) {
      clock.advance(1_000);
      members.forEach((r, i) => {
        if ((t + 1_000 * i) % 30_000 === 0) r.m.heard();
      });
    }
    expect(group.wakeups - w0).toBeLessThanOrEqual(21); // one per 30 s, plus one to fall into step
    for (const r of members) {
      const sends = [t0, ...r.sends.filter((s) => s >= t0), clock.now()];
      const gaps = sends.slice(1).map((s, i) => s - sends[i]!);
      expect(Math.max(...gaps)).toBeLessThanOrEqual(30_000);
      expect(r.expired).toEqual([]);
    }
    // At most one heartbeat per interval each in the steady state (540 s: 19 counting both ends).
    expect(members.reduce((n, r) => n + r.sends.filter((s) => s >= t0 + 60_000).length, 0)).toBeLessThanOrEqual(11 * 19);
  });

  it('a fast connection does not make a slow one heartbeat faster than every half interval', () => {
    const clock = new ManualClock(0);
    const { members } = groupOf(clock, [{ heartbeatMs: 1_000, readDeadlineMs: 4_000, fast: true }, MESH]);
    for (const r of members) r.m.start();
    for (let t = 0; t < 120_000; t += 250) {
      clock.advance(250);
      for (const r of members) r.m.heard();
    }
    expect(members[0]!.beats).toBe(120);
    const slow = [0, ...members[1]!.sends];
    const gaps = slow.slice(1).map((s, i) => s - slow[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(15_000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(30_000);
  });

  it('stopping the last connection stops the timer', () => {
    const clock = new ManualClock(0);
    const { group, members } = groupOf(clock, [MESH, MESH]);
    for (const r of members) r.m.start();
    clock.advance(30_000);
    const w = group.wakeups;
    for (const r of members) r.m.stop();
    expect(group.size).toBe(0);
    clock.advance(600_000);
    expect(group.wakeups).toBe(w);
    expect(members.map((r) => r.expired)).toEqual([[], []]);
  });

  it('whatever the traffic, nobody waits longer than its interval to send, and expiry comes exactly at the deadline', () => {
    const plans = fc.constantFrom<LivenessPlan>(MESH, { heartbeatMs: 1_000, readDeadlineMs: 4_000, fast: true }, { heartbeatMs: 30_000, readDeadlineMs: 60_000, fast: true });
    const event = fc.record({ after: fc.integer({ min: 0, max: 40_000 }), who: fc.nat(7), what: fc.constantFrom('heard', 'sent', 'stop', 'start') });
    fc.assert(
      fc.property(fc.array(plans, { minLength: 1, maxLength: 8 }), fc.array(event, { maxLength: 60 }), (ps, events) => {
        const clock = new ManualClock(0);
        const { members } = groupOf(clock, ps);
        const state = members.map(() => ({ running: true, since: 0, lastHeard: 0 }));
        for (const r of members) r.m.start();
        const check = (): void => {
          members.forEach((r, i) => {
            const st = state[i]!;
            const died = r.expired[0];
            if (!st.running) return;
            if (died) {
              // Expired exactly when the deadline passed, after the last input.
              expect(died).toEqual({ at: st.lastHeard + r.m.plan.readDeadlineMs, silentMs: r.m.plan.readDeadlineMs });
              st.running = false;
              return;
            }
            expect(clock.now() - st.lastHeard).toBeLessThan(r.m.plan.readDeadlineMs);
            const sends = [st.since, ...r.sends.filter((s) => s >= st.since), clock.now()];
            for (let k = 1; k < sends.length; k++) expect(sends[k]! - sends[k - 1]!).toBeLessThanOrEqual(r.m.plan.heartbeatMs);
          });
        };
        for (const e of events) {
          // Move in steps no larger than the smallest interval, checking as we go.
          for (let left = e.after; left > 0; left -= 500) {
            clock.advance(Math.min(500, left));
            check();
          }
          const i = e.who % members.length;
          const r = members[i]!;
          const st = state[i]!;
          if (e.what === 'heard' && st.running) {
            r.m.heard();
            st.lastHeard = clock.now();
          } else if (e.what === 'sent' && st.running) {
            r.m.sent();
            r.sends.push(clock.now());
          } else if (e.what === 'stop') {
            r.m.stop();
            st.running = false;
          } else if (e.what === 'start' && !st.running && r.expired.length === 0) {
            r.m.start();
            st.running = true;
            st.since = st.lastHeard = clock.now();
          }
          check();
        }
      }),
      { numRuns: 300 },
    );
  });
});
