import { describe, expect, it } from 'vitest';
import { Peers } from './peers.js';
import { TopologyData, TopologyGossiper } from './topology-gossiper.js';
import { BytesGossipData } from './gossip.js';
import type { ConnectionSummary, PeerSummary } from './peer.js';

const [S, X, Y, Z, P, Q] = [1n, 2n, 3n, 4n, 5n, 6n];
const conn = (name: bigint): ConnectionSummary => ({ name, remoteTcpAddr: '198.18.0.9:6783', outbound: true, established: true });
const summary = (name: bigint, to: bigint[]): PeerSummary => ({ name, nickname: `p${name}`, uid: 100n + name, version: 1n, shortId: undefined, connections: to.map(conn) });

function table(): Peers {
  const peers = new Peers({ name: S, nickname: 's', uid: 7n }, () => 0.5);
  peers.setLocalConnections([conn(X), conn(Y), conn(Z)]);
  peers.applyUpdate([summary(X, [S, P]), summary(Y, [S]), summary(Z, [S]), summary(P, [X]), summary(Q, [X, Y, Z])]);
  return peers;
}

describe('topology relay targets', () => {
  const g = (peers: Peers): TopologyGossiper => new TopologyGossiper(peers, { onUpdate: () => undefined });

  it('sends our own update to every neighbour', () => {
    const peers = table();
    expect(g(peers).relayTargets(new TopologyData(peers, new Set([S])), [X, Y, Z])!.sort()).toEqual([X, Y, Z]);
  });

  it('relays a peer\'s update only to neighbours that peer is not connected to', () => {
    const peers = table();
    expect(g(peers).relayTargets(new TopologyData(peers, new Set([P])), [X, Y, Z])!.sort()).toEqual([Y, Z]);
    // Q is connected to all our neighbours: they heard from Q directly.
    expect(g(peers).relayTargets(new TopologyData(peers, new Set([Q])), [X, Y, Z])).toEqual([]);
    // A mixed update goes wherever any of its subjects is missing.
    expect(g(peers).relayTargets(new TopologyData(peers, new Set([P, Q])), [X, Y, Z])!.sort()).toEqual([Y, Z]);
  });

  it('leaves a relay to the designated peer: the lowest-named one connected to both ends', () => {
    // Us = 0x50, connected to P and X; P and X are not connected to each other.
    const us = 0x50n;
    const peers = new Peers({ name: us, nickname: 'us', uid: 7n }, () => 0.5);
    peers.setLocalConnections([conn(P), conn(X)]);
    peers.applyUpdate([summary(P, [us]), summary(X, [us])]);
    const gossiper = g(peers);
    const update = (): TopologyData => new TopologyData(peers, new Set([P]));
    // Only we link them: we relay.
    expect(gossiper.relayTargets(update(), [X])).toEqual([X]);
    // 0x40 also links them and has the lower name: it relays, we do not.
    peers.applyUpdate([{ ...summary(P, [us, 0x40n]), version: 2n }, { ...summary(X, [us, 0x40n]), version: 2n }, summary(0x40n, [P, X])]);
    expect(gossiper.relayTargets(update(), [X])).toEqual([]);
    // 0x60 links them too, but we are lower: we relay.
    peers.applyUpdate([{ ...summary(P, [us, 0x60n]), version: 9n }, { ...summary(X, [us, 0x60n]), version: 9n }, summary(0x60n, [P, X])]);
    expect(gossiper.relayTargets(update(), [X])).toEqual([X]);
  });

  it('keeps mesh\'s random choice for full state and for other data', () => {
    const peers = table();
    expect(g(peers).relayTargets(new TopologyData(peers, undefined), [X, Y, Z])).toBeUndefined();
    expect(g(peers).relayTargets(new BytesGossipData([Buffer.from('x')]), [X, Y, Z])).toBeUndefined();
  });

  it('floods to every neighbour with no common neighbour of the subject, once each', () => {
    const peers = new Peers({ name: S, nickname: 's', uid: 7n }, () => 0.5);
    const many = Array.from({ length: 40 }, (_, i) => 100n + BigInt(i));
    peers.setLocalConnections(many.map(conn));
    peers.applyUpdate([summary(P, [])]);
    const out = g(peers).relayTargets(new TopologyData(peers, new Set([P])), many)!;
    expect([...out].sort()).toEqual(many);
    expect(new Set(out).size).toBe(out.length);
  });
});

describe('periodic full gossip between tables that agree', () => {
  it('encodes the same table to the same bytes whatever order it was learnt in, and does not decode our own table again', () => {
    // Two views of one table: ours (S) and X's, each knowing the other's summary as it is.
    const s = new Peers({ name: S, nickname: 's', uid: 7n, shortId: 1 }, () => 0.5);
    s.setLocalConnections([conn(X)]);
    const x = new Peers({ name: X, nickname: 'pX', uid: 100n + X, shortId: 2 }, () => 0.5);
    x.setLocalConnections([conn(S)]);
    s.applyUpdate([x.self, summary(Z, [X]), summary(Y, [X])]);
    x.applyUpdate([summary(Y, [X]), s.self, summary(Z, [X])]);
    const updates: unknown[] = [];
    const gs = new TopologyGossiper(s, { onUpdate: (r) => updates.push(r) });
    const gx = new TopologyGossiper(x, { onUpdate: () => undefined });
    const fromX = gx.gossip().encode()[0]!;
    expect(gs.gossip().encode()[0]!.equals(fromX)).toBe(true);
    expect(gs.onGossip(fromX)).toBeUndefined();
    expect(updates).toEqual([]); // not decoded
    // Once our table changes, the same bytes are decoded again (they might tell us something).
    s.applyUpdate([{ ...summary(Y, [X]), version: 2n }]);
    expect(gs.onGossip(fromX)).toBeUndefined();
    expect(updates).toHaveLength(1);
  });
});

describe('push-pull anti-entropy', () => {
  const names = (d: unknown): bigint[] => [...((d as TopologyData | undefined)?.names ?? [])].sort((a, b) => (a < b ? -1 : 1));

  it('answers a complete table with the peers it lacks and those it has older, and a delta not at all', () => {
    // S knows X, Y, Z, P, Q; X missed Q's summary (it knows Q only as a name) and has Y older.
    const s = table();
    const x = new Peers({ name: X, nickname: 'pX', uid: 100n + X }, () => 0.5);
    x.setLocalConnections([conn(S), conn(P)]);
    x.applyUpdate([s.self, { ...summary(Y, [S]), version: 0n }, summary(Z, [S]), summary(P, [X])]);
    const gs = new TopologyGossiper(s, { onUpdate: () => undefined });
    const gx = new TopologyGossiper(x, { onUpdate: () => undefined });

    const complete = gs.exchange(gx.gossip().encode()[0]!);
    // X's own summary is newer than ours: the delta; Y (older at X) and Q (missing at X): the reply.
    expect(names(complete.delta)).toEqual([X]);
    expect(names(complete.reply)).toEqual([Y, Q]);

    // X applies the answer: nothing more to ask for, and its next complete table gets no answer.
    expect(gx.onGossip(complete.reply!.encode()[0]!)).toBeDefined();
    expect(x.placeholders()).toBe(0);
    expect(gs.exchange(gx.gossip().encode()[0]!)).toEqual({ delta: undefined, reply: undefined });

    // A relayed delta naming two peers is not a complete table: not answered, even where it
    // carried a peer older than we know it (the newer version is being relayed to its sender too).
    const y0 = new Peers({ name: Y, nickname: 'pY', uid: 100n + Y }, () => 0.5);
    y0.applyUpdate([{ ...summary(P, [X]), version: 0n }, summary(Z, [S])]);
    const older = gs.exchange(new TopologyData(y0, new Set([P, Z])).encode()[0]!);
    expect(older.reply).toBeUndefined();
    expect(older.delta).toBeUndefined();
  });
});
