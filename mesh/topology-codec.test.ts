// The topology codec writes and reads mesh's two layouts directly (not through the general gob
// code). Held to the general code here: the same bytes out, the same summaries (or failure) in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asArray, asBigint, asBool, asBytes, asString, field, gobDecode, GobEncoder, GobTypeIds, T } from './gob/index.js';
import type { GobValue } from './gob/index.js';
import type { ConnectionSummary, PeerSummary } from './peer.js';
import { peerNameFromBytes, peerNameToBytes } from './peer-name.js';
import { Peers } from './peers.js';
import { decodeTopology, encodeTopology, PEER_SUMMARY, CONNECTION_SUMMARY } from './topology-codec.js';

const SEED = 0x7090;

/** The general encoder, as encodeTopology was written before it wrote the layouts itself. */
function generalEncode(peers: PeerSummary[]): Buffer {
  const enc = new GobEncoder();
  for (const p of peers) {
    enc.encode(PEER_SUMMARY, { NameByte: peerNameToBytes(p.name), NickName: p.nickname, UID: p.uid, Version: p.version, ShortID: BigInt(p.shortId ?? 0), HasShortID: p.shortId !== undefined });
    enc.encode(
      T.slice(CONNECTION_SUMMARY),
      p.connections.map((c) => ({ NameByte: peerNameToBytes(c.name), RemoteTCPAddr: c.remoteTcpAddr, Outbound: c.outbound, Established: c.established })),
    );
  }
  return enc.bytes();
}

/** The general decoder's view of a stream, in summaries ('fail' where decodeTopology must fail). */
function generalDecode(bytes: Uint8Array): PeerSummary[] | 'fail' {
  const r = gobDecode(bytes);
  if (!r.ok || r.value.length % 2 !== 0) return 'fail';
  const out: PeerSummary[] = [];
  for (let i = 0; i < r.value.length; i += 2) {
    const s = r.value[i]!.value;
    const cs = r.value[i + 1]!.value;
    if (!Array.isArray(cs)) return 'fail';
    const name = peerNameFromBytes(asBytes(field(s, 'NameByte')));
    const shortId = asBigint(field(s, 'ShortID'));
    if (name === undefined || shortId >= 4096n) return 'fail';
    const connections: ConnectionSummary[] = [];
    for (const c of asArray(cs as GobValue)) {
      const cname = peerNameFromBytes(asBytes(field(c, 'NameByte')));
      if (cname === undefined) return 'fail';
      connections.push({ name: cname, remoteTcpAddr: asString(field(c, 'RemoteTCPAddr')), outbound: asBool(field(c, 'Outbound')), established: asBool(field(c, 'Established')) });
    }
    out.push({ name, nickname: asString(field(s, 'NickName')), uid: asBigint(field(s, 'UID')), version: asBigint(field(s, 'Version')), shortId: asBool(field(s, 'HasShortID')) ? Number(shortId) : undefined, connections });
  }
  return out;
}

const name = fc.bigInt({ min: 0n, max: (1n << 48n) - 1n });
const u64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
const connection = fc.record({ name, remoteTcpAddr: fc.oneof(fc.constant(''), fc.constant('198.18.0.1:6783'), fc.string({ unit: 'binary', maxLength: 30 })), outbound: fc.boolean(), established: fc.boolean() });
const peer = fc.record({
  name,
  nickname: fc.oneof(fc.constant(''), fc.string({ unit: 'binary', maxLength: 20 })),
  uid: u64,
  version: u64,
  shortId: fc.option(fc.integer({ min: 0, max: 4095 }), { nil: undefined }),
  connections: fc.array(connection, { maxLength: 12 }),
});

describe('topology codec', () => {
  it('writes the bytes the general gob encoder writes', () => {
    fc.assert(
      fc.property(fc.array(peer, { maxLength: 6 }), (peers) => {
        expect(encodeTopology(peers)).toEqual(generalEncode(peers));
        // Again, in another order: now from the bytes kept per summary, the first one included.
        const again = [...peers.slice(1), ...peers.slice(0, 1)];
        expect(encodeTopology(again)).toEqual(generalEncode(again));
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('reads back what it wrote, as the general decoder does', () => {
    fc.assert(
      fc.property(fc.array(peer, { maxLength: 6 }), (peers) => {
        const bytes = encodeTopology(peers);
        const d = decodeTopology(bytes);
        expect(d).toEqual({ ok: true, value: peers });
        expect(generalDecode(bytes)).toEqual(peers);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('agrees with the general decoder on corrupted streams: the same summaries, or both refuse', () => {
    const corrupt = fc.tuple(fc.array(peer, { minLength: 1, maxLength: 3 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.constantFrom('flip', 'cut', 'insert'));
    fc.assert(
      fc.property(corrupt, ([peers, at, byte, how]) => {
        const good = encodeTopology(peers);
        const i = at % good.length;
        const bad = how === 'flip' ? Buffer.from(good).fill(good[i]! ^ byte, i, i + 1) : how === 'cut' ? good.subarray(0, i) : Buffer.concat([good.subarray(0, i), Buffer.from([byte]), good.subarray(i)]);
        const want = generalDecode(bad);
        const got = decodeTopology(bad);
        if (want === 'fail') expect(got.ok).toBe(false);
        else expect(got).toEqual({ ok: true, value: want });
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('reads a stream whose types another process numbered (a Go peer that had sent other types first)', () => {
    const peers: PeerSummary[] = [{ name: 0x0e0000000001n, nickname: 'a', uid: 7n, version: 3n, shortId: 5, connections: [{ name: 0x0e0000000002n, remoteTcpAddr: '198.18.0.2:6783', outbound: true, established: true }] }];
    const ids = new GobTypeIds();
    new GobEncoder({ typeIds: ids }).encode(T.struct('other', { X: T.int }), { X: 1n }); // takes id 65
    const enc = new GobEncoder({ typeIds: ids });
    for (const p of peers) {
      enc.encode(PEER_SUMMARY, { NameByte: peerNameToBytes(p.name), NickName: p.nickname, UID: p.uid, Version: p.version, ShortID: 5n, HasShortID: true });
      enc.encode(T.slice(CONNECTION_SUMMARY), p.connections.map((c) => ({ NameByte: peerNameToBytes(c.name), RemoteTCPAddr: c.remoteTcpAddr, Outbound: c.outbound, Established: c.established })));
    }
    const bytes = enc.bytes();
    expect(bytes).not.toEqual(encodeTopology(peers)); // other ids on the wire
    expect(decodeTopology(bytes)).toEqual({ ok: true, value: peers });
  });

  it('leaves a stream of other types to the general decoder and its checks', () => {
    const enc = new GobEncoder();
    enc.encode(T.struct('peerSummary', { NameByte: T.bytes, NickName: T.int }), { NameByte: peerNameToBytes(1n), NickName: 3n });
    enc.encode(T.slice(T.string), ['x']);
    expect(decodeTopology(enc.bytes())).toEqual({ ok: false, reason: 'connection summary has an invalid name' });
  });

  it('skips the connection lists the caller names, and reads the rest as without skipping', () => {
    fc.assert(
      fc.property(fc.array(peer, { maxLength: 8 }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 3 }), (peers, skipIt, flips) => {
        const bytes = encodeTopology(peers);
        const i = { n: 0 };
        const skipped = decodeTopology(bytes, () => skipIt[i.n++]!);
        const full = decodeTopology(bytes);
        expect(full.ok && skipped.ok).toBe(true);
        if (!full.ok || !skipped.ok) return;
        expect(skipped.value).toEqual(full.value.map((p, k) => (skipIt[k] ? { ...p, connections: [] } : p)));
        // Corrupted: refused, or the summaries read without skipping, minus the skipped lists.
        const bad = Buffer.from(bytes);
        for (const f of flips) if (bad.length > 0) bad[f % bad.length]! ^= 0x5a;
        i.n = 0;
        const badSkipped = decodeTopology(bad, () => skipIt[i.n++ % 8]!);
        const badFull = decodeTopology(bad);
        if (badSkipped.ok && badFull.ok) {
          expect(badSkipped.value.map((p) => ({ ...p, connections: undefined }))).toEqual(badFull.value.map((p) => ({ ...p, connections: undefined })));
        }
      }),
      { numRuns: 400, seed: SEED },
    );
  });

  it('skipping what a table will drop anyway leaves the table and the result exactly as reading everything', () => {
    const few = fc.bigInt({ min: 1n, max: 6n });
    const small = fc.record({
      name: few,
      nickname: fc.constantFrom('', 'n'),
      uid: fc.bigInt({ min: 0n, max: 3n }),
      version: fc.bigInt({ min: 0n, max: 4n }),
      shortId: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
      connections: fc.array(fc.record({ name: few, remoteTcpAddr: fc.constantFrom('', '198.18.0.1:6783'), outbound: fc.boolean(), established: fc.boolean() }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(small, { maxLength: 6 }), fc.array(small, { maxLength: 6 }), (first, update) => {
        const tables = [0, 1].map(() => {
          const t = new Peers({ name: 3n, nickname: 's', uid: 2n, shortId: 7 }, () => 0.5);
          t.applyUpdate(first);
          return t;
        });
        const bytes = encodeTopology(update);
        const full = decodeTopology(bytes);
        const skipping = decodeTopology(bytes, (p) => tables[1]!.ignoresConnectionsOf(p));
        expect(full.ok && skipping.ok).toBe(true);
        if (!full.ok || !skipping.ok) return;
        const a = tables[0]!.applyUpdate(full.value);
        const b = tables[1]!.applyUpdate(skipping.value);
        expect(b).toEqual(a);
        expect([...tables[1]!.all()]).toEqual([...tables[0]!.all()]);
      }),
      { numRuns: 400, seed: SEED },
    );
  });
});
