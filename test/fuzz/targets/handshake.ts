// The connection intro (mesh/handshake.ts) from the acceptor's or dialler's side, with the input as
// everything the remote sends: header and versions, encryption flag (and key), then the framed
// feature map. Input byte 0 picks outbound (bit 0) and a password (bit 1). The intro must settle —
// resolve, or reject with a WeftError saying why — once the remote's bytes run out; any other
// exception is a crash.
import { Duplex } from 'node:stream';
import { ManualClock } from '../../../lib/clock.js';
import { WeftError } from '../../../lib/errors.js';
import { encodeFeatures } from '../../../mesh/features.js';
import { Framer } from '../../../mesh/framing.js';
import { doIntro } from '../../../mesh/handshake.js';
import { StreamReader } from '../../../mesh/stream-reader.js';
import { fail } from '../check.js';
import type { FuzzTarget } from '../target.js';

const OURS = encodeFeatures({ name: 0x020000000001n, nickname: 'fuzz', uid: 1n, shortId: 1 }, 7n, { version: 'fuzz', caps: [] });
const THEIRS = encodeFeatures({ name: 0x020000000002n, nickname: 'peer', uid: 2n, shortId: 2 }, 7n, { version: 'fuzz', caps: ['esp'] });

/**
 * A socket whose remote sends `bytes` in a few chunks, then closes a macrotask later (the reader
 * drops unread bytes at the close, so the intro gets to read what was sent first); what we write
 * goes nowhere.
 */
function remote(bytes: Buffer): Duplex {
  const chunks = [bytes.subarray(0, 7), bytes.subarray(7, 8), bytes.subarray(8)].filter((c) => c.length > 0);
  return new Duplex({
    read() {
      const next = chunks.shift();
      if (next) this.push(next);
      else setImmediate(() => this.push(null));
    },
    write(_chunk, _enc, done) {
      done();
    },
  });
}

export const handshake: FuzzTarget = {
  name: 'handshake',
  sources: ['mesh/handshake.ts', 'mesh/framing.ts', 'mesh/stream-reader.ts', 'mesh/features.ts'],
  seeds: () => [
    Buffer.concat([Buffer.from([0]), Buffer.from('weave\x01\x02\x00'), new Framer().frame(THEIRS)]),
    Buffer.concat([Buffer.from([1]), Buffer.from('weave\x02\x02\x00'), new Framer().frame(THEIRS)]),
    Buffer.concat([Buffer.from([2]), Buffer.from('weave\x01\x02\x01'), Buffer.alloc(32, 9), Buffer.from([0, 0, 0, 40]), Buffer.alloc(40, 1)]),
  ],
  dictionary: ['weave', '\x01\x02', '\x00', '\x01', '\x00\x00\x00\x00', '\xff\xff\xff\xff'],
  run: async (data) => {
    const mode = data[0] ?? 0;
    const stream = remote(data.subarray(1));
    try {
      const r = await doIntro({
        stream,
        reader: new StreamReader(stream),
        outbound: (mode & 1) === 1,
        features: OURS,
        password: (mode & 2) === 2 ? Buffer.from('fuzz password') : undefined,
        minVersion: 1,
        maxVersion: 2,
        clock: new ManualClock(),
      });
      if (r.version !== 2 || r.features.name === undefined) fail(`doIntro resolved with ${JSON.stringify({ version: r.version })}`);
      return 'ok';
    } catch (err) {
      if (err instanceof WeftError) return `${err.code}: ${err.message}`;
      throw err;
    } finally {
      stream.destroy();
    }
  },
};
