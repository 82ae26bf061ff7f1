import { describe, expect, it } from 'vitest';
import { CniError } from './errors.js';
import { decodeStdin, parseApiAddr, parseConfig } from './config.js';

const base = { cniVersion: '1.0.0', name: 'weft', type: 'weft' };
const failure = (fn: () => unknown): { code: number; msg: string; details: string } => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.message, details: err.details };
    throw err;
  }
  throw new Error('did not throw');
};

describe('network configuration', () => {
  it('fills in the defaults', () => {
    expect(parseConfig({ ...base })).toEqual({
      cniVersion: '1.0.0',
      name: 'weft',
      api: { host: '127.0.0.1', port: 6784, text: '127.0.0.1:6784' },
      masquerade: true,
      defaultRoute: true,
      timeoutMs: 60_000,
      ips: [],
    });
  });

  it('reads weft\'s fields, the ips capability, prevResult and the attachments GC keeps', () => {
    const c = parseConfig({
      ...base,
      api: '[::1]:7000',
      masquerade: false,
      defaultRoute: false,
      timeoutSeconds: 2.5,
      runtimeConfig: { ips: ['10.32.0.9/12'] },
      prevResult: { interfaces: [] },
      'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
    });
    expect(c.api).toEqual({ host: '::1', port: 7000, text: '[::1]:7000' });
    expect([c.masquerade, c.defaultRoute, c.timeoutMs, c.ips]).toEqual([false, false, 2500, ['10.32.0.9/12']]);
    expect(c.prevResult).toEqual({ interfaces: [] });
    expect(c.validAttachments).toEqual([{ id: 'a', ifname: 'eth0' }]);
    expect(parseConfig({ ...base, 'cni.dev/attachments': [] }).validAttachments).toEqual([]);
  });

  it('says which field is wrong (code 7), an ipam section is unsupported (code 2), the version comes first (code 1)', () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ ...base, name: '' }, 7, 'name'],
      [{ ...base, name: undefined }, 7, 'name'],
      [{ ...base, api: 'localhost' }, 7, 'api'],
      [{ ...base, api: '1.2.3.4:99999' }, 7, 'api'],
      [{ ...base, api: 6784 }, 7, 'api'],
      [{ ...base, masquerade: 'yes' }, 7, 'masquerade'],
      [{ ...base, defaultRoute: 1 }, 7, 'defaultRoute'],
      [{ ...base, timeoutSeconds: 0 }, 7, 'timeoutSeconds'],
      [{ ...base, timeoutSeconds: '5' }, 7, 'timeoutSeconds'],
      [{ ...base, runtimeConfig: { ips: [1] } }, 7, 'runtimeConfig.ips'],
      [{ ...base, runtimeConfig: [] }, 7, 'runtimeConfig'],
      [{ ...base, prevResult: 'x' }, 7, 'prevResult'],
      [{ ...base, 'cni.dev/valid-attachments': [{ id: 'a' }] }, 7, 'cni.dev/valid-attachments'],
      [{ ...base, ipam: { type: 'host-local' } }, 2, 'ipam'],
      [{ ...base, cniVersion: '0.2.0', name: '' }, 1, ''],
      [{ ...base, cniVersion: undefined }, 1, ''],
    ];
    for (const [conf, code, field] of cases) {
      const f = failure(() => parseConfig(conf));
      expect([f.code, f.details], JSON.stringify(conf)).toEqual([code, field]);
    }
  });

  it('decodes stdin: not JSON or not an object is code 6', () => {
    expect(decodeStdin('{"a":1}')).toEqual({ a: 1 });
    for (const bad of ['', '{', '[]', 'null', '"x"', '3']) expect(failure(() => decodeStdin(bad)).code).toBe(6);
  });

  it('parses API addresses', () => {
    expect(parseApiAddr('127.0.0.1:6784')).toEqual({ host: '127.0.0.1', port: 6784 });
    expect(parseApiAddr('localhost:1')).toEqual({ host: 'localhost', port: 1 });
    for (const bad of ['127.0.0.1', ':6784', '::1:6784', '1.2.3.4:0', 'a b:1', '[::1]']) expect(parseApiAddr(bad)).toBeUndefined();
  });
});
