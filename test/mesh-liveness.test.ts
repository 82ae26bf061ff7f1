// Routers over the in-memory transport, one link of which starts silently dropping everything
// (MemoryNetwork.blackhole, as an nftables drop rule would): the fast read deadline notices in
// seconds, and the 'routes' event reports the new next hops.
//
//   a 198.18.0.1 ──╳── b 198.18.0.2        (the a–b link is cut)
//          \              /
//           c 198.18.0.3 ─                  (c still reaches both)
import { afterEach, describe, expect, it } from 'vitest';
import { FAST_READ_DEADLINE_MS, ROUTES_DEFER_MS } from '../lib/constants.js';
import { meshView } from '../router/mesh-view.js';
import { converged, MemoryMesh } from './harness/memory-mesh.js';

const A = 0x0a0000000001n;
const B = 0x0a0000000002n;
const C = 0x0a0000000003n;
const STEP = 100;

let mesh: MemoryMesh;
afterEach(async () => {
  await mesh?.stop();
});

describe('a silently cut link', () => {
  it('is dropped within the fast deadline; routes follow and the routes event says so', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    await mesh.settle(() => converged([a, b]), 'pair converges');
    expect(a.connectionStatus()[0]!.info).toMatch(/heartbeat 1s, deadline 4s$/);
    const events: string[] = [];
    a.on('topology', () => events.push(`topology@${mesh.clock.now()}`));
    meshView(a).onRoutes(() => events.push(`routes@${mesh.clock.now()}:${a.routes.unicastAll.has(B) ? 'b' : '-'}`));

    mesh.net.blackhole('198.18.0.1', '198.18.0.2');
    const cut = mesh.clock.now();
    const took = await mesh.settle(() => !a.routes.unicastAll.has(B) && a.peers.get(B) === undefined, 'a forgets b', { stepMs: STEP });
    expect(took).toBeLessThanOrEqual(FAST_READ_DEADLINE_MS + ROUTES_DEFER_MS + STEP);
    expect(a.connectionStatus().find((c) => c.state === 'failed')?.info).toMatch(/^no message from the peer for \d(\.\d)?s \(read deadline 4s/);
    console.log(`in memory: a dropped b ${took} ms after the cut (deadline ${FAST_READ_DEADLINE_MS} ms)`);
    // One routes event, after the topology change it follows, with b gone.
    const routes = events.filter((e) => e.startsWith('routes'));
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatch(/:-$/);
    const at = (e: string): number => Number(/@(\d+)/.exec(e)![1]);
    expect(at(routes[0]!)).toBeGreaterThan(cut);
    expect(at(routes[0]!) - at(events[0]!)).toBeGreaterThanOrEqual(ROUTES_DEFER_MS);
  });

  it('traffic moves to the remaining path: the routes event carries the new next hop', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    const c = await mesh.add({ name: C, peers: ['198.18.0.1', '198.18.0.2'] });
    await mesh.settle(() => converged([a, b, c]) && a.routes.unicast.get(B) === B, 'triangle converges');
    const hops: (bigint | undefined)[] = [];
    a.on('routes', (r) => hops.push(r.unicast.get(B)));

    mesh.net.blackhole('198.18.0.1', '198.18.0.2');
    const took = await mesh.settle(() => a.routes.unicast.get(B) === C, 'a reaches b through c', { stepMs: STEP });
    // b's own update must reach a through c after b noticed too: one more coalescing window at most.
    expect(took).toBeLessThanOrEqual(FAST_READ_DEADLINE_MS + 1_000 + 2 * ROUTES_DEFER_MS + STEP);
    console.log(`in memory: a routes to b through c ${took} ms after the cut`);
    expect(hops.at(-1)).toBe(C);
    expect(hops).not.toContain(B);
  });
});
