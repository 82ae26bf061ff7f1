// Gossip message bodies (after the tag byte): a self-contained gob stream of
//   tag 4 Gossip:          string channel, PeerName src, []byte payload
//   tag 5 GossipUnicast:   string channel, PeerName src, PeerName dst, []byte payload
//   tag 6 GossipBroadcast: string channel, PeerName src, []byte payload
import { gobDecode, gobEncode, T } from './gob/index.js';
import type { PeerName } from './peer-name.js';
import type { Result } from '../lib/result.js';

export interface GossipMsg {
  channel: string;
  src: PeerName;
  dst?: PeerName;
  payload: Buffer;
}

export function encodeGossip(m: GossipMsg): Buffer {
  return m.dst === undefined
    ? gobEncode([T.string, m.channel], [T.uint, m.src], [T.bytes, m.payload])
    : gobEncode([T.string, m.channel], [T.uint, m.src], [T.uint, m.dst], [T.bytes, m.payload]);
}

export type GossipDecode = Result<GossipMsg>;

export function decodeGossip(body: Uint8Array, unicast: boolean): GossipDecode {
  const r = gobDecode(body, { maxValues: unicast ? 4 : 3 });
  if (!r.ok) return { ok: false, reason: `malformed gossip message: ${r.reason}` };
  const v = r.value.map((x: { value: unknown }) => x.value);
  const want = unicast ? 4 : 3;
  if (v.length !== want) return { ok: false, reason: `gossip message has ${v.length} values, expected ${want}` };
  const [channel, src] = v;
  const dst = unicast ? v[2] : undefined;
  const payload = v[want - 1];
  if (typeof channel !== 'string') return { ok: false, reason: 'gossip channel name is not a string' };
  // A PeerName is a uint64: a gob int (possibly negative) is no name, and could not be relayed.
  const uint = (i: number): boolean => r.value[i]!.type.kind === 'uint';
  if (typeof src !== 'bigint' || !uint(1) || (unicast && (typeof dst !== 'bigint' || !uint(2)))) return { ok: false, reason: 'gossip peer name is not an unsigned integer' };
  if (!(payload instanceof Uint8Array)) return { ok: false, reason: 'gossip payload is not bytes' };
  return { ok: true, value: { channel, src, dst: dst as bigint | undefined, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.length) } };
}
