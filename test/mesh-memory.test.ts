// Multi-router scenarios over the in-memory transport with a manual clock.
//
//   198.18.0.1 (a) ◄── 198.18.0.2 (b) ◄── 198.18.0.3 (c) ◄── 198.18.0.4 (d)     (chain of targets)
//
// Every scenario is deterministic: time only moves inside settle()/run().
import { afterEach, describe, expect, it } from 'vitest';
import { converged, MemoryMesh } from './harness/memory-mesh.js';
import { BytesGossipData, type GossipData, type Gossiper } from '../mesh/gossip.js';
import type { MeshRouter } from '../mesh/router.js';
import { formatPeerName } from '../mesh/peer-name.js';
import { Tag, message } from '../mesh/protocol.js';
import { gobEncode, T } from '../mesh/gob/index.js';

let mesh: MemoryMesh;
afterEach(async () => {
  await mesh?.stop();
});

const A = 0x0a0000000001n;
const B = 0x0a0000000002n;
const C = 0x0a0000000003n;
const D = 0x0a0000000004n;

function establishedPeers(r: MeshRouter): string[] {
  return r
    .connectionStatus()
    .filter((c) => c.state === 'established')
    .map((c) => c.peer!)
    .sort();
}

describe('mesh formation', () => {
  it('two routers connect and each has an established route to the other', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    await mesh.settle(() => converged([a, b]), 'a and b converge');
    expect(establishedPeers(a)).toEqual([formatPeerName(B)]);
    expect(establishedPeers(b)).toEqual([formatPeerName(A)]);
    expect(a.routes.unicast.get(B)).toBe(B);
    expect(a.connectionStatus()[0]!.encrypted).toBe(false);
  });

  it('a chain of launch targets becomes a full mesh through discovery', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    const c = await mesh.add({ name: C, peers: ['198.18.0.2'] });
    const d = await mesh.add({ name: D, peers: ['198.18.0.3'] });
    const all = [a, b, c, d];
    // Done when every router sees every router (itself included) with three connections.
    const elapsed = await mesh.settle(() => converged(all) && all.every((r) => r.peerStatus().every((p) => p.connections.length === 3)), 'full mesh of 4');
    for (const r of all) expect(establishedPeers(r).length).toBe(3);
    // Topology updates are coalesced for 1 s, so a few rounds of that, not more.
    expect(elapsed).toBeLessThan(10_000);
  });

  it('without discovery, a chain stays a chain but routes go over several hops', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, discovery: false });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'], discovery: false });
    const c = await mesh.add({ name: C, peers: ['198.18.0.2'], discovery: false });
    await mesh.settle(() => converged([a, b, c]), 'chain converges');
    expect(a.routes.unicast.get(C)).toBe(B);
    expect(establishedPeers(a)).toEqual([formatPeerName(B)]);
  });

  it('a stopped router disappears from the others; a restart reconnects with the same name and a new UID', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    const c = await mesh.add({ name: C, peers: ['198.18.0.1'] });
    await mesh.settle(() => converged([a, b, c]), 'three converge');
    const oldUid = c.uid;
    await c.stop();
    mesh.routers.splice(mesh.routers.indexOf(c), 1);
    await mesh.settle(() => a.peers.get(C) === undefined && b.peers.get(C) === undefined, 'c forgotten');
    const c2 = await mesh.add({ name: C, host: '198.18.0.3', peers: ['198.18.0.1'] });
    expect(c2.uid).not.toBe(oldUid);
    await mesh.settle(() => converged([a, b, c2]), 'c rejoins');
    expect(a.peers.get(C)!.uid).toBe(c2.uid);
  });

  it('simultaneous dials end with exactly one connection per pair', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, peers: ['198.18.0.2'] });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    await mesh.settle(() => converged([a, b]), 'pair converges');
    await mesh.run(20_000);
    expect(establishedPeers(a)).toEqual([formatPeerName(B)]);
    expect(establishedPeers(b)).toEqual([formatPeerName(A)]);
    expect(a.peers.self.connections.length).toBe(1);
  });

  it('heartbeats keep idle connections up for minutes', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    await mesh.settle(() => converged([a, b]), 'pair converges');
    await mesh.run(5 * 60_000, 1_000);
    expect(establishedPeers(a)).toEqual([formatPeerName(B)]);
  });
});

describe('connection validation', () => {
  it('connecting to ourself is detected and never retried', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, peers: ['198.18.0.1'] });
    await mesh.settle(() => a.status().targets.some((t) => t.state === 'failed'), 'self target fails');
    const t = a.status().targets[0]!;
    expect(t.lastError).toMatch(/ourself/);
    expect(t.retryInMs).toBeNull();
    expect(a.connectionStatus().find((c) => c.address === '198.18.0.1:6783')!.info).toMatch(/retry: never/);
  });

  it('a name collision is reported and never retried', async () => {
    mesh = new MemoryMesh();
    await mesh.add({ name: A });
    const twin = await mesh.add({ name: A, peers: ['198.18.0.1'] });
    await mesh.settle(() => twin.status().targets.some((t) => t.state === 'failed'), 'collision detected');
    expect(twin.status().targets[0]!.lastError).toMatch(/collision/);
  });

  it('with the same password the connection is encrypted', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, password: 'pw' });
    const b = await mesh.add({ name: B, password: 'pw', peers: ['198.18.0.1'] });
    await mesh.settle(() => converged([a, b]), 'encrypted pair converges');
    expect(a.connectionStatus()[0]!.encrypted).toBe(true);
    expect(a.status().encryption).toBe(true);
  });

  it.each([
    ['different passwords', 'one', 'two', /password mismatch/],
    ['only the dialler has a password', undefined, 'two', /peer requested an unencrypted connection/],
    ['only the listener has a password', 'one', undefined, /peer requested an encrypted connection/],
  ])('%s: no connection, and both sides say why', async (_what, pa, pb, reason) => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, password: pa });
    const b = await mesh.add({ name: B, password: pb, peers: ['198.18.0.1'] });
    await mesh.settle(() => b.connectionStatus().some((c) => c.state === 'failed') && a.connectionStatus().some((c) => c.state === 'failed'), 'both report failure');
    await mesh.run(10_000);
    expect(a.peers.size).toBe(1);
    expect(b.peers.size).toBe(1);
    expect(b.connectionStatus().find((c) => c.state === 'failed')!.info).toMatch(/password|encrypted/);
    const dialler = b.connectionStatus().find((c) => c.state === 'failed')!.info;
    const listener = a.connectionStatus().find((c) => c.state === 'failed')!.info;
    expect(`${dialler} | ${listener}`).toMatch(reason);
  });

  it('the connection limit bounds connections', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, connLimit: 1 });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    const c = await mesh.add({ name: C, peers: ['198.18.0.1', '198.18.0.2'] });
    await mesh.run(10_000);
    expect(establishedPeers(a).length).toBe(1);
    // The one refused still reaches a through the other (multi-hop).
    await mesh.settle(() => converged([a, b, c]), 'converges over two hops');
  });

  it('a full router drops a well-connected neighbour to let in a peer nobody routes to', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, connLimit: 3 });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'] });
    const c = await mesh.add({ name: C, peers: ['198.18.0.1'] });
    const d = await mesh.add({ name: D, peers: ['198.18.0.1'] });
    await mesh.settle(() => converged([a, b, c, d]) && [a, b, c, d].every((r) => establishedPeers(r).length === 3), 'full mesh of 4, a at its limit');
    // e knows only a, which is full: before, e stayed out for good (every router it knew refused it).
    const E = 0x0a0000000005n;
    const e = await mesh.add({ name: E, peers: ['198.18.0.1'], discovery: false });
    await mesh.settle(() => converged([a, b, c, d, e]), 'e joins through the full router');
    // (b, c and d then learn of e from a and dial it too.)
    expect(establishedPeers(e)).toContain(formatPeerName(A));
    expect(establishedPeers(a)).toHaveLength(3);
    // The one dropped was one of the well-connected (b, c, d each keep two others): d, the highest name.
    expect(establishedPeers(a)).not.toContain(formatPeerName(D));
    // d, still routed to through b and c, is refused when it asks again: nobody is dropped for it.
    await mesh.run(90_000);
    expect(establishedPeers(a)).toContain(formatPeerName(E));
    expect(converged([a, b, c, d, e])).toBe(true);
  });

  it('with a degree, discovery keeps each router to about that many connections, and routes span the rest', async () => {
    mesh = new MemoryMesh();
    const names = Array.from({ length: 16 }, (_, i) => 0x0b0000000001n + BigInt(i));
    const all: MeshRouter[] = [];
    for (const [i, name] of names.entries()) all.push(await mesh.add({ name, degree: 3, peers: i === 0 ? [] : [`198.18.0.${i}`] }));
    await mesh.settle(() => converged(all), '16 routers with degree 3 converge', { maxMs: 300_000 });
    await mesh.run(30_000);
    const degrees = all.map((r) => establishedPeers(r).length);
    // Dialling stops at 3; others may dial in, so some have more, but nobody is connected to everyone.
    expect(Math.min(...degrees)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...degrees)).toBeLessThan(names.length - 1);
    expect(degrees.reduce((s, d) => s + d, 0) / degrees.length).toBeLessThan(8);
    expect(converged(all)).toBe(true);
  });
});

class SetGossiper implements Gossiper {
  readonly set = new Set<string>();
  readonly unicasts: string[] = [];
  onGossipUnicast(_src: bigint, msg: Buffer): void {
    this.unicasts.push(msg.toString());
  }
  onGossipBroadcast(_src: bigint, update: Buffer): GossipData | undefined {
    return this.merge(update);
  }
  gossip(): GossipData | undefined {
    return this.set.size ? new BytesGossipData([Buffer.from([...this.set].join(','))]) : undefined;
  }
  onGossip(msg: Buffer): GossipData | undefined {
    return this.merge(msg);
  }
  private merge(msg: Buffer): GossipData | undefined {
    const fresh = msg
      .toString()
      .split(',')
      .filter((v) => v && !this.set.has(v));
    fresh.forEach((v) => this.set.add(v));
    return fresh.length ? new BytesGossipData([Buffer.from(fresh.join(','))]) : undefined;
  }
}

describe('gossip channels', () => {
  it('broadcast, neighbour gossip and unicast reach peers over several hops; unknown channels are relayed', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A, discovery: false });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'], discovery: false });
    const c = await mesh.add({ name: C, peers: ['198.18.0.2'], discovery: false });
    // b does not implement the channel: it must relay it as a surrogate.
    const ga = new SetGossiper();
    const gc = new SetGossiper();
    const cha = a.newGossip('test', ga);
    const chc = c.newGossip('test', gc);
    await mesh.settle(() => converged([a, b, c]), 'chain converges');

    ga.set.add('x');
    cha.gossipBroadcast(new BytesGossipData([Buffer.from('x')]));
    await mesh.settle(() => gc.set.has('x'), 'broadcast a→c');

    gc.set.add('y');
    chc.gossipNeighbourSubset(new BytesGossipData([Buffer.from('y')]));
    await mesh.settle(() => ga.set.has('y'), 'gossip c→a');

    cha.gossipUnicast(C, Buffer.from('hello c'));
    await mesh.settle(() => gc.unicasts.includes('hello c'), 'unicast a→c');
  });
});

describe('bad input closes one connection and nothing else', () => {
  async function rawDial(m: MemoryMesh, from: string): Promise<{ write(b: Buffer): void; closed: Promise<void> }> {
    const conn = await m.net.host(from).dial('198.18.0.1', 6783, {});
    const closed = new Promise<void>((resolve) => conn.stream.on('close', () => resolve()));
    conn.stream.on('data', () => undefined);
    conn.stream.on('error', () => undefined);
    return { write: (b) => conn.stream.write(b), closed };
  }

  const header = Buffer.concat([Buffer.from('weave'), Buffer.from([1, 2])]);
  const frame = (b: Buffer): Buffer => {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(b.length);
    return Buffer.concat([l, b]);
  };
  const features = gobEncode([
    { kind: 'map', key: T.string, elem: T.string },
    new Map([
      ['PeerNameFlavour', 'mac'],
      ['Name', '0e:00:00:00:00:01'],
      ['NickName', 'evil'],
      ['UID', '77'],
      ['ConnID', '5'],
    ]),
  ]);

  it.each([
    ['garbage instead of the header', () => [Buffer.from('GET / HTTP/1.1\r\n\r\n')], 'protocol'],
    ['a wrong protocol name', () => [Buffer.from('wove!\x01\x02')], 'protocol'],
    ['an oversized frame', () => [header, Buffer.from([0]), frame(features), Buffer.from([0x01, 0, 0, 0])], 'frame-too-large'],
    ['malformed gob in the features', () => [header, Buffer.from([0]), frame(Buffer.from([0x05, 0xff, 0xff, 0xff, 0x00, 0x01]))], 'protocol'],
    ['malformed gossip after a good handshake', () => [header, Buffer.from([0]), frame(features), frame(message(Tag.Gossip, Buffer.from([9, 9, 9, 9])))], 'malformed-gossip'],
    ['a frame that fails to decrypt', () => [header, Buffer.from([1]), Buffer.alloc(32, 1), frame(Buffer.alloc(40, 7))], 'password'],
  ])('%s', async (_what, bytes, expectReason) => {
    mesh = new MemoryMesh();
    const pw = expectReason === 'password' ? 'pw' : undefined;
    const a = await mesh.add({ name: A, password: pw });
    const b = await mesh.add({ name: B, peers: ['198.18.0.1'], password: pw });
    await mesh.settle(() => converged([a, b]), 'pair converges');
    const evil = await rawDial(mesh, '198.18.0.66');
    for (const chunk of bytes()) evil.write(chunk);
    let closed = false;
    void evil.closed.then(() => (closed = true));
    await mesh.settle(() => closed, 'the bad connection is closed', { maxMs: 15_000 });
    if (expectReason === 'malformed-gossip') expect(a.status().dropped['malformed-gossip']).toBe(1);
    else {
      const f = a.connectionStatus().find((c) => c.address.startsWith('198.18.0.66'));
      expect(f?.state).toBe('failed');
      if (expectReason === 'frame-too-large') expect(f!.info).toMatch(/exceeds maximum size/);
      if (expectReason === 'protocol') expect(f!.info).toMatch(/header not recognised|malformed|feature/);
      if (expectReason === 'password') expect(f!.info).toMatch(/password/);
    }
    // The good peer is still connected and gossip still flows.
    await mesh.run(3_000);
    expect(establishedPeers(a)).toEqual([formatPeerName(B)]);
  });

  it('a peer that goes silent is dropped after the read deadline', async () => {
    mesh = new MemoryMesh();
    const a = await mesh.add({ name: A });
    const evil = await rawDial(mesh, '198.18.0.66');
    evil.write(header);
    evil.write(Buffer.from([0]));
    evil.write(frame(features));
    await mesh.settle(() => a.peers.size === 2, 'silent peer registered');
    let closed = false;
    void evil.closed.then(() => (closed = true));
    await mesh.run(59_000, 1_000);
    expect(closed).toBe(false);
    await mesh.settle(() => closed, 'dropped at 60 s', { maxMs: 3_000 });
  });
});
