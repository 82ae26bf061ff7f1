import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { broadcastOf, checkHostCidr, contains, covers, formatCidr, formatIpv4, networkOf, parseCidr, parseIpv4, parseNetwork } from './ip.js';

describe('parseIpv4', () => {
  it('reads a dotted quad as an unsigned integer', () => {
    expect(parseIpv4('10.32.0.5')).toEqual({ ok: true, value: 0x0a200005 });
    expect(parseIpv4('0.0.0.0')).toEqual({ ok: true, value: 0 });
    expect(parseIpv4('255.255.255.255')).toEqual({ ok: true, value: 0xffffffff });
  });

  it.each(['01.32.0.5', '10.32.0.05', '10.32.0', '10.32.0.5.1', '256.0.0.1', ' 10.32.0.5', '10.32.0.5\n', '0x0a.0.0.1', '1e1.0.0.1', '+1.0.0.1', '', '１.2.3.4', '10.32.0.5/12'])(
    'refuses %j with a reason',
    (text) => {
      const r = parseIpv4(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/is not an IPv4 address: .*like 10\.32\.0\.5/);
    },
  );

  it('round-trips: format(parse(x)) = x and parse(format(n)) = n', () => {
    fc.assert(fc.property(fc.ipV4(), (text) => {
      expect(formatIpv4((parseIpv4(text) as { value: number }).value)).toBe(text);
    }));
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
      expect(parseIpv4(formatIpv4(n))).toEqual({ ok: true, value: n });
    }));
  });

  it('never throws on arbitrary text, and refuses the extended forms', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseIpv4(s)));
    // Octal, hex and short forms ("0x0a.1", "010.0.0.1", "10.1") parse only when they are canonical.
    fc.assert(fc.property(fc.ipV4Extended(), (s) => {
      const r = parseIpv4(s);
      if (r.ok) expect(formatIpv4(r.value)).toBe(s);
    }));
    expect(parseIpv4('010.0.0.1').ok).toBe(false);
  });
});

describe('parseCidr and parseNetwork', () => {
  it('reads ADDR/PREFIX, host bits allowed', () => {
    expect(parseCidr('10.32.0.5/12')).toEqual({ ok: true, value: { ip: 0x0a200005, prefix: 12 } });
    expect(parseCidr('0.0.0.0/0')).toEqual({ ok: true, value: { ip: 0, prefix: 0 } });
  });

  it.each([
    ['01.32.0.5/12', /leading zeros/],
    ['10.32.0.5', /has no prefix length/],
    ['10.32.0.5/', /prefix length must be a number 0–32/],
    ['10.32.0.5/33', /0–32/],
    ['10.32.0.5/012', /0–32/],
    ['10.32.0.5/00', /0–32/],
    ['10.32.0.5/ 12', /0–32/],
    ['10.32.0.5/12/1', /0–32/],
  ])('refuses %j', (text, reason) => {
    const r = parseCidr(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('a network has no host bits, and says which network was meant', () => {
    expect(parseNetwork('10.32.0.0/12')).toEqual({ ok: true, value: { ip: 0x0a200000, prefix: 12 } });
    expect(parseNetwork('10.32.0.5/12')).toEqual({ ok: false, reason: '"10.32.0.5/12" is not a network: its host bits are set; the network is 10.32.0.0/12' });
  });

  it('round-trips and never throws', () => {
    const cidr = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, p]) => `${ip}/${p}`);
    fc.assert(fc.property(cidr, (text) => {
      const r = parseCidr(text);
      expect(r.ok && formatCidr(r.value)).toBe(text);
    }));
    fc.assert(fc.property(fc.string(), (s) => void parseCidr(s)), { numRuns: 500 });
    fc.assert(fc.property(fc.string(), (s) => void checkHostCidr(s)), { numRuns: 500 });
    fc.assert(fc.property(fc.string(), (s) => void parseNetwork(s)), { numRuns: 500 });
  });
});

describe('prefix arithmetic', () => {
  const c = (t: string) => (parseCidr(t) as { value: { ip: number; prefix: number } }).value;
  it('network, broadcast, containment', () => {
    expect(formatIpv4(networkOf(c('10.32.0.5/12')))).toBe('10.32.0.0');
    expect(formatIpv4(broadcastOf(c('10.32.0.5/12')))).toBe('10.47.255.255');
    expect(formatIpv4(broadcastOf(c('0.0.0.0/0')))).toBe('255.255.255.255');
    expect(contains(c('10.32.0.0/12'), c('10.47.255.255/32').ip)).toBe(true);
    expect(contains(c('10.32.0.0/12'), c('10.48.0.0/32').ip)).toBe(false);
    expect(contains(c('0.0.0.0/0'), 0xffffffff)).toBe(true);
    expect(covers(c('10.32.0.0/12'), c('10.40.0.0/16'))).toBe(true);
    expect(covers(c('10.40.0.0/16'), c('10.32.0.0/12'))).toBe(false);
  });

  it('every address of a prefix is contained in it, and the next one is not', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 32 }), (ip, prefix) => {
      const net = { ip, prefix };
      expect(contains(net, networkOf(net))).toBe(true);
      expect(contains(net, broadcastOf(net))).toBe(true);
      if (broadcastOf(net) < 0xffffffff) expect(contains(net, broadcastOf(net) + 1)).toBe(false);
    }));
  });
});

describe('checkHostCidr', () => {
  it.each(['10.32.0.5/12', '10.32.0.1/12', '192.168.1.254/24', '10.1.1.0/31', '10.1.1.1/31', '10.1.1.0/32', '100.64.0.1/10', '8.8.8.8/32'])('accepts %j', (text) => {
    expect(checkHostCidr(text).ok).toBe(true);
  });

  it.each([
    ['224.0.0.1/4', '"224.0.0.1/4" is a multicast address: a container needs a unicast address, like 10.32.0.5/12'],
    ['01.32.0.5/12', '"01.32.0.5/12" is not ADDR/PREFIX: "01.32.0.5" is not an IPv4 address: write four numbers 0–255 without leading zeros, like 10.32.0.5'],
    ['10.32.0.5/0', '"10.32.0.5/0" has prefix length 0 (every address): give the overlay\'s prefix length, like 10.32.0.5/12'],
    ['0.0.0.0/8', '"0.0.0.0/8" is in 0.0.0.0/8, which means "this host" and is never assigned: a container needs a unicast address, like 10.32.0.5/12'],
    ['0.1.2.3/32', '"0.1.2.3/32" is in 0.0.0.0/8, which means "this host" and is never assigned: a container needs a unicast address, like 10.32.0.5/12'],
    ['127.0.0.2/8', '"127.0.0.2/8" is a loopback address (127.0.0.0/8), which never leaves its own namespace: a container needs a unicast address, like 10.32.0.5/12'],
    ['169.254.1.1/16', '"169.254.1.1/16" is a link-local address (169.254.0.0/16), which is never routed between hosts: a container needs a unicast address, like 10.32.0.5/12'],
    ['239.255.255.255/32', '"239.255.255.255/32" is a multicast address: a container needs a unicast address, like 10.32.0.5/12'],
    ['240.0.0.1/4', '"240.0.0.1/4" is in the reserved range 240.0.0.0/4: a container needs a unicast address, like 10.32.0.5/12'],
    ['255.255.255.255/32', '"255.255.255.255/32" is the broadcast address: a container needs a unicast address, like 10.32.0.5/12'],
    ['10.32.0.0/12', '"10.32.0.0/12" is the network address of 10.32.0.0/12: pick an address inside it, like 10.32.0.1/12'],
    ['10.47.255.255/12', '"10.47.255.255/12" is the broadcast address of 10.32.0.0/12: pick an address inside it, like 10.47.255.254/12'],
    ['10.1.1.4/30', '"10.1.1.4/30" is the network address of 10.1.1.4/30: pick an address inside it, like 10.1.1.5/30'],
  ])('refuses %j saying why and what to do', (text, reason) => {
    expect(checkHostCidr(text)).toEqual({ ok: false, reason });
  });
});
