import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { AcceptGate, type Ticket } from './accept-gate.js';

function gate(o: Partial<{ maxPending: number; maxPerHost: number; timeoutMs: number; burst: number; tokenMs: number }> = {}) {
  const clock = new ManualClock();
  const g = new AcceptGate({ clock, maxPending: 4, maxPerHost: 2, timeoutMs: 1_000, burst: 1, tokenMs: 100, ...o });
  const shed: string[] = [];
  const admit = (host: string, id = host): Ticket => {
    const t = g.admit(host, { shed: (why) => shed.push(`${id}: ${why}`) });
    if ('refused' in t) throw new Error(t.refused);
    return t;
  };
  return { clock, g, shed, admit };
}

describe('AcceptGate', () => {
  it('refuses a host past its share, and admits it again once a slot is done', () => {
    const { g, admit } = gate();
    const a1 = admit('a');
    admit('a');
    expect(g.admit('a', { shed: () => undefined })).toEqual({ refused: '2 handshakes from a already in progress' });
    a1.done();
    a1.done(); // twice is harmless
    expect('done' in g.admit('a', { shed: () => undefined })).toBe(true);
    expect(g.stats.refusedPerHost).toBe(1);
  });

  it('when full, evicts the oldest connection of the busiest host; only when all hosts are equal the oldest of all', () => {
    const { g, shed, admit } = gate();
    admit('honest');
    admit('x', 'x1');
    admit('x', 'x2');
    admit('y', 'y1');
    admit('y', 'y2'); // full: x and y have 2 each, x1 is their oldest
    expect(shed).toEqual(['x1: evicted: 4 handshakes in progress, 2 of them from x']);
    admit('z');
    expect(shed[1]).toMatch(/^y1: evicted/);
    expect(shed.some((s) => s.startsWith('honest'))).toBe(false);
    admit('w'); // honest, x2, y2, z: one each
    expect(shed[2]).toMatch(/^honest: evicted/);
    expect(g.pending).toBe(4);
  });

  it('sheds a connection whose intro is not over by the deadline, counted from admission', () => {
    const { clock, shed, admit } = gate();
    const t = admit('a');
    clock.advance(400);
    expect(t.remainingMs()).toBe(600);
    clock.advance(600);
    expect(shed).toEqual(['a: handshake did not complete within 1s']);
  });

  it('grants turns at the accept rate, one host after the other', async () => {
    const { clock, admit } = gate({ maxPending: 10, maxPerHost: 5 });
    const order: string[] = [];
    const turn = (t: Ticket, id: string) => void t.turn().then(() => order.push(id));
    turn(admit('x'), 'x1'); // takes the one token at once
    turn(admit('x'), 'x2');
    turn(admit('x'), 'x3');
    turn(admit('h'), 'h1');
    await Promise.resolve();
    expect(order).toEqual(['x1']);
    for (let i = 0; i < 3; i++) {
      clock.advance(100);
      await Promise.resolve();
    }
    expect(order).toEqual(['x1', 'x2', 'h1', 'x3']);
  });

  it('a connection closed while waiting for its turn frees its slot and costs no token', async () => {
    const { clock, g, admit } = gate();
    const order: string[] = [];
    void admit('a').turn().then(() => order.push('a'));
    const b = admit('b');
    void b.turn().then(() => order.push('b released'));
    const c = admit('c');
    void c.turn().then(() => order.push('c'));
    b.done();
    await Promise.resolve();
    expect(order).toEqual(['a', 'b released']);
    expect(g.pending).toBe(2);
    clock.advance(100);
    await Promise.resolve();
    expect(order).toEqual(['a', 'b released', 'c']);
  });

  it('clear() sheds everything', () => {
    const { g, shed, admit } = gate();
    admit('a');
    admit('b');
    g.clear('router stopping');
    expect(shed).toEqual(['a: router stopping', 'b: router stopping']);
    expect(g.pending).toBe(0);
  });
});
