// A control link that silently drops every packet (an nftables drop rule, not a reject: no RST,
// no ICMP, the sockets stay open) is noticed within the fast deadline, not mesh's 60 s: the kernel
// watches each weft connection (keepalive probes, TCP_USER_TIMEOUT) and fails it.
//
//   h0 198.18.0.1 ──╳── h1 198.18.0.2      step 1: TCP 6783 between h0 and h1 dropped
//        ╲                 ╱                        → h0 and h1 reach each other via h2
//         ╳      h2       ╱                 step 2: TCP 6783 between h0 and h2 dropped too
//          198.18.0.3 ───                           → h0 is alone; h1 and h2 forget it
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_READ_DEADLINE_MS, GC_DEFER_MS, LINK_PROBE_INTERVAL_MS, MESH_PORT, READ_DEADLINE_MS, ROUTES_DEFER_MS, TOPOLOGY_COALESCE_MS, WATCHED_HEARTBEAT_INTERVAL_MS } from '../lib/constants.js';
import { canUseNetns, canUseNft, createLan, waitFor, type Host, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';

const can = canUseNft();
if (!can.ok) console.warn(`SKIP end-to-end liveness tests: ${can.reason}`);

/**
 * A link's kernel fails the connection once nothing was acknowledged for the deadline, checked at
 * each keepalive probe (so up to one probe interval later), then routes are recomputed. Far below
 * mesh's 60 s, so the test tells them apart.
 */
const REROUTE_MS = FAST_READ_DEADLINE_MS + LINK_PROBE_INTERVAL_MS + ROUTES_DEFER_MS;
/** A third peer learns it from a topology update (one coalescing window), then collects the peer. */
const FORGET_MS = REROUTE_MS + TOPOLOGY_COALESCE_MS + GC_DEFER_MS;
const KERNEL_TIMEOUT = /acknowledged nothing within the kernel's deadline/;
const POLL_INTERVAL_MS = 200;
const TABLE = 'wt_liveness';

interface PeerJson {
  name: string;
  nickname: string;
  self: boolean;
  via: string | null;
  connections: { name: string; established: boolean }[];
}
interface ConnJson {
  peer: string | null;
  state: string;
  info: string;
}

/** Drops TCP to or from the mesh port between a and b, both ways, in both namespaces. */
async function blockMeshTcp(a: Host, b: Host): Promise<void> {
  for (const [self, peer] of [[a, b], [b, a]] as const) {
    const script = `table inet ${TABLE} {
  chain out { type filter hook output priority 0; policy accept; }
}
add rule inet ${TABLE} out ip daddr ${peer.addr} tcp dport ${MESH_PORT} counter drop
add rule inet ${TABLE} out ip daddr ${peer.addr} tcp sport ${MESH_PORT} counter drop
`;
    const r = await self.exec('nft', ['-f', '-'], { input: script, timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`${self.name}: nft failed: ${r.stderr}`);
  }
}

/** When the router's log says it closed a connection for silence after `since` (pino's epoch ms). */
function silenceClosedAt(h: WeftHost, since: number): number | undefined {
  for (const line of readFileSync(join(h.dataDir, 'weft.log'), 'utf8').split('\n')) {
    if (!line.includes('connection deleted') || !KERNEL_TIMEOUT.test(line)) continue;
    const time = (JSON.parse(line) as { time: number }).time;
    if (time >= since) return time;
  }
  return undefined;
}

describe.skipIf(!can.ok || !canUseNetns().ok)('dead control links are noticed in seconds', () => {
  let lan: Lan;
  let hosts: WeftHost[];
  const names: string[] = [];

  beforeAll(async () => {
    lan = await createLan({ hosts: 3 });
    hosts = lan.hosts.map((h) => new WeftHost(h));
    for (const [i, h] of hosts.entries()) names.push(await h.launch(i === 0 ? [] : [lan.hosts[i - 1]!.addr]));
    await waitFor(
      async () => {
        for (const h of hosts) {
          const peers = await h.json<PeerJson[]>(['status', 'peers']);
          if (peers.length !== 3 || peers.some((p) => p.connections.filter((c) => c.established).length !== 2)) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'full mesh of 3' },
    );
  }, 120_000);
  afterAll(async () => {
    for (const h of hosts ?? []) await h.cleanup();
    await lan?.cleanup();
  });

  const peers = (h: number): Promise<PeerJson[]> => hosts[h]!.json<PeerJson[]>(['status', 'peers']);
  const all = (): Promise<PeerJson[][]> => Promise.all(hosts.map((h) => h.json<PeerJson[]>(['status', 'peers'])));
  const via = (from: PeerJson[], to: number): string | null | undefined => from.find((p) => p.name === names[to])!.via;
  /**
   * Each poll runs the CLI in a new Node process per host, which takes 0.3–1 s on a busy machine.
   * Measured rather than assumed; a change can land just after one poll read the state, so the
   * bound allows two polls on top of the protocol's own time.
   */
  const pollSlack = async (): Promise<number> => {
    let worst = 0;
    for (let i = 0; i < 3; i++) {
      const t = Date.now();
      await all();
      worst = Math.max(worst, Date.now() - t);
    }
    return 2 * (worst + POLL_INTERVAL_MS);
  };

  it('weft peers let the kernel watch their links and agreed on heartbeats that only prove the router runs', async () => {
    const conns = (await hosts[0]!.json<{ control: ConnJson[] }>(['status', 'connections'])).control;
    const up = conns.filter((c) => c.state === 'established');
    expect(up).toHaveLength(2);
    const heartbeatS = WATCHED_HEARTBEAT_INTERVAL_MS / 1000;
    // The deadline spans three of the peer's heartbeats, at most mesh's own.
    const deadlineS = Math.min(3 * heartbeatS, READ_DEADLINE_MS / 1000);
    for (const c of up) expect(c.info).toMatch(new RegExp(`heartbeat ${heartbeatS}s, deadline ${deadlineS}s, link watched by the kernel \\(${FAST_READ_DEADLINE_MS / 1000}s\\)$`));
  });

  it('a silently dropped link: both ends route around it within the deadline', async () => {
    expect(via(await peers(0), 1)).toBe(names[1]);
    const slack = await pollSlack();
    await blockMeshTcp(lan.hosts[0]!, lan.hosts[1]!);
    const t0 = Date.now();
    await waitFor(
      async () => {
        const [p0, p1] = await all();
        return via(p0!, 1) === names[2] && via(p1!, 0) === names[2];
      },
      { timeoutMs: REROUTE_MS + slack, intervalMs: POLL_INTERVAL_MS, what: 'h0 and h1 route to each other through h2' },
    );
    const took = Date.now() - t0;
    console.log(`h0–h1 cut: both route via h2 after ${took} ms (bound ${REROUTE_MS} + ${slack} ms for polling; read deadline ${FAST_READ_DEADLINE_MS} ms, mesh's ${READ_DEADLINE_MS} ms)`);
    // The routers' own logs time each kernel's detection without the polling. The end that
    // notices second may already route via h2 by then, having heard from the first through h2
    // (h0's close gossiped to h1 before h1's own timeout fired), so each close is awaited.
    let closedAt: (number | undefined)[] = [];
    await waitFor(
      () => {
        closedAt = [0, 1].map((h) => silenceClosedAt(hosts[h]!, t0 - 1_000));
        return Promise.resolve(closedAt.every((t) => t !== undefined));
      },
      { timeoutMs: REROUTE_MS + slack, intervalMs: POLL_INTERVAL_MS, what: 'both ends to close the connection on the kernel timeout' },
    );
    const detected = closedAt.map((t) => t! - t0);
    console.log(`h0–h1 cut: h0 closed the connection after ${detected[0]} ms, h1 after ${detected[1]} ms`);
    for (const ms of detected) expect(ms).toBeLessThanOrEqual(REROUTE_MS);
    const failed = (await hosts[0]!.json<{ control: ConnJson[] }>(['status', 'connections'])).control.filter((c) => c.state === 'failed');
    expect(failed.map((c) => c.info).join('\n')).toMatch(KERNEL_TIMEOUT);
  });

  it('cut off from everyone: the peer disappears from the others’ status peers', async () => {
    const slack = await pollSlack();
    await blockMeshTcp(lan.hosts[0]!, lan.hosts[2]!);
    const t0 = Date.now();
    await waitFor(
      async () => {
        const [p0, p1, p2] = await all();
        return p0!.length === 1 && [p1!, p2!].every((p) => p.length === 2 && !p.some((x) => x.name === names[0]));
      },
      { timeoutMs: FORGET_MS + slack, intervalMs: POLL_INTERVAL_MS, what: 'h0 alone, h1 and h2 without h0' },
    );
    console.log(`h0 isolated: alone, and gone from h1 and h2, after ${Date.now() - t0} ms (bound ${FORGET_MS} + ${slack} ms for polling)`);
  });
});
