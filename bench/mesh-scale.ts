// The real router code at sizes no machine here runs as processes: N routers over the in-memory
// transport with one manual clock (test/harness/memory-mesh.ts), started together as a launch
// chain with the default discovery degree. Time is simulated, so the result is the protocol's own
// cost — simulated time to converge, messages and bytes each peer sends — not this machine's
// speed. Then one change, the kind that happens every day: a middle router is stopped (its
// connections close) and started again with the same name; each is timed (simulated) until every
// router agrees, and the messages and bytes each peer sent for it are counted.
import { MESH_DEGREE } from '../lib/constants.js';
import { MeshConnection } from '../mesh/connection.js';
import type { MeshRouter } from '../mesh/router.js';
import { MemoryMesh, converged } from '../test/harness/memory-mesh.js';

export interface ScaleResult {
  n: number;
  degree: number;
  /** Simulated ms from the start until every router knows every other and routes to it. */
  convergedMs: number;
  /** Mean connections per router at convergence. */
  connections: number;
  formation: { messagesPerPeer: number; bytesPerPeer: number };
  /** The stop of one router: simulated ms until nobody routes to it, and what each peer sent meanwhile. */
  leave: { ms: number; messagesPerPeer: number; bytesPerPeer: number };
  /** Its start with the same name: simulated ms until everyone routes to it again. */
  rejoin: { ms: number; messagesPerPeer: number; bytesPerPeer: number };
  /** Real seconds this took (the cost of simulating N routers in one process). */
  wallSeconds: number;
}

const hostOf = (i: number): string => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;

export async function simulateScale(n: number, degree = MESH_DEGREE): Promise<ScaleResult> {
  const wall = performance.now();
  let messages = 0;
  const send = MeshConnection.prototype.send;
  MeshConnection.prototype.send = function (this: MeshConnection, ...args: Parameters<typeof send>) {
    messages++;
    return send.apply(this, args);
  };
  const mesh = new MemoryMesh({ fastHeartbeatMs: 0 });
  const bytes = (rs: MeshRouter[]): number => rs.reduce((s, r) => s + r.traffic.sent, 0);
  try {
    const rs: MeshRouter[] = [];
    for (let i = 0; i < n; i++) {
      const peers = i === 0 ? [] : [hostOf(i - 1)];
      rs.push(await mesh.add({ name: 0x0e0000000000n + BigInt(i + 1), host: hostOf(i), degree, peers }));
    }
    const convergedMs = await mesh.settle(() => converged(rs), `${n} routers converge`, { stepMs: 50, maxMs: 600_000 });
    const formation = { messagesPerPeer: messages / n, bytesPerPeer: bytes(rs) / n };
    const connections = rs.reduce((s, r) => s + r.peers.self.connections.length, 0) / n;
    // Let the formation's last coalesced updates and discovery dials finish before measuring one change.
    await mesh.run(5_000, 50);

    const at = Math.floor(n / 2);
    const victim = rs[at]!;
    const others = rs.filter((r) => r !== victim);
    let m0 = messages;
    let b0 = bytes(others);
    await victim.stop();
    const leaveMs = await mesh.settle(() => others.every((r) => !r.routes.unicast.has(victim.name) && r.peers.get(victim.name) === undefined), 'the stopped router is gone everywhere', { stepMs: 50, maxMs: 120_000 });
    await mesh.run(3_000, 50);
    const leave = { ms: leaveMs, messagesPerPeer: (messages - m0) / others.length, bytesPerPeer: (bytes(others) - b0) / others.length };

    m0 = messages;
    b0 = bytes(others);
    const back = await mesh.add({ name: victim.name, host: hostOf(at), degree, peers: [hostOf(at - 1)] });
    const everyone = [...others, back];
    const rejoinMs = await mesh.settle(() => converged(everyone), 'the restarted router is back everywhere', { stepMs: 50, maxMs: 120_000 });
    await mesh.run(3_000, 50);
    const rejoin = { ms: rejoinMs, messagesPerPeer: (messages - m0) / n, bytesPerPeer: (bytes(everyone) - b0) / n };
    return { n, degree, convergedMs, connections, formation, leave, rejoin, wallSeconds: (performance.now() - wall) / 1000 };
  } finally {
    MeshConnection.prototype.send = send;
    await mesh.stop();
  }
}

function kib(b: number): string {
  return b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`;
}

export function formatScale(rows: ScaleResult[]): string {
  const lines = ['N      degree  converged (sim)  conns/peer  formation msgs, bytes/peer   leave: gone after, msgs, bytes/peer   rejoin: back after, msgs, bytes/peer   wall'];
  for (const r of rows) {
    lines.push(
      `${String(r.n).padEnd(7)}${String(r.degree).padEnd(8)}${`${(r.convergedMs / 1000).toFixed(1)} s`.padEnd(17)}${r.connections.toFixed(1).padEnd(12)}${`${r.formation.messagesPerPeer.toFixed(0)}, ${kib(r.formation.bytesPerPeer)}`.padEnd(29)}${`${(r.leave.ms / 1000).toFixed(2)} s, ${r.leave.messagesPerPeer.toFixed(1)}, ${kib(r.leave.bytesPerPeer)}`.padEnd(38)}${`${(r.rejoin.ms / 1000).toFixed(2)} s, ${r.rejoin.messagesPerPeer.toFixed(1)}, ${kib(r.rejoin.bytesPerPeer)}`.padEnd(39)}${r.wallSeconds.toFixed(0)} s`,
    );
  }
  return lines.join('\n');
}

// `node dist/bench/mesh-scale.js N [N …]`
if (process.argv[1]?.endsWith('mesh-scale.js')) {
  const rows: ScaleResult[] = [];
  for (const n of process.argv.slice(2).map(Number)) {
    rows.push(await simulateScale(n));
    console.error(formatScale(rows.slice(-1)));
  }
  console.log(formatScale(rows));
}
