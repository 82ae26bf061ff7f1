// A refused weft dialler learns why, over loopback TCP, all routers in this process:
//
//   A 127.3.X.2 ──► R 127.3.X.1 (--conn-limit 1) ◄── B 127.3.X.3   refused: connection limit reached
//                                                ◄── C 127.3.X.4   (A's name, its own UID) refused: peer name collision
import { afterEach, expect, it } from 'vitest';
import { realClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import { MeshRouter } from '../mesh/router.js';
import { tcpTransport } from '../mesh/transport.js';
import { waitFor } from './harness/netns.js';

const NET = `127.3.${process.pid % 250}.`;
const R = 0x0e00000000e1n;
const A = 0x0e00000000e2n;
const B = 0x0e00000000e3n;

const started: MeshRouter[] = [];
afterEach(async () => {
  for (const r of started.splice(0).reverse()) await r.stop();
});

async function router(name: bigint, host: string, connLimit: number, peers: string[] = []): Promise<MeshRouter> {
  const r = new MeshRouter({ name, nickname: `n${host}`, host, port: 6783, connLimit, discovery: false, transport: tcpTransport, clock: realClock, log: silentLogger() });
  started.push(r);
  await r.start(peers);
  return r;
}

const target = (r: MeshRouter) => r.status().targets.find((t) => t.address === `${NET}1:6783`);

it('a peer at its connection limit tells a weft dialler so, and the dialler backs off for a while', async () => {
  const r = await router(R, `${NET}1`, 1);
  await router(A, `${NET}2`, 10, [`${NET}1`]);
  await waitFor(() => r.status().connections.established === 1, { timeoutMs: 10_000, what: 'A connects' });
  const b = await router(B, `${NET}3`, 10, [`${NET}1`]);
  const t = await waitFor(() => (target(b)?.lastError ? target(b) : undefined), { timeoutMs: 10_000, what: "B's attempt to fail" });
  expect(t.lastError).toMatch(/^the peer refused the connection: connection limit reached \(1\)/);
  // A full peer is asked again after ≥ 30 s ×[0.5, 1.5), not after the usual 2 s.
  expect(t.retryInMs).toBeGreaterThan(10_000);
  expect(r.status().connections.established).toBe(1);
  expect(r.connectionStatus().some((c) => c.state === 'failed' && /connection limit reached/.test(c.info))).toBe(true);
});

it('a router with a copied peer name is told of the collision by a third peer', async () => {
  const r = await router(R, `${NET}1`, 10);
  await router(A, `${NET}2`, 10, [`${NET}1`]);
  await waitFor(() => r.status().connections.established === 1, { timeoutMs: 10_000, what: 'A connects' });
  const c = await router(A, `${NET}4`, 10, [`${NET}1`]); // same name, another UID
  const t = await waitFor(() => (target(c)?.lastError ? target(c) : undefined), { timeoutMs: 10_000, what: "C's attempt to fail" });
  expect(t.lastError).toMatch(/peer name collision: .* two routers share the name 0e:00:00:00:00:e2/);
  // The real A keeps its connection.
  await new Promise((res) => setTimeout(res, 500));
  expect(r.peers.get(A)?.uid).not.toBe(c.uid);
  expect(r.status().connections.established).toBe(1);
});
