import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatHostPort, isHostname, parseHostPort, parsePeerAddresses } from './address.js';

describe('parseHostPort', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1', undefined],
    ['192.0.2.1:6783', '192.0.2.1', 6783],
    ['  host.example:1 ', 'host.example', 1],
    ['weft_peer-2', 'weft_peer-2', undefined],
    ['[2001:db8::1]:6783', '2001:db8::1', 6783],
    ['[::1]', '::1', undefined],
    ['2001:db8::1', '2001:db8::1', undefined],
  ])('accepts %j', (text, host, port) => {
    expect(parseHostPort(text)).toEqual({ ok: true, value: { host, port } });
  });

  it.each([
    ['', /empty/],
    ['192.0.2.1:0', /out of range/],
    ['192.0.2.1:65536', /out of range/],
    ['192.0.2.1:http', /not a number/],
    ['192.0.2.256', /neither an IP address nor a hostname/],
    ['-bad.example', /neither/],
    ['[2001:db8::1', /without closing/],
    ['[192.0.2.1]:80', /not an IPv6 address/],
    ['[::1]x', /unexpected "x"/],
    ['2001:db8::1:6783:x', /\[addr\]:port/],
    [':6783', /host is missing/],
  ])('refuses %j with a reason', (text, reason) => {
    const r = parseHostPort(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('requires a port when asked, and allows port 0 only when asked', () => {
    expect(parseHostPort('127.0.0.1', { requirePort: true }).ok).toBe(false);
    expect(parseHostPort('127.0.0.1:0', { requirePort: true }).ok).toBe(false);
    expect(parseHostPort('127.0.0.1:0', { requirePort: true, allowPortZero: true })).toEqual({ ok: true, value: { host: '127.0.0.1', port: 0 } });
  });

  it('round-trips through formatHostPort for IPv4, IPv6 and names', () => {
    const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
    const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
    fc.assert(
      fc.property(host, port, (h, p) => {
        const r = parseHostPort(formatHostPort({ host: h, port: p }));
        expect(r).toEqual({ ok: true, value: { host: h, port: p } });
      }),
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseHostPort(s)));
  });
});

describe('isHostname', () => {
  it('refuses labels that are too long and all-numeric last labels', () => {
    expect(isHostname('a'.repeat(63))).toBe(true);
    expect(isHostname('a'.repeat(64))).toBe(false);
    expect(isHostname('10.0.0')).toBe(false);
    expect(isHostname('host.example.')).toBe(true);
  });
});

describe('parsePeerAddresses', () => {
  it('canonicalises and names the first bad entry', () => {
    expect(parsePeerAddresses([' 192.0.2.1 ', '::1'])).toEqual({ ok: true, value: ['192.0.2.1', '[::1]'] });
    const r = parsePeerAddresses(['192.0.2.1', 'x:99999']);
    expect(r).toEqual({ ok: false, reason: 'peer address "x:99999" is not host[:port]: port 99999 is out of range (1–65535)' });
  });
});
