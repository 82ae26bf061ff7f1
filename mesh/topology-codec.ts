// The "topology" channel payload: a gob stream of pairs, one per peer in the update —
// a peerSummary struct, then that peer's []connectionSummary.
import { asArray, asBigint, asBool, asBytes, asString, ByteWriter, fail, field, gobDecodeWith, GobEncoder, GobTypeIds, sameShape, T } from './gob/index.js';
import type { GobType, GobValue, ValueReader, ValueSource } from './gob/index.js';
import type { ConnectionSummary, PeerSummary } from './peer.js';
import { peerNameFromBytes, type PeerName } from './peer-name.js';
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

export function encodeTopology(peers: readonly PeerSummary[]): Buffer {
  // Room for the type definitions and ~40 bytes a summary and a connection, so a complete table
  // (35 KB at 100 peers) is written without growing and handed over without a copy.
  let connections = 0;
  for (const p of peers) connections += p.connections.length;
  const enc = new GobEncoder({ typeIds: TYPE_IDS, capacity: 512 + 48 * peers.length + 40 * connections });
  // The first pair defines the two types, in Go's order; the rest are the same bytes wherever
  // they stand in a stream, so each summary's are made once (summaries are immutable) and copied.
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i]!;
    if (i === 0) {
      enc.encodeRaw(PEER_SUMMARY, (b) => writePeerSummary(b, p));
      enc.encodeRaw(CONNECTIONS, (b) => writeConnections(b, p.connections));
    } else {
      enc.appendMessages(pairMessages(p));
    }
  }
  return enc.take();
}

/**
 * A summary's two value messages, as encodeRaw writes them once the types are defined. Made once
 * per summary: a router sends the same summaries again and again (relays, complete tables for
 * new neighbours and push-pull answers), and writing them was 17 % of the CPU of 250 routers in
 * memory.
 */
const pairCache = new WeakMap<PeerSummary, Buffer>();
const pairBody = new ByteWriter(256);
function pairMessages(p: PeerSummary): Buffer {
  let bytes = pairCache.get(p);
  if (bytes === undefined) {
    const out = new ByteWriter(64 + 40 * p.connections.length);
    pairBody.reset();
    pairBody.writeInt(TYPE_IDS.entryFor(PEER_SUMMARY).id);
    writePeerSummary(pairBody, p);
    out.writeMessage(pairBody);
    pairBody.reset();
    pairBody.writeInt(TYPE_IDS.entryFor(CONNECTIONS).id);
    writeConnections(pairBody, p.connections);
    out.writeMessage(pairBody);
    bytes = out.detach();
    pairCache.set(p, bytes);
  }
  return bytes;
}

// The two hot layouts written and read directly, field for field as the general gob code would
// (fields numbered in declaration order, a zero field left out, a struct ended by 0, a top-level
// slice after a 0 singleton delta). topology-codec.test.ts holds both to the general code.

/** A name as NameByte: 6 bytes, big-endian. */
function writeName(b: ByteWriter, name: PeerName): void {
  // Names are 48 bits: masking every one (a BigInt each) for the impossible case was 40 % of
  // what encoding a table allocated.
  const n = Number(name);
  NAME_SCRATCH.writeUIntBE(n <= 0xffff_ffff_ffff ? n : Number(name & 0xffff_ffff_ffffn), 0, 6);
  b.writeBytes(NAME_SCRATCH);
}
const NAME_SCRATCH = Buffer.alloc(6);

function writePeerSummary(b: ByteWriter, p: PeerSummary): void {
  let last = -1;
  const field = (i: number): void => {
    b.writeUint(i - last);
    last = i;
  };
  field(0);
  writeName(b, p.name);
  if (p.nickname !== '') {
    field(1);
    b.writeString(p.nickname);
  }
  if (p.uid !== 0n) {
    field(2);
    b.writeUint(p.uid);
  }
  if (p.version !== 0n) {
    field(3);
    b.writeUint(p.version);
  }
  if (p.shortId !== undefined && p.shortId !== 0) {
    field(4);
    b.writeUint(p.shortId);
  }
  if (p.shortId !== undefined) {
    field(5);
    b.writeUint(1);
  }
  b.writeByte(0);
}

function writeConnections(b: ByteWriter, conns: readonly ConnectionSummary[]): void {
  b.writeByte(0);
  b.writeUint(conns.length);
  for (const c of conns) {
    b.writeUint(1);
    writeName(b, c.name);
    let last = 0;
    if (c.remoteTcpAddr !== '') {
      b.writeUint(1 - last);
      last = 1;
      b.writeString(c.remoteTcpAddr);
    }
    if (c.outbound) {
      b.writeUint(2 - last);
      last = 2;
      b.writeUint(1);
    }
    if (c.established) {
      b.writeUint(3 - last);
      b.writeUint(1);
    }
    b.writeByte(0);
  }
}

/** A peerSummary as read, before its checks. */
interface RawPeer {
  /** NameByte as a number, or -1 if it is not 6 bytes long (see nameOf). */
  name: number;
  nickname: string;
  uid: bigint;
  version: bigint;
  shortId: bigint;
  hasShortId: boolean;
}

/** A connectionSummary as read, before its checks. */
interface RawConnection {
  name: number;
  remoteTcpAddr: string;
  outbound: boolean;
  established: boolean;
}

/** NameByte as a number: a name is 6 bytes; another length gives -1 (no name). */
function readName(r: ValueSource['r']): number {
  return r.readBytesAsNumber(6, '[]byte');
}

function nameOf(n: number): PeerName | undefined {
  return n >= 0 ? BigInt(n) : undefined;
}

function nameFromBytes(bytes: Uint8Array): number {
  const name = peerNameFromBytes(bytes);
  return name === undefined ? -1 : Number(name);
}

/**
 * The next field number of a struct value after `num`, or -1 at its end (checked against the
 * message and the field count as the general decoder does).
 */
function nextField(src: ValueSource, what: string, count: number, num: number): number {
  const r = src.r;
  if (r.left === 0) fail(`struct ${what} is not terminated before the end of its message`);
  const delta = r.readCount('field delta');
  if (delta === 0) return -1;
  const next = num + delta;
  if (next >= count) fail(`field number ${next} out of range for struct ${what} (${count} fields)`);
  return next;
}

function readPeerSummary(src: ValueSource): RawPeer {
  const r = src.r;
  const p: RawPeer = { name: -1, nickname: '', uid: 0n, version: 0n, shortId: 0n, hasShortId: false };
  for (let num = nextField(src, 'peerSummary', 6, -1); num >= 0; num = nextField(src, 'peerSummary', 6, num)) {
    if (num === 0) p.name = readName(r);
    else if (num === 1) p.nickname = r.readString(r.readCount('string length'), 'string');
    else if (num === 2) p.uid = r.readUint();
    else if (num === 3) p.version = r.readUint();
    else if (num === 4) p.shortId = r.readUint();
    else p.hasShortId = r.readBool();
  }
  return p;
}

function readConnections(src: ValueSource): RawConnection[] {
  const r = src.r;
  const delta = r.readUint('singleton delta');
  if (delta !== 0n) fail(`non-zero delta ${delta} before a slice value`);
  const n = r.readCount('slice length');
  if (n > r.left) fail(`slice of ${n} elements cannot fit in the ${r.left} bytes left in the message`);
  src.spend(n);
  const out = new Array<RawConnection>(n);
  for (let i = 0; i < n; i++) {
    const c: RawConnection = { name: -1, remoteTcpAddr: '', outbound: false, established: false };
    for (let num = nextField(src, 'connectionSummary', 4, -1); num >= 0; num = nextField(src, 'connectionSummary', 4, num)) {
      if (num === 0) c.name = readName(r);
      else if (num === 1) c.remoteTcpAddr = r.readString(r.readCount('string length'), 'string');
      else if (num === 2) c.outbound = r.readBool();
      else c.established = r.readBool();
    }
    out[i] = c;
  }
  return out;
}

/**
 * Which of mesh's two layouts a type has. Streams that define their types alike share the
 * resolved types (gob/decoder.ts), so the shapes are compared once per type, not per message.
 */
const shapes = new WeakMap<GobType, 'summary' | 'connections' | 'other'>();
function shapeOf(t: GobType): 'summary' | 'connections' | 'other' {
  let s = shapes.get(t);
  if (s === undefined) {
    s = sameShape(t, PEER_SUMMARY) ? 'summary' : sameShape(t, CONNECTIONS) ? 'connections' : 'other';
    shapes.set(t, s);
  }
  return s;
}

function readerFor(t: GobType): ValueReader | undefined {
  const shape = shapeOf(t);
  return shape === 'summary' ? readPeerSummary : shape === 'connections' ? readConnections : undefined;
}

/** A value the general decoder made, in the shape the readers give. */
function rawPeer(s: GobValue | undefined): RawPeer {
  return {
    name: nameFromBytes(asBytes(field(s, 'NameByte'))),
    nickname: asString(field(s, 'NickName')),
    uid: asBigint(field(s, 'UID')),
    version: asBigint(field(s, 'Version')),
    shortId: asBigint(field(s, 'ShortID')),
    hasShortId: asBool(field(s, 'HasShortID')),
  };
}

function rawConnection(c: GobValue): RawConnection {
  return {
    name: nameFromBytes(asBytes(field(c, 'NameByte'))),
    remoteTcpAddr: asString(field(c, 'RemoteTCPAddr')),
    outbound: asBool(field(c, 'Outbound')),
    established: asBool(field(c, 'Established')),
  };
}

export type TopologyDecode = Result<PeerSummary[]>;

/**
 * Whether the caller will drop this summary whatever its connections (it already has the peer at
 * least as new): its connection list is then skipped unread, and the summary comes out with none.
 */
export type SkipConnections = (p: Pick<PeerSummary, 'name' | 'uid' | 'version' | 'shortId'>) => boolean;

const SKIPPED: readonly RawConnection[] = Object.freeze([]);

/** The readers, with the connection list after a summary `skip` names skipped (its message is jumped over). */
function skippingReaders(skip: SkipConnections): (t: GobType) => ValueReader | undefined {
  let last: RawPeer | undefined;
  return (t) => {
    const shape = shapeOf(t);
    if (shape === 'summary') return (src) => (last = readPeerSummary(src));
    if (shape === 'connections') {
      return (src) => {
        const p = last;
        last = undefined;
        const name = p === undefined ? undefined : nameOf(p.name);
        if (p === undefined || name === undefined || !skip({ name, uid: p.uid, version: p.version, shortId: p.hasShortId ? Number(p.shortId) : undefined })) return readConnections(src);
        src.r.skipRest();
        return SKIPPED;
      };
    }
    return undefined;
  };
}

/**
 * A topology update from any mesh peer. Streams whose types have mesh's layout (all of them, in
 * practice, whatever ids the sender gave them) are read by the readers above; anything else by the
 * general decoder, with the same checks after.
 */
export function decodeTopology(bytes: Uint8Array, skip?: SkipConnections): TopologyDecode {
  const r = gobDecodeWith(bytes, skip === undefined ? readerFor : skippingReaders(skip));
  if (!r.ok) return { ok: false, reason: `malformed topology update: ${r.reason}` };
  if (r.value.length % 2 !== 0) return { ok: false, reason: 'topology update ends in the middle of a peer' };
  const peers: PeerSummary[] = [];
  for (let i = 0; i < r.value.length; i += 2) {
    const s = r.value[i]!;
    const cs = r.value[i + 1]!;
    // What the general path would make of a value in the wrong place: no name, or no list.
    if (!Array.isArray(cs.value)) return { ok: false, reason: 'peer summary is not followed by a connection list' };
    const conns = cs.read === true ? (cs.value as RawConnection[]) : asArray(cs.value as GobValue).map(rawConnection);
    const p = s.read === true && !Array.isArray(s.value) ? (s.value as RawPeer) : rawPeer(s.read === true ? undefined : (s.value as GobValue));
    const name = nameOf(p.name);
    if (name === undefined) return { ok: false, reason: 'peer summary has an invalid name' };
    if (p.shortId >= 1n << BigInt(SHORT_ID_BITS)) return { ok: false, reason: `short ID ${p.shortId} out of range` };
    const connections: ConnectionSummary[] = [];
    for (const c of conns) {
      const cname = nameOf(c.name);
      if (cname === undefined) return { ok: false, reason: 'connection summary has an invalid name' };
      connections.push({ name: cname, remoteTcpAddr: c.remoteTcpAddr, outbound: c.outbound, established: c.established });
    }
    peers.push({ name, nickname: p.nickname, uid: p.uid, version: p.version, shortId: p.hasShortId ? Number(p.shortId) : undefined, connections });
  }
  return { ok: true, value: peers };
}
