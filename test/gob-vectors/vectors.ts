// The TypeScript side of vectors.go: the same values with their GobTypes, written as they
// travel (zero-valued struct fields left out, since Go does not send them). Also the
// canonical JSON form both sides print, to compare Go's view of a value with ours.
import type { GobStructType, GobType, GobValue } from '../../mesh/gob/index.js';
import { T } from '../../mesh/gob/index.js';
import { CONNECTION_SUMMARY, PEER_SUMMARY } from '../../mesh/topology-codec.js';

export interface Vector {
  name: string;
  items: Array<[GobType, GobValue]>;
}

export const PeerSummary = PEER_SUMMARY;
export const ConnectionSummary = CONNECTION_SUMMARY;
const Leaf = T.struct('Leaf', { Label: T.string, N: T.int });
const Key = T.struct('Key', { X: T.int, Y: T.int });
const Names = T.slice(T.string, 'Names');
const Wrapper = T.struct('Wrapper', { Inner: T.interface, Items: T.slice(T.interface) });
const Outer = T.struct('Outer', { Name: T.string, Any: T.interface });

const kids = { kind: 'slice', name: '[]main.Node', elem: T.int as GobType } as { kind: 'slice'; name: string; elem: GobType };
const Node: GobStructType = T.struct('Node', { Val: T.int, Kids: kids });
kids.elem = Node;

const Sink = T.struct('Sink', {
  Counts: T.map(T.string, T.slice(T.int), 'map[string][]int64'),
  ByKey: T.map(Key, T.string, 'map[main.Key]string'),
  Octets: T.array(T.uint, 4, '[4]uint8'),
  Grid: T.array(T.array(T.float, 2), 2, '[2][2]float32'),
  Any: T.interface,
  AnyInt: T.interface,
  AnyNil: T.interface,
  F: T.float,
  C: T.complex,
  Min: T.int,
  Max: T.uint,
  Ptr: Leaf,
  NilPtr: Leaf,
  Leaves: T.slice(Leaf, '[]main.Leaf'),
  Empty: T.slice(T.string),
  EmptyMap: T.map(T.string, T.int),
  NilMap: T.map(T.string, T.int),
  Blob: T.bytes,
  When: T.opaque('Time', 'gob'),
  Tags: Names,
  Flag: T.bool,
  Zero: T.int,
});

const MapKey = T.struct('MapKey', { A: T.uint, B: T.uint });
const MapVal = T.struct('MapVal', { S: T.string });

const MIN_INT64 = -(1n << 63n);
const MAX_UINT64 = (1n << 64n) - 1n;
const peer = (last: number): Buffer => Buffer.from([0, 0, 0, 0, 0, last]);
// time.Date(2021, 3, 4, 5, 6, 7, 8, time.UTC).GobEncode()
const WHEN = Buffer.from('010000000ed7d261bf00000008ffff', 'hex');

export const VECTORS: Vector[] = [
  {
    name: 'features',
    items: [
      [
        T.map(T.string, T.string),
        new Map<GobValue, GobValue>([
          ['Name', '00:00:00:00:00:0a'],
          ['NickName', 'gopeer'],
          ['PeerNameFlavour', 'mac'],
          ['UID', '5'],
          ['ConnID', '12345678901234567890'],
          ['ShortID', '7'],
        ]),
      ],
    ],
  },
  { name: 'gossip', items: [[T.string, 'topology'], [T.uint, 0x0an], [T.bytes, Buffer.from([0xaa, 0xbb])]] },
  {
    name: 'gossip-unicast',
    items: [[T.string, 'IPallocation'], [T.uint, 0xfedcba987654n], [T.uint, 1n], [T.bytes, Buffer.from('payload')]],
  },
  {
    name: 'topology',
    items: [
      [PeerSummary, { NameByte: peer(0x0a), NickName: 'gopeer', UID: 300n, Version: 2n, ShortID: 7n, HasShortID: true }],
      [
        T.slice(ConnectionSummary),
        [
          { NameByte: peer(0x0b), RemoteTCPAddr: '127.0.0.1:6783', Outbound: true, Established: true },
          { NameByte: peer(0x0c), RemoteTCPAddr: '10.0.0.3:41234' },
        ],
      ],
      [PeerSummary, { NameByte: peer(0x0b), NickName: 'placeholder' }],
      [T.slice(ConnectionSummary), []],
    ],
  },
  {
    name: 'scalars',
    items: [
      [T.int, MIN_INT64],
      [T.uint, MAX_UINT64],
      [T.float, -2.5],
      [T.complex, { re: 1.5, im: -2 }],
      [T.bool, false],
      [T.string, ''],
      [T.int, 0n],
      [T.bytes, Buffer.alloc(0)],
      [T.int, -1n],
      [T.float, Math.fround(0.1)],
      [T.float, -Infinity],
    ],
  },
  {
    name: 'kitchen',
    items: [
      [
        Sink,
        {
          Counts: new Map<GobValue, GobValue>([['a', [1n, -1n, 1n << 40n]]]),
          ByKey: new Map<GobValue, GobValue>([[{ X: -3n, Y: 4n }, 'k']]),
          Octets: [10n, 0n, 255n, 128n],
          Grid: [
            [1, 2],
            [0, -0.5],
          ],
          Any: { name: 'main.Leaf', type: Leaf, value: { Label: 'in iface', N: -7n } },
          AnyInt: { name: 'int', type: T.int, value: 42n },
          F: Math.PI,
          C: { re: 0, im: 1 },
          Min: MIN_INT64,
          Max: MAX_UINT64,
          Ptr: { Label: 'ptr' },
          Leaves: [{ Label: 'x', N: 1n }, {}],
          EmptyMap: new Map(),
          Blob: Buffer.from('blob'),
          When: WHEN,
          Tags: ['t1', ''],
          Flag: true,
        },
      ],
    ],
  },
  {
    name: 'nested-interface',
    items: [
      [
        Outer,
        {
          Name: 'outer',
          Any: {
            name: 'main.Wrapper',
            type: Wrapper,
            value: {
              Inner: { name: 'main.Key', type: Key, value: { X: 1n, Y: -1n } },
              Items: [
                { name: 'int', type: T.int, value: 7n },
                { name: 'string', type: T.string, value: 's' },
                null,
                { name: 'main.Leaf', type: Leaf, value: { Label: 'l' } },
                { name: 'main.Wrapper', type: Wrapper, value: { Inner: { name: 'uint16', type: T.uint, value: 3n } } },
              ],
            },
          },
        },
      ],
    ],
  },
  {
    name: 'recursive',
    items: [[Node, { Val: 1n, Kids: [{ Val: 2n }, { Val: 3n, Kids: [{ Val: -4n }] }] }]],
  },
  {
    name: 'interface-slice',
    items: [
      [
        T.slice(T.interface),
        [
          { name: 'int', type: T.int, value: 5n },
          { name: 'string', type: T.string, value: 'str' },
          null,
          { name: 'main.Leaf', type: Leaf, value: { N: 1n } },
          { name: '[]uint8', type: T.bytes, value: Buffer.from([1]) },
          { name: 'float64', type: T.float, value: 2 },
        ],
      ],
    ],
  },
  {
    name: 'map-struct-key',
    items: [[T.map(MapKey, MapVal), new Map<GobValue, GobValue>([[{ A: 1n, B: 2n }, { S: 'v' }]])]],
  },
  {
    name: 'named-slice',
    items: [
      [Names, ['a', 'b']],
      [T.array(T.int, 3), [1n, 2n, 3n]],
      [T.map(T.string, Names), new Map<GobValue, GobValue>([['k', ['v']]])],
    ],
  },
];
