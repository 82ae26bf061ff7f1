// The gob decoder (mesh/gob/) on its own: every mesh message body is a gob stream.
import { gobDecode, gobEncode, T, type GobType, type GobValue } from '../../../mesh/gob/index.js';
import { encodeTopology } from '../../../mesh/topology-codec.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

const POINT = T.struct('point', { X: T.int, Y: T.int, Name: T.string, Tags: T.slice(T.string), Raw: T.bytes, On: T.bool, F: T.float });

const decode = (b: Buffer) => gobDecode(b, { maxElements: 1 << 16 });
const encode = (items: { type: GobType; value: GobValue }[]): Buffer => gobEncode(...items.map((d): [GobType, GobValue] => [d.type, d.value]));

export const gob: FuzzTarget = {
  name: 'gob',
  sources: ['mesh/gob/decoder.ts', 'mesh/gob/decode-value.ts', 'mesh/gob/reader.ts', 'mesh/gob/wire-type.ts', 'mesh/gob/encoder.ts', 'mesh/gob/encode-value.ts'],
  seeds: () => [
    gobEncode([T.string, 'weave'], [T.uint, 0x0200000000ffn], [T.bytes, Buffer.from('payload')]),
    gobEncode([T.int, -5n], [T.bool, true], [T.float, 1.5]),
    gobEncode([{ kind: 'map', key: T.string, elem: T.int }, new Map([['a', 1n], ['b', -2n]])]),
    gobEncode([POINT, { X: 1n, Y: -1n, Name: 'p', Tags: ['x', 'y'], Raw: Buffer.from([0, 1, 2]), On: true, F: 0.25 }], [T.slice(POINT), []]),
    encodeTopology([{ name: 1n, nickname: 'a', uid: 9n, version: 3n, shortId: 5, connections: [{ name: 2n, remoteTcpAddr: '10.0.0.2:6783', outbound: true, established: false }] }]),
  ],
  run: (data) => roundTrip(data, 'gobDecode', decode, encode),
};
