// The feature map each side sends once after the header: a gob map[string]string carrying the
// peer's identity. weft adds its own keys (version, capabilities); Go peers ignore unknown keys.
import { FEATURE_WEFT_CAPS, FEATURE_WEFT_HEARTBEAT, FEATURE_WEFT_VERSION, HEARTBEAT_INTERVAL_MS, SHORT_ID_BITS } from '../lib/constants.js';
import { gobDecode, gobEncode, T, type GobType } from './gob/index.js';
import { formatPeerName, parsePeerName, PEER_NAME_FLAVOUR, type PeerName } from './peer-name.js';
import type { Result } from '../lib/result.js';
import { FEATURE_WEFT_REFUSED } from './limits.js';

export interface LocalIdentity {
  name: PeerName;
  nickname: string;
  uid: bigint;
  shortId: number | undefined;
}

export interface RemoteFeatures {
  name: PeerName;
  nickname: string;
  uid: bigint;
  connId: bigint;
  shortId: number | undefined;
  trusted: boolean;
  weftVersion: string | undefined;
  weftCaps: string[];
  /** The heartbeat interval a weft peer offers (ms); undefined for Go peers, older weft, or a bad value. */
  weftHeartbeatMs: number | undefined;
  /**
   * A weft acceptor that refuses us says why here instead of only closing: `<code> <message>`,
   * e.g. "conn-limit connection limit reached (2)". Undefined when it accepted (and from Go peers).
   */
  weftRefused: { code: string; message: string } | undefined;
}

const FEATURES_TYPE: GobType = { kind: 'map', key: T.string, elem: T.string };
const UINT64_MAX = (1n << 64n) - 1n;

export function encodeFeatures(
  self: LocalIdentity,
  connId: bigint,
  extra: {
    version: string;
    caps: string[];
    /** Omitted: we do not offer fast heartbeats. */ heartbeatMs?: number;
    /** Set: we refuse this connection (sent only to weft peers, who read it). */ refused?: { code: string; message: string };
  },
): Buffer {
  const m = new Map<string, string>([
    ['PeerNameFlavour', PEER_NAME_FLAVOUR],
    ['Name', formatPeerName(self.name)],
    ['NickName', self.nickname],
    ['UID', self.uid.toString()],
    ['ConnID', connId.toString()],
    ['Trusted', 'false'],
    [FEATURE_WEFT_VERSION, extra.version],
    [FEATURE_WEFT_CAPS, extra.caps.join(' ')],
  ]);
  if (self.shortId !== undefined) m.set('ShortID', String(self.shortId));
  if (extra.heartbeatMs !== undefined) m.set(FEATURE_WEFT_HEARTBEAT, String(extra.heartbeatMs));
  if (extra.refused) m.set(FEATURE_WEFT_REFUSED, `${extra.refused.code} ${extra.refused.message}`);
  return gobEncode([FEATURES_TYPE, m]);
}

function parseUint64(s: string | undefined): bigint | undefined {
  if (s === undefined || !/^\d{1,20}$/.test(s)) return undefined;
  const v = BigInt(s);
  return v <= UINT64_MAX ? v : undefined;
}

export type FeaturesResult = Result<RemoteFeatures>;

export function decodeFeatures(bytes: Uint8Array): FeaturesResult {
  const r = gobDecode(bytes, { maxValues: 1 });
  if (!r.ok) return { ok: false, reason: `malformed feature map: ${r.reason}` };
  const v = r.value[0]?.value;
  if (!(v instanceof Map)) return { ok: false, reason: 'feature map is not a map' };
  const get = (k: string): string | undefined => {
    const x = v.get(k);
    return typeof x === 'string' ? x : undefined;
  };
  for (const k of ['PeerNameFlavour', 'Name', 'NickName', 'UID', 'ConnID']) {
    if (get(k) === undefined) return { ok: false, reason: `field ${k} is missing` };
  }
  if (get('PeerNameFlavour') !== PEER_NAME_FLAVOUR) {
    return { ok: false, reason: `peer name flavour "${get('PeerNameFlavour')}" differs from ours ("${PEER_NAME_FLAVOUR}")` };
  }
  const name = parsePeerName(get('Name')!);
  if (name === undefined) return { ok: false, reason: `invalid peer name "${get('Name')}"` };
  const uid = parseUint64(get('UID'));
  if (uid === undefined) return { ok: false, reason: `invalid UID "${get('UID')}"` };
  const connId = parseUint64(get('ConnID'));
  if (connId === undefined) return { ok: false, reason: `invalid ConnID "${get('ConnID')}"` };
  let shortId: number | undefined;
  const sid = get('ShortID');
  if (sid !== undefined) {
    const n = parseUint64(sid);
    if (n === undefined || n >= 1n << BigInt(SHORT_ID_BITS)) return { ok: false, reason: `invalid ShortID "${sid}"` };
    shortId = Number(n);
  }
  return {
    ok: true,
    value: {
      name,
      nickname: get('NickName')!,
      uid,
      connId,
      shortId,
      trusted: get('Trusted') === 'true',
      weftVersion: get(FEATURE_WEFT_VERSION),
      weftCaps: (get(FEATURE_WEFT_CAPS) ?? '').split(' ').filter(Boolean),
      weftHeartbeatMs: parseHeartbeat(get(FEATURE_WEFT_HEARTBEAT)),
      weftRefused: parseRefused(get(FEATURE_WEFT_REFUSED)),
    },
  };
}

/**
 * A heartbeat offer is a hint, not a requirement: a value we cannot use (not a whole number of
 * ms in 1 ms … mesh's 30 s) is ignored, and the connection keeps mesh's timing.
 */
function parseHeartbeat(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,6}$/.test(s)) return undefined;
  const v = Number(s);
  return v >= 1 && v <= HEARTBEAT_INTERVAL_MS ? v : undefined;
}

/** "<code> <message>": a code of lower-case letters and dashes, a printable message (≤ 500 chars kept). */
function parseRefused(s: string | undefined): { code: string; message: string } | undefined {
  if (s === undefined) return undefined;
  const m = /^([a-z-]{1,40}) (.+)$/s.exec(s);
  if (!m) return { code: 'closed', message: 'refused the connection (no reason given)' };
  // Control characters would let a peer forge log lines.
  const message = [...m[2]!.slice(0, 500)].map((c) => (c < ' ' || c === '\u007f' ? '?' : c)).join('');
  return { code: m[1]!, message };
}
