import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { SurrogateGossiper } from './surrogate-gossiper.js';

describe('surrogate gossiper (channels we do not implement)', () => {
  it('relays gossip once per window, and again once the window has passed', () => {
    const clock = new ManualClock();
    const g = new SurrogateGossiper(clock, 30_000);
    const msg = Buffer.from('some channel state');
    expect(g.onGossip(msg)?.encode()).toEqual([msg]);
    clock.advance(29_000);
    expect(g.onGossip(Buffer.from(msg))).toBeUndefined();
    expect(g.onGossip(Buffer.from('other state'))).toBeDefined();
    clock.advance(2_000);
    expect(g.onGossip(msg)?.encode()).toEqual([msg]);
  });

  it('passes broadcasts on as they are and drops unicasts addressed to us', () => {
    const g = new SurrogateGossiper(new ManualClock(), 30_000);
    const update = Buffer.from('update');
    expect(g.onGossipBroadcast(1n, update).encode()).toEqual([update]);
    expect(g.onGossipBroadcast(1n, update).encode()).toEqual([update]);
    g.onGossipUnicast();
    expect(g.droppedUnicasts).toBe(1);
    expect(g.gossip()).toBeUndefined();
  });

  it('hands what it carried within the window to the gossiper that registers the channel later, in order, once', () => {
    const clock = new ManualClock();
    const g = new SurrogateGossiper(clock, 30_000);
    g.onGossip(Buffer.from('too old'));
    clock.advance(31_000);
    g.onGossip(Buffer.from('full state'));
    g.onGossip(Buffer.from('full state')); // a duplicate is not relayed, nor kept twice
    g.onGossipBroadcast(7n, Buffer.from('update'));
    const got: string[] = [];
    const real = {
      onGossipUnicast: () => undefined,
      onGossipBroadcast: (src: bigint, b: Buffer) => void got.push(`broadcast ${src} ${b.toString()}`),
      gossip: () => undefined,
      onGossip: (b: Buffer) => void got.push(`gossip ${b.toString()}`),
    };
    g.replay(real);
    expect(got).toEqual(['gossip full state', 'broadcast 7 update']);
    g.replay(real);
    expect(got).toHaveLength(2);
  });

  it('keeps at most 4 MiB for a channel nobody registers, the newest messages', () => {
    const g = new SurrogateGossiper(new ManualClock(), 30_000);
    for (let i = 0; i < 10; i++) g.onGossipBroadcast(1n, Buffer.alloc(1 << 20, i));
    const got: number[] = [];
    g.replay({ onGossipUnicast: () => undefined, onGossipBroadcast: (_s: bigint, b: Buffer) => void got.push(b[0]!), gossip: () => undefined, onGossip: () => undefined });
    expect(got).toEqual([6, 7, 8, 9]);
  });
});
