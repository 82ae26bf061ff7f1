import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFeatures, encodeFeatures, type RemoteFeatures } from './features.js';
import { gobEncode, T } from './gob/index.js';

const self = { name: 0x0e0000000001n, nickname: 'a', uid: 42n, shortId: 7 };

function decoded(bytes: Buffer): RemoteFeatures {
  const r = decodeFeatures(bytes);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** The map a Go mesh peer would send, plus the given extra keys. */
function goMap(extra: Record<string, string>): Buffer {
  const m = new Map<string, string>([
    ['PeerNameFlavour', 'mac'],
    ['Name', '0e:00:00:00:00:02'],
    ['NickName', 'go'],
    ['UID', '5'],
    ['ConnID', '9'],
    ...Object.entries(extra),
  ]);
  return gobEncode([{ kind: 'map', key: T.string, elem: T.string }, m]);
}

describe('feature map', () => {
  it('round-trips our identity, version and heartbeat offer', () => {
    const f = decoded(encodeFeatures(self, 3n, { version: '9.9', caps: ['x', 'y'], heartbeatMs: 1_000 }));
    expect(f).toMatchObject({ name: self.name, nickname: 'a', uid: 42n, connId: 3n, shortId: 7, weftVersion: '9.9', weftCaps: ['x', 'y'], weftHeartbeatMs: 1_000 });
  });

  it('without an offer, or from a Go peer, there is no heartbeat offer', () => {
    expect(decoded(encodeFeatures(self, 3n, { version: '9.9', caps: [] })).weftHeartbeatMs).toBeUndefined();
    expect(decoded(goMap({})).weftHeartbeatMs).toBeUndefined();
  });

  it.each(['0', '-1', '30001', '1e3', '1000ms', ' 1000', '', '99999999999'])('an unusable offer %j is ignored, not fatal', (v) => {
    expect(decoded(goMap({ WeftHeartbeat: v })).weftHeartbeatMs).toBeUndefined();
  });

  it('any offer in 1 ms … 30 s is taken as is', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30_000 }), (ms) => {
        expect(decoded(goMap({ WeftHeartbeat: String(ms) })).weftHeartbeatMs).toBe(ms);
      }),
    );
  });

  it('a refusal travels as "<code> <message>"; a malformed one is a plain close, control characters are masked', () => {
    const self = { name: 0x0e0000000001n, nickname: 'a', uid: 42n, shortId: undefined };
    const f = decoded(encodeFeatures(self, 3n, { version: '9.9', caps: [], refused: { code: 'conn-limit', message: 'connection limit reached (2)' } }));
    expect(f.weftRefused).toEqual({ code: 'conn-limit', message: 'connection limit reached (2)' });
    expect(decoded(encodeFeatures(self, 3n, { version: '9.9', caps: [] })).weftRefused).toBeUndefined();
    expect(decoded(goMap({ WeftRefused: 'no-message' })).weftRefused).toEqual({ code: 'closed', message: 'refused the connection (no reason given)' });
    expect(decoded(goMap({ WeftRefused: 'x evil\nINFO forged' })).weftRefused).toEqual({ code: 'x', message: 'evil?INFO forged' });
  });
});
