// The same formation as mesh-convergence, but over the in-memory transport with a manual
// clock: handshakes are instant and time only moves in 50 ms steps, so the result is the
// protocol's own cost (messages, bytes, rounds of coalescing), free of the CPU contention of
// N routers sharing one Node process.
import { MeshConnection } from '../mesh/connection.js';
import { MemoryMesh, converged } from '../test/harness/memory-mesh.js';
import type { MeshRouter } from '../mesh/router.js';

export interface SimulatedResult {
  n: number;
  simulatedMs: number;
  messagesPerPeer: number;
  bytesPerPeer: number;
}

function viewsMatch(rs: MeshRouter[]): boolean {
  return rs.every((r) => r.peers.self.connections.length === rs.length - 1 && rs.every((o) => r.peers.get(o.name)?.version === o.peers.self.version));
}

export async function simulateConvergence(n: number): Promise<SimulatedResult> {
  let messages = 0;
  const send = MeshConnection.prototype.send;
  MeshConnection.prototype.send = function (this: MeshConnection, ...args: Parameters<typeof send>) {
    messages++;
    return send.apply(this, args);
  };
  const mesh = new MemoryMesh();
  try {
    const rs: MeshRouter[] = [];
    for (let i = 0; i < n; i++) rs.push(await mesh.add({ name: 0x0e0000000000n + BigInt(i + 1), peers: i ? [`198.18.0.${i}`] : [] }));
    const simulatedMs = await mesh.settle(() => converged(rs) && viewsMatch(rs), `${n} routers converge`, { stepMs: 50, maxMs: 600_000 });
    const bytes = rs.reduce((s, r) => s + r.traffic.sent, 0);
    return { n, simulatedMs, messagesPerPeer: messages / n, bytesPerPeer: bytes / n };
  } finally {
    MeshConnection.prototype.send = send;
    await mesh.stop();
  }
}
