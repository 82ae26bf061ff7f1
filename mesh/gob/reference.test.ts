// The reference bytes of weave-protocol.md §11.4 (from a Go 1.19 mesh peer) and the worked
// example of Go's encoding/gob doc.go, reproduced and read back.
import { describe, expect, it } from 'vitest';
import { GobEncoder, GobTypeIds, T, asBigint, asBool, asBytes, asString, field, gobDecode, gobEncode } from './index.js';
import { CONNECTION_SUMMARY, PEER_SUMMARY } from '../topology-codec.js';

/** Hex with spaces, and "quoted" ASCII, as the reference writes bytes. */
function bytes(spec: string): string {
  return spec
    .split(/("[^"]*")/)
    .map((part) => (part.startsWith('"') ? Buffer.from(part.slice(1, -1)).toString('hex') : part.replace(/\s+/g, '')))
    .join('');
}

const features = T.map(T.string, T.string);
// The definitions the topology channel really uses: the §11.4 bytes must come out of them.
const peerSummary = PEER_SUMMARY;
const connectionSummary = CONNECTION_SUMMARY;

const FEATURES = bytes(`0e ff81 04 01 02 ff82 00 01 0c 01 0c 00 00
  21 ff82 00 02 04 "Name" 11 "00:00:00:00:00:0a" 03 "UID" 01 "5"`);

const fieldDef = (name: string, id: string): string => `01 ${name.length.toString(16).padStart(2, '0')} "${name}" 01 ${id} 00`;
const PEER_SUMMARY_DEF = bytes(
  `62 ff83 03 01 01 0b "peerSummary" 01 ff84 00 01 06 ${fieldDef('NameByte', '0a')} ${fieldDef('NickName', '0c')}
   ${fieldDef('UID', '06')} ${fieldDef('Version', '06')} ${fieldDef('ShortID', '06')} ${fieldDef('HasShortID', '02')} 00 00`,
);
const PEER_SUMMARY_VALUE = bytes(`1d ff84 01 06 00000000000a 01 06 "gopeer" 01 fe012c 01 02 01 07 01 01 00`);
const SLICE_DEF = bytes(`0d ff87 02 01 02 ff88 00 01 ff86 00 00`); // SliceT{Common{Id 68}, Elem 67}
const EMPTY_SLICE = bytes(`04 ff88 00 00`);

describe('weave-protocol.md §11.4', () => {
  it('features map: 49 bytes, byte for byte', () => {
    const got = gobEncode([features, new Map([['Name', '00:00:00:00:00:0a'], ['UID', '5']])]);
    expect(got).toHaveLength(49);
    expect(got.toString('hex')).toBe(FEATURES);
  });

  it('gossip header: channel, source peer name, payload', () => {
    const got = gobEncode([T.string, 'topology'], [T.uint, 0x0an], [T.bytes, Buffer.from([0xaa, 0xbb])]);
    expect(got.toString('hex')).toBe(bytes(`0b 0c 00 08 "topology" 03 06 00 0a 05 0a 00 02 aa bb`));
  });

  it('topology pair from a process whose features map took id 65', () => {
    const ids = new GobTypeIds();
    new GobEncoder({ typeIds: ids }).encode(features, new Map());
    const got = new GobEncoder({ typeIds: ids })
      .encode(peerSummary, { NameByte: Buffer.from('00000000000a', 'hex'), NickName: 'gopeer', UID: 300n, Version: 2n, ShortID: 7n, HasShortID: true })
      .encode(T.slice(connectionSummary), [])
      .bytes()
      .toString('hex');
    expect(got.startsWith(PEER_SUMMARY_DEF + PEER_SUMMARY_VALUE + SLICE_DEF)).toBe(true);
    expect(got.endsWith(EMPTY_SLICE)).toBe(true);
    const structDef = got.slice((PEER_SUMMARY_DEF + PEER_SUMMARY_VALUE + SLICE_DEF).length, -EMPTY_SLICE.length);
    expect(structDef).toContain(bytes(`ff85 03 01 01 11 "connectionSummary" 01 ff86`));
  });

  it('reads the reference features map back', () => {
    const r = gobDecode(Buffer.from(FEATURES, 'hex'));
    expect(r).toEqual({
      ok: true,
      value: [{ type: features, value: new Map([['Name', '00:00:00:00:00:0a'], ['UID', '5']]) }],
    });
  });

  it('reads the reference peer summary by field name, with zero defaults', () => {
    const stream = Buffer.from(PEER_SUMMARY_DEF + PEER_SUMMARY_VALUE + SLICE_DEF, 'hex');
    // The slice's element type (67) is not defined in this excerpt, so stop after the summary.
    const r = gobDecode(stream.subarray(0, (PEER_SUMMARY_DEF + PEER_SUMMARY_VALUE).length / 2));
    if (!r.ok) throw new Error(r.reason);
    const ps = r.value[0]!.value;
    expect(asBytes(field(ps, 'NameByte'))).toEqual(Buffer.from('00000000000a', 'hex'));
    expect(asString(field(ps, 'NickName'))).toBe('gopeer');
    expect(asBigint(field(ps, 'UID'))).toBe(300n);
    expect(asBigint(field(ps, 'ShortID'))).toBe(7n);
    expect(asBool(field(ps, 'HasShortID'))).toBe(true);
    const placeholder = gobEncode([peerSummary, { NameByte: Buffer.from('00000000000b', 'hex') }]);
    const p = gobDecode(placeholder);
    if (!p.ok) throw new Error(p.reason);
    expect(asBigint(field(p.value[0]!.value, 'UID'))).toBe(0n);
    expect(asString(field(p.value[0]!.value, 'NickName'), '?')).toBe('?');
  });

  it('says which id is missing when a referenced type is never defined', () => {
    const r = gobDecode(Buffer.from(PEER_SUMMARY_DEF + PEER_SUMMARY_VALUE + SLICE_DEF + EMPTY_SLICE, 'hex'));
    expect(r).toEqual({ ok: false, reason: 'undefined type id 67' });
  });
});

describe('Go doc.go worked example', () => {
  const point = T.struct('Point', { X: T.int, Y: T.int });
  const POINT = bytes(`1f ff 81 03 01 01 05 50 6f 69 6e 74 01 ff 82 00
    01 02 01 01 58 01 04 00 01 01 59 01 04 00 00 00
    07 ff 82 01 2c 01 42 00`);

  it('Point{22, 33}, then again without the definition', () => {
    const enc = new GobEncoder().encode(point, { X: 22n, Y: 33n });
    expect(enc.bytes().toString('hex')).toBe(POINT);
    enc.encode(point, { X: 22, Y: 33 });
    expect(enc.bytes().toString('hex')).toBe(POINT + '07ff82012c014200');
  });

  it('a top-level int 3 is 03 04 00 06', () => {
    expect(gobEncode([T.int, 3n]).toString('hex')).toBe('03040006');
  });
});
