// Interop with a real Go peer built from Debian's weaveworks/mesh (test/interop/gopeer).
// Everything runs on loopback addresses, each peer on its own 127.0.x.y with port 6783 so that
// mesh's discovery (which targets "<ip>:<mesh port>") works as between hosts:
//
//   weft1 127.0.9.1 ◄── go 127.0.9.2 ◄── weft3 127.0.9.3      (weft3 only knows go's address)
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../lib/clock.js';
import { FAST_READ_DEADLINE_MS } from '../../lib/constants.js';
import { silentLogger } from '../../lib/log.js';
import { MeshRouter } from '../../mesh/router.js';
import { tcpTransport } from '../../mesh/transport.js';
import { formatPeerName } from '../../mesh/peer-name.js';
import type { GossipData, Gossiper } from '../../mesh/gossip.js';
import { gobDecode, gobEncode } from '../../mesh/gob/index.js';
import { buildGoPeer, GoPeer, goPeerUnavailable, hasEstablishedRoute } from '../harness/gopeer.js';
import { waitFor } from '../harness/netns.js';

const why = goPeerUnavailable();
if (why) console.warn(`SKIP interop tests: ${why}`);

const NET = `127.0.${9 + (process.pid % 100)}.`;
const WEFT1 = 0x0e0000000001n;
const WEFT3 = 0x0e0000000003n;
const GO_NAME = '0e:00:00:00:00:02';

const started: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});

async function weft(name: bigint, host: string, peers: string[], password?: string): Promise<MeshRouter> {
  const r = new MeshRouter({
    name,
    nickname: `weft-${host}`,
    host,
    port: 6783,
    password: password === undefined ? undefined : Buffer.from(password),
    connLimit: 100,
    discovery: true,
    transport: tcpTransport,
    clock: realClock,
    log: silentLogger(),
  });
  await r.start(peers);
  started.push(r);
  return r;
}

async function goPeer(peers: string[], password?: string): Promise<GoPeer> {
  const p = await GoPeer.start({ name: GO_NAME, nickname: 'gopeer', meshAddr: `${NET}2:6783`, httpAddr: `${NET}2:6784`, password, peers });
  started.push(p);
  return p;
}

const STRINGS = { kind: 'slice', elem: { kind: 'string' } } as const;

/** The Go peer's test channel: a set of strings, gossiped as a gob []string. */
class StringSet implements Gossiper, GossipData {
  readonly set = new Set<string>();
  constructor(values: Iterable<string> = []) {
    for (const v of values) this.set.add(v);
  }
  encode(): Buffer[] {
    return [gobEncode([STRINGS, [...this.set].sort()])];
  }
  merge(other: GossipData): GossipData {
    return new StringSet([...this.set, ...(other as StringSet).set]);
  }
  onGossipUnicast(_src: bigint, msg: Buffer): void {
    this.absorb(msg);
  }
  onGossipBroadcast(_src: bigint, update: Buffer): GossipData | undefined {
    return this.absorb(update);
  }
  gossip(): GossipData {
    return new StringSet(this.set);
  }
  onGossip(msg: Buffer): GossipData | undefined {
    return this.absorb(msg);
  }
  private absorb(msg: Buffer): GossipData | undefined {
    const r = gobDecode(msg);
    if (!r.ok) throw new Error(r.reason);
    const fresh = (r.value[0]?.value as string[]).filter((v) => !this.set.has(v));
    fresh.forEach((v) => this.set.add(v));
    return fresh.length ? new StringSet(fresh) : undefined;
  }
}

function weftSees(r: MeshRouter, name: bigint): boolean {
  return r.connectionStatus().some((c) => c.state === 'established' && c.peer === formatPeerName(name)) && r.routes.unicast.has(name);
}

describe.skipIf(why !== undefined)('interop with the Go mesh peer', () => {
  beforeAll(async () => {
    await buildGoPeer();
  }, 300_000);

  it.each([
    ['without a password', undefined],
    ['with a password', 'interop-secret'],
  ])('weft and Go connect %s and each lists the other with a route', async (_what, password) => {
    const w = await weft(WEFT1, `${NET}1`, [], password);
    const g = await goPeer([`${NET}1:6783`], password);
    await g.waitFor((s) => hasEstablishedRoute(s, formatPeerName(WEFT1)), { timeoutMs: 20_000 });
    await waitFor(() => weftSees(w, 0x0e0000000002n), { timeoutMs: 20_000, what: 'weft sees the Go peer' });
    const conn = w.connectionStatus().find((c) => c.peer === GO_NAME)!;
    expect(conn.encrypted).toBe(password !== undefined);
    expect((await g.status()).Encryption).toBe(password !== undefined);
    expect(w.peerStatus().find((p) => p.name === GO_NAME)!.nickname).toBe('gopeer');
    // Go offers no fast heartbeats (and ignores our WeftHeartbeat key): mesh's timing holds.
    expect(conn.info).toMatch(/heartbeat 30s, deadline 60s, link watched by the kernel \(4s\)$/);
  });

  it('an idle weft–Go connection outlives the fast deadline weft uses between weft peers', async () => {
    const w = await weft(WEFT1, `${NET}1`, []);
    const g = await goPeer([`${NET}1:6783`]);
    await g.waitFor((s) => hasEstablishedRoute(s, formatPeerName(WEFT1)), { timeoutMs: 20_000 });
    await waitFor(() => weftSees(w, 0x0e0000000002n), { timeoutMs: 20_000, what: 'weft sees the Go peer' });
    // Go heartbeats every 30 s only: with weft's 4 s deadline this connection would break now.
    await new Promise((r) => setTimeout(r, 2 * FAST_READ_DEADLINE_MS));
    expect(w.connectionStatus().map((c) => `${c.peer} ${c.state}`)).toEqual([`${GO_NAME} established`]);
    expect(w.status().connections.failed).toBe(0);
    expect(((await g.status()).Connections ?? []).filter((c) => c.State === 'established')).toHaveLength(1);
  }, 30_000);

  it('a third weft peer that only knows the Go peer finds the first weft peer through gossip', async () => {
    const w1 = await weft(WEFT1, `${NET}1`, []);
    await goPeer([`${NET}1:6783`]);
    const w3 = await weft(WEFT3, `${NET}3`, [`${NET}2:6783`]);
    await waitFor(() => weftSees(w3, WEFT1) && weftSees(w1, WEFT3), { timeoutMs: 30_000, what: 'weft1 and weft3 connect directly' });
    expect(w3.peers.size).toBe(3);
    // Between the two weft peers the fast heartbeats were agreed, across the Go peer's mesh.
    expect(w1.connectionStatus().find((c) => c.peer === formatPeerName(WEFT3))!.info).toMatch(/heartbeat 30s, deadline 60s, link watched by the kernel \(4s\)$/);
    expect(w1.connectionStatus().find((c) => c.peer === GO_NAME)!.info).toMatch(/heartbeat 30s, deadline 60s, link watched by the kernel \(4s\)$/);
  });

  it('a wrong password connects to nobody and says why', async () => {
    const w = await weft(WEFT1, `${NET}1`, [`${NET}2:6783`], 'right');
    const g = await goPeer([], 'wrong');
    await waitFor(() => w.connectionStatus().some((c) => c.state === 'failed' && /password/.test(c.info)), { timeoutMs: 20_000, what: 'weft reports the password mismatch' });
    const s = await g.status();
    expect((s.Connections ?? []).some((c) => c.State === 'established')).toBe(false);
    expect(w.peers.size).toBe(1);
  });

  it('gossip on a shared channel passes both ways', async () => {
    const w = await weft(WEFT1, `${NET}1`, []);
    const set = new StringSet();
    const ch = w.newGossip('weft-test', set);
    const g = await goPeer([`${NET}1:6783`]);
    await g.waitFor((s) => hasEstablishedRoute(s, formatPeerName(WEFT1)), { timeoutMs: 20_000 });
    await g.add('from-go');
    await waitFor(() => set.set.has('from-go'), { timeoutMs: 20_000, what: 'weft receives the Go broadcast' });
    set.set.add('from-weft');
    ch.gossipBroadcast(new StringSet(['from-weft']));
    await g.waitForSet((s) => s.includes('from-weft'), { timeoutMs: 20_000 });
  });
});
