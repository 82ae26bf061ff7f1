import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import type { ConnectionSummary } from './peer.js';
import type { Routes } from './routes.js';
import { Topology } from './topology.js';
import { encodeTopology } from './topology-codec.js';

const [S, X, Y] = [1n, 2n, 3n];
const conn = (name: bigint): ConnectionSummary => ({ name, remoteTcpAddr: '198.18.0.9:6783', outbound: true, established: true });

function setup() {
  const clock = new ManualClock(0);
  const log: string[] = [];
  const routes: Routes[] = [];
  const t = new Topology({
    self: { name: S, nickname: 's', uid: 7n },
    clock,
    random: () => 0.5,
    log: silentLogger(),
    timings: { topologyCoalesceMs: 1_000, gcDeferMs: 1_000, routesDeferMs: 100, repairMs: 2_000, gossipIntervalMs: 30_000 },
    keep: () => [],
    announce: () => undefined,
    repair: () => log.push(`repair@${clock.now()}`),
    changed: () => log.push(`changed@${clock.now()}`),
    removed: () => undefined,
    routesChanged: (r) => {
      log.push(`routes@${clock.now()}`);
      routes.push(r);
    },
    drop: () => undefined,
  });
  return { clock, t, log, routes };
}

describe('topology: the routes event', () => {
  it('follows the recompute 100 ms after a change, once per burst, only when a next hop changed', () => {
    const { clock, t, log, routes } = setup();
    t.localConnections([conn(X)], []);
    clock.advance(50);
    t.localConnections([conn(X), conn(Y)], []);
    expect(log).toEqual(['changed@0', 'changed@50']);
    clock.advance(49);
    expect(routes).toEqual([]);
    clock.advance(1);
    expect(log).toEqual(['changed@0', 'changed@50', 'routes@100']);
    // The event carries the routes the router now serves.
    expect(routes[0]).toBe(t.routes);
    expect([...t.routes.unicastAll.keys()].sort()).toEqual([X, Y]);

    // Same connections again: the table changed (our version), the routes did not.
    t.localConnections([conn(Y), conn(X)], []);
    clock.advance(200);
    expect(routes.length).toBe(1);

    t.localConnections([conn(Y)], []);
    clock.advance(100);
    expect(routes.length).toBe(2);
    expect([...routes[1]!.unicastAll.keys()]).toEqual([Y]);
  });

  it('is not emitted after stop()', () => {
    const { clock, t, routes } = setup();
    t.localConnections([conn(X)], []);
    t.stop();
    clock.advance(1_000);
    expect(routes).toEqual([]);
  });
});

describe('topology: repair of a missed summary', () => {
  const summary = (name: bigint, to: bigint[]) => ({ name, nickname: `p${name}`, uid: 100n + name, version: 1n, shortId: undefined, connections: to.map(conn) });

  it('asks a neighbour 2 s after a peer is known only by name, then twice as long each time, and stops once its summary arrives', () => {
    const { clock, t, log } = setup();
    t.localConnections([conn(X)], []);
    // X lists Y, whose own summary never reached us.
    t.gossiper.onGossip(encodeTopology([summary(X, [S, Y])]));
    const repairs = (): string[] => log.filter((l) => l.startsWith('repair'));
    clock.advance(1_999);
    expect(repairs()).toEqual([]);
    clock.advance(1);
    expect(repairs()).toEqual(['repair@2000']);
    clock.advance(4_000);
    expect(repairs()).toEqual(['repair@2000', 'repair@6000']);
    t.gossiper.onGossip(encodeTopology([summary(Y, [X])]));
    clock.advance(60_000);
    expect(repairs()).toEqual(['repair@2000', 'repair@6000']);
  });

  it('does nothing while every peer it knows of has its summary', () => {
    const { clock, t, log } = setup();
    t.localConnections([conn(X)], []);
    t.gossiper.onGossip(encodeTopology([summary(X, [S])]));
    clock.advance(60_000);
    expect(log.filter((l) => l.startsWith('repair'))).toEqual([]);
  });
});
