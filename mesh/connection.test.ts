// Two MeshConnections over the in-memory transport with a manual clock: liveness as negotiated
// in the handshake, and what happens when the link between them silently drops everything.
//
//   198.18.0.1 (a, dials) ──── 198.18.0.2 (b, listens)
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import type { WeftError } from '../lib/errors.js';
import { MeshConnection } from './connection.js';
import { encodeFeatures } from './features.js';
import { MemoryNetwork } from './memory-transport.js';
import { Tag } from './protocol.js';
import type { Conn } from './transport.js';

const STEP = 100;

interface Side {
  conn: MeshConnection;
  heartbeats: number;
  closed?: { at: number; err: WeftError };
}

/** offer: the heartbeat interval each side puts in its feature map (undefined = none, like Go mesh). */
async function connect(offer: { a?: number; b?: number }, password?: string) {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork();
  let accepted: Conn | undefined;
  await net.host('198.18.0.2').listen('', 6783, (c) => (accepted = c));
  const dialled = await net.host('198.18.0.1').dial('198.18.0.2', 6783, {});
  const open = (conn: Conn, outbound: boolean, name: bigint, heartbeatMs: number | undefined): Promise<MeshConnection> =>
    MeshConnection.open(conn, {
      outbound,
      connId: name * 7n,
      features: encodeFeatures({ name, nickname: `n${name}`, uid: name, shortId: undefined }, name * 7n, { version: 'test', caps: [], ...(heartbeatMs ? { heartbeatMs } : {}) }),
      password: password === undefined ? undefined : Buffer.from(password),
      minVersion: 2,
      maxVersion: 2,
      clock,
      timings: { fastHeartbeatMs: heartbeatMs ?? 0 },
    });
  const [ca, cb] = await Promise.all([open(dialled, true, 1n, offer.a), open(accepted!, false, 2n, offer.b)]);
  const sides = [ca, cb].map((conn): Side => ({ conn, heartbeats: 0 }));
  for (const s of sides) {
    s.conn.start({
      onMessage: (_c, tag) => void (tag === Tag.Heartbeat && s.heartbeats++),
      onClosed: (_c, err) => (s.closed = { at: clock.now(), err }),
    });
  }
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  /** Moves time in steps, letting bytes flow between steps; stops early once pred holds. */
  const run = async (ms: number, pred: () => boolean = () => false): Promise<number> => {
    const start = clock.now();
    while (clock.now() - start < ms && !pred()) {
      clock.advance(STEP);
      await flush();
    }
    return clock.now() - start;
  };
  return { clock, net, a: sides[0]!, b: sides[1]!, run };
}

describe('connection liveness', () => {
  it.each([undefined, 'pw'])('weft ↔ weft (password %s): 1 s heartbeats keep it up; silence closes it within the 4 s deadline', async (password) => {
    const { net, a, b, run } = await connect({ a: 1_000, b: 1_000 }, password);
    expect(a.conn.livenessPlan).toEqual({ heartbeatMs: 1_000, readDeadlineMs: 4_000, fast: true });
    expect(b.conn.livenessPlan).toEqual(a.conn.livenessPlan);
    await run(30_000);
    expect(a.closed).toBeUndefined();
    expect(b.closed).toBeUndefined();
    expect(a.heartbeats).toBeGreaterThanOrEqual(29);
    expect(b.heartbeats).toBeGreaterThanOrEqual(29);

    net.blackhole('198.18.0.1', '198.18.0.2');
    const took = await run(10_000, () => a.closed !== undefined && b.closed !== undefined);
    // The last heartbeat arrived at most one interval before the cut.
    expect(took).toBeGreaterThan(3_000);
    expect(took).toBeLessThanOrEqual(4_000 + STEP);
    for (const s of [a, b]) {
      expect(s.closed!.err.code).toBe('timeout');
      expect(s.closed!.err.message).toMatch(/^no message from the peer for [34](\.\d)?s \(read deadline 4s, heartbeats every 1s agreed\)$/);
    }
  });

  it.each([
    ['the peer offers nothing (Go mesh)', { a: 1_000 }],
    ['neither offers', {}],
  ])('%s: mesh’s 30 s heartbeat and 60 s deadline', async (_what, offer) => {
    const { net, a, b, run } = await connect(offer);
    for (const s of [a, b]) expect(s.conn.livenessPlan).toEqual({ heartbeatMs: 30_000, readDeadlineMs: 60_000, fast: false });
    await run(5 * 60_000);
    expect(a.closed).toBeUndefined();
    expect(a.heartbeats).toBe(10);

    net.blackhole('198.18.0.1', '198.18.0.2');
    const took = await run(120_000, () => a.closed !== undefined);
    // Heartbeats went out every 30 s, so silence started at most 30 s before the cut.
    expect(took).toBeGreaterThanOrEqual(30_000);
    expect(took).toBeLessThanOrEqual(60_000 + STEP);
    expect(a.closed!.err.message).toMatch(/read deadline 60s\)$/);
  });

  it('sends no heartbeats while other messages flow', async () => {
    const { clock, a, b, run } = await connect({ a: 1_000, b: 1_000 });
    const until = clock.now() + 20_000;
    while (clock.now() < until) {
      a.conn.send(Tag.Gossip, Buffer.from([1]));
      await run(500);
    }
    expect(b.heartbeats).toBe(0);
    expect(a.heartbeats).toBeGreaterThanOrEqual(19);
    expect(a.closed).toBeUndefined();
  });
});
