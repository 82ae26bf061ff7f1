// The handshake's feature map (mesh/features.ts): the first framed message from any peer that
// connects, before it has proved anything.
import { decodeFeatures, encodeFeatures, type RemoteFeatures } from '../../../mesh/features.js';
import { gobEncode, T } from '../../../mesh/gob/index.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

function encode(f: RemoteFeatures): Buffer {
  return encodeFeatures(
    { name: f.name, nickname: f.nickname, uid: f.uid, shortId: f.shortId },
    f.connId,
    { version: f.weftVersion ?? '', caps: f.weftCaps, ...(f.weftHeartbeatMs !== undefined ? { heartbeatMs: f.weftHeartbeatMs } : {}) },
  );
}

export const features: FuzzTarget = {
  name: 'features',
  sources: ['mesh/features.ts', 'mesh/peer-name.ts'],
  seeds: () => [
    encodeFeatures({ name: 0x02_00_00_00_00_01n, nickname: 'h1', uid: 123456789n, shortId: 7 }, 42n, { version: '0.1.0', caps: ['esp', 'fast-hb'], heartbeatMs: 500 }),
    encodeFeatures({ name: 0xaa_bb_cc_dd_ee_ffn, nickname: '', uid: (1n << 64n) - 1n, shortId: undefined }, 0n, { version: '', caps: [] }),
    // A Go peer's map: no weft keys, Trusted true.
    gobEncode([
      { kind: 'map', key: T.string, elem: T.string },
      new Map([['PeerNameFlavour', 'mac'], ['Name', '::1'], ['NickName', 'go'], ['UID', '1'], ['ConnID', '2'], ['Trusted', 'true'], ['ShortID', '4095']]),
    ]),
  ],
  run: (data) => roundTrip(data, 'decodeFeatures', decodeFeatures, encode),
};
