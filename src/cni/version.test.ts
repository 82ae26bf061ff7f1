import { describe, expect, it } from 'vitest';
import { CniError } from './errors.js';
import { SUPPORTED_VERSIONS, atLeast, negotiate, requireVersionFor, type CniVersion } from './version.js';
import { versionReply } from './plugin.js';

describe('version negotiation', () => {
  it('accepts exactly the supported versions', () => {
    for (const v of SUPPORTED_VERSIONS) expect(negotiate(v)).toBe(v);
    for (const v of ['0.1.0', '0.2.0', '0.3.0', '1.2.0', '', 1, undefined, null]) {
      expect(() => negotiate(v)).toThrow(CniError);
      try {
        negotiate(v);
      } catch (err) {
        expect((err as CniError).code).toBe(1);
        expect((err as CniError).message).toContain('0.3.1, 0.4.0, 1.0.0, 1.1.0');
      }
    }
  });

  it('gates CHECK on 0.4.0 and STATUS/GC on 1.1.0 (a matrix)', () => {
    const allowed = (cmd: 'CHECK' | 'STATUS' | 'GC', v: CniVersion): boolean => {
      try {
        requireVersionFor(cmd, v);
        return true;
      } catch (err) {
        expect((err as CniError).code).toBe(1);
        return false;
      }
    };
    const table = SUPPORTED_VERSIONS.map((v) => [v, allowed('CHECK', v), allowed('STATUS', v), allowed('GC', v)]);
    expect(table).toEqual([
      ['0.3.1', false, false, false],
      ['0.4.0', true, false, false],
      ['1.0.0', true, false, false],
      ['1.1.0', true, true, true],
    ]);
    expect(atLeast('1.0.0', '0.4.0')).toBe(true);
    expect(atLeast('0.3.1', '0.4.0')).toBe(false);
  });

  it('VERSION answers in the config\'s version, else the latest, whatever stdin holds', () => {
    const all = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'];
    expect(JSON.parse(versionReply('{"cniVersion":"0.4.0"}'))).toEqual({ cniVersion: '0.4.0', supportedVersions: all });
    for (const stdin of ['', 'not json', 'null', '{"cniVersion":"9.9.9"}', '{}']) {
      expect(JSON.parse(versionReply(stdin))).toEqual({ cniVersion: '1.1.0', supportedVersions: all });
    }
  });
});
