// A burst of inbound connections that reset before their handshake starts must not crash the
// router (they wait for an accept token with nobody reading them yet). Loopback only.
import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { realClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import { MeshRouter } from '../mesh/router.js';
import { tcpTransport } from '../mesh/transport.js';
import { waitFor } from './harness/netns.js';

const HOST = `127.0.${120 + (process.pid % 100)}.1`;
let router: MeshRouter | undefined;
afterEach(async () => {
  await router?.stop();
});

it('survives 40 connections, 15 of them reset while waiting for an accept token', async () => {
  router = new MeshRouter({ name: 0x0e00000000aan, nickname: 'flood', host: HOST, port: 0, connLimit: 100, discovery: false, transport: tcpTransport, clock: realClock, log: silentLogger() });
  await router.start();
  const port = router.listenPort;
  const sockets = await Promise.all(
    Array.from({ length: 40 }, () => new Promise<net.Socket>((resolve) => {
      const s = net.connect(port, HOST, () => resolve(s));
      s.on('error', () => undefined);
    })),
  );
  for (const s of sockets.slice(25)) s.resetAndDestroy();
  for (const s of sockets.slice(0, 25)) s.destroy();
  // Still alive and serving: a fresh peer connects.
  const peer = new MeshRouter({ name: 0x0e00000000bbn, nickname: 'peer', host: HOST.replace(/\.1$/, '.2'), port: 6783, connLimit: 100, discovery: false, transport: tcpTransport, clock: realClock, log: silentLogger() });
  await peer.start([`${HOST}:${port}`]);
  try {
    await waitFor(() => router!.routes.unicast.has(0x0e00000000bbn), { timeoutMs: 15_000, what: 'a peer connects after the flood' });
  } finally {
    await peer.stop();
  }
  expect(router.status().connections.established).toBe(1);
});
