// Go encoding/gob, byte-compatible with Go 1.19, for the weaveworks/mesh wire protocol.
export type { GobComplex, GobInterface, GobKind, GobStruct, GobStructType, GobType, GobValue } from './types.js';
export { T, sameShape } from './types.js';
export { GobEncoder, gobEncode } from './encoder.js';
export type { GobEncoderOptions } from './encoder.js';
export { GobTypeIds } from './type-ids.js';
export { DEFAULT_DECODE_LIMITS, gobDecode, gobDecodeWith } from './decoder.js';
export type { DecodeLimits, GobDecoded, GobDecodedWith, GobResult, ValueReader } from './decoder.js';
export type { ValueSource } from './decode-value.js';
export { Reader, fail } from './reader.js';
export { ByteWriter } from './wire.js';
export { asArray, asBigint, asBool, asBytes, asMap, asNumber, asString, field, isStruct } from './access.js';
