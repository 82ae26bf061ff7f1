// N routers in one process over real loopback TCP (127.0.1.1 … 127.0.1.N, port 6783 each),
// started together, each told only about the previous one (a launch chain). Measures the time
// until every router's topology table matches every router's own state (same peers, same
// versions) with an established route to everyone, and the control-plane bytes each sent.
import { realClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import { MeshRouter } from '../mesh/router.js';
import { tcpTransport } from '../mesh/transport.js';

export interface ConvergenceResult {
  n: number;
  /** undefined: not converged before the time limit. */
  convergedMs: number | undefined;
  fullMeshMs: number | undefined;
  bytesPerPeer: number;
  connectionsPerPeer: number;
}

function topologyConverged(routers: MeshRouter[]): boolean {
  for (const r of routers) {
    if (r.peers.size !== routers.length) return false;
    for (const o of routers) {
      if (o === r) continue;
      const seen = r.peers.get(o.name);
      if (!seen || seen.version !== o.peers.self.version || seen.uid !== o.uid) return false;
      if (!r.routes.unicast.has(o.name)) return false;
    }
  }
  return true;
}

export async function measureConvergence(n: number, opts: { timeoutMs?: number; base?: string } = {}): Promise<ConvergenceResult> {
  const base = opts.base ?? '127.0.1.';
  const routers: MeshRouter[] = [];
  for (let i = 0; i < n; i++) {
    routers.push(
      new MeshRouter({
        name: 0x0e0000000000n + BigInt(i + 1),
        nickname: `bench${i + 1}`,
        host: `${base}${i + 1}`,
        port: 6783,
        connLimit: 100,
        discovery: true,
        transport: tcpTransport,
        clock: realClock,
        log: silentLogger(),
        // Many routers share one busy event loop here: a stall of a few seconds would trip the
        // fast read deadline that separate processes use (docs/mesh-protocol.md, liveness).
        timings: { fastHeartbeatMs: 0 },
      }),
    );
  }
  const t0 = performance.now();
  try {
    await Promise.all(routers.map((r, i) => r.start(i === 0 ? [] : [`${base}${i}:6783`])));
    const deadline = t0 + (opts.timeoutMs ?? 180_000);
    let convergedMs: number | undefined;
    let fullMeshMs: number | undefined;
    const wantConns = Math.min(n - 1, 100);
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      if (convergedMs === undefined && topologyConverged(routers)) convergedMs = performance.now() - t0;
      if (fullMeshMs === undefined && routers.every((r) => r.peers.self.connections.length >= wantConns)) fullMeshMs = performance.now() - t0;
      if (convergedMs !== undefined && fullMeshMs !== undefined && topologyConverged(routers)) break;
    }
    const bytes = routers.reduce((s, r) => s + r.traffic.sent, 0);
    const conns = routers.reduce((s, r) => s + r.peers.self.connections.length, 0);
    return { n, convergedMs, fullMeshMs, bytesPerPeer: bytes / n, connectionsPerPeer: conns / n };
  } finally {
    await Promise.all(routers.map((r) => r.stop()));
  }
}
