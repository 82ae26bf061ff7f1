// The "topology" channel payload: a gob stream of pairs, one per peer in the update —
// a peerSummary struct, then that peer's []connectionSummary.
import { asArray, asBigint, asBool, asBytes, asString, field, gobDecode, GobEncoder, GobTypeIds, T, type GobType } from './gob/index.js';
import type { ConnectionSummary, PeerSummary } from './peer.js';
import { peerNameFromBytes, peerNameToBytes } from './peer-name.js';
import { SHORT_ID_BITS } from '../lib/constants.js';
import type { Result } from '../lib/result.js';

/** mesh's peerSummary and connectionSummary, field for field (exported for the gob vector tests). */
export const PEER_SUMMARY = T.struct('peerSummary', {
  NameByte: T.bytes,
  NickName: T.string,
  UID: T.uint,
  Version: T.uint,
  ShortID: T.uint,
  HasShortID: T.bool,
});

export const CONNECTION_SUMMARY = T.struct('connectionSummary', {
  NameByte: T.bytes,
  RemoteTCPAddr: T.string,
  Outbound: T.bool,
  Established: T.bool,
});

// Go names the top-level []connectionSummary with an empty name; T.slice matches its bytes.
const CONNECTIONS: GobType = T.slice(CONNECTION_SUMMARY);

/**
 * One type table for every topology message, as one Go process has: each stream still defines
 * its types (mesh's messages are self-contained) with the same ids from 65, but the definitions
 * are encoded once, not once per message.
 */
const TYPE_IDS = new GobTypeIds();

export function encodeTopology(peers: Iterable<PeerSummary>): Buffer {
  const enc = new GobEncoder({ typeIds: TYPE_IDS });
  for (const p of peers) {
    enc.encode(PEER_SUMMARY, {
      NameByte: peerNameToBytes(p.name),
      NickName: p.nickname,
      UID: p.uid,
      Version: p.version,
      ShortID: BigInt(p.shortId ?? 0),
      HasShortID: p.shortId !== undefined,
    });
    enc.encode(
      CONNECTIONS,
      p.connections.map((c) => ({ NameByte: peerNameToBytes(c.name), RemoteTCPAddr: c.remoteTcpAddr, Outbound: c.outbound, Established: c.established })),
    );
  }
  return enc.bytes();
}

export type TopologyDecode = Result<PeerSummary[]>;

export function decodeTopology(bytes: Uint8Array): TopologyDecode {
  const r = gobDecode(bytes);
  if (!r.ok) return { ok: false, reason: `malformed topology update: ${r.reason}` };
  if (r.value.length % 2 !== 0) return { ok: false, reason: 'topology update ends in the middle of a peer' };
  const peers: PeerSummary[] = [];
  for (let i = 0; i < r.value.length; i += 2) {
    const s = r.value[i]!.value;
    const connsValue = r.value[i + 1]!.value;
    if (!Array.isArray(connsValue)) return { ok: false, reason: 'peer summary is not followed by a connection list' };
    const conns = asArray(connsValue);
    const name = peerNameFromBytes(asBytes(field(s, 'NameByte')));
    if (name === undefined) return { ok: false, reason: 'peer summary has an invalid name' };
    const shortId = asBigint(field(s, 'ShortID'));
    if (shortId >= 1n << BigInt(SHORT_ID_BITS)) return { ok: false, reason: `short ID ${shortId} out of range` };
    const connections: ConnectionSummary[] = [];
    for (const c of conns) {
      const cname = peerNameFromBytes(asBytes(field(c, 'NameByte')));
      if (cname === undefined) return { ok: false, reason: 'connection summary has an invalid name' };
      connections.push({
        name: cname,
        remoteTcpAddr: asString(field(c, 'RemoteTCPAddr')),
        outbound: asBool(field(c, 'Outbound')),
        established: asBool(field(c, 'Established')),
      });
    }
    peers.push({
      name,
      nickname: asString(field(s, 'NickName')),
      uid: asBigint(field(s, 'UID')),
      version: asBigint(field(s, 'Version')),
      shortId: asBool(field(s, 'HasShortID')) ? Number(shortId) : undefined,
      connections,
    });
  }
  return { ok: true, value: peers };
}
