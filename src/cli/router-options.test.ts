import { describe, expect, it } from 'vitest';
import { WeftError } from '../../lib/errors.js';
import { defaultOptions } from '../daemon/options.js';
import { childEnv, parseRouterOptions, routerArgs, type RawRouterOptions } from './router-options.js';

const parse = (raw: RawRouterOptions, peers: string[] = [], env: Record<string, string> = {}) => parseRouterOptions(raw, peers, env, 'myhost');

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WeftError);
    expect((err as WeftError).code).toBe('usage');
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('parseRouterOptions', () => {
  it('fills in the defaults, with the host name as nickname', () => {
    expect(parse({})).toEqual({ ...defaultOptions(), nickname: 'myhost' });
  });

  it('takes every option', () => {
    const o = parse(
      {
        host: '198.18.0.1',
        port: '7000',
        httpAddr: '127.0.0.1:7001',
        dataDir: '/tmp/w',
        password: 's3cret',
        name: '02:AA:BB:CC:DD:EE',
        nickname: 'n1',
        connLimit: '0',
        discovery: false,
        logLevel: 'DEBUG',
      },
      ['198.18.0.2', 'peer.example:7000', '2001:db8::2'],
    );
    expect(o).toEqual({
      host: '198.18.0.1',
      port: 7000,
      httpAddr: '127.0.0.1:7001',
      dataDir: '/tmp/w',
      password: Buffer.from('s3cret'),
      name: '02:aa:bb:cc:dd:ee',
      nickname: 'n1',
      connLimit: 0,
      peers: ['198.18.0.2', 'peer.example:7000', '[2001:db8::2]'],
      discovery: false,
      logLevel: 'debug',
      dataplane: true,
      vxlanPort: 6784,
      ipallocRange: '10.32.0.0/12',
      ipallocReclaimAfterMs: 600_000,
      espCiphers: ['aes-256-gcm', 'chacha20-poly1305'],
      espEngine: 'auto',
    });
  });

  it('takes the encryption options, and says what to do with bad ones', () => {
    const o = parse({ espKeylog: 'keys.txt', espCipher: 'chacha20-poly1305', espEngine: 'user' });
    expect(o.espEngine).toBe('user');
    expect(routerArgs(o)).toContain('--esp-engine=user');
    expect(usageError(() => parse({ espEngine: 'fast' }))).toMatch(/--esp-engine "fast": choose auto, kernel or user/);
    expect(o.espKeylog).toMatch(/^\/.*\/keys\.txt$/);
    expect(o.espCiphers).toEqual(['chacha20-poly1305']);
    expect(routerArgs(o)).toContain('--esp-cipher=chacha20-poly1305');
    expect(routerArgs(o)).toContain(`--esp-keylog=${o.espKeylog}`);
    expect(usageError(() => parse({ espCipher: 'aes-128-cbc' }))).toMatch(/--esp-cipher "aes-128-cbc": choose from aes-256-gcm, chacha20-poly1305/);
  });

  it('takes the IPAM options', () => {
    const o = parse({ ipallocInit: 'seed=02:00:00:00:00:01,02:00:00:00:00:02', ipallocReclaimAfter: '2m30s' });
    expect(o.ipallocInit).toEqual({ mode: 'seed', seeds: ['02:00:00:00:00:01', '02:00:00:00:00:02'] });
    expect(o.ipallocReclaimAfterMs).toBe(150_000);
    expect(parse({ ipallocInit: 'consensus=5' }).ipallocInit).toEqual({ mode: 'consensus', peers: 5 });
    expect(routerArgs(parse({ ipallocInit: 'consensus=5', ipallocReclaimAfter: '30s' }))).toEqual(expect.arrayContaining(['--ipalloc-init=consensus=5', '--ipalloc-reclaim-after=30s']));
    expect(usageError(() => parse({ ipallocInit: 'paxos' }))).toMatch(/--ipalloc-init "paxos": write consensus/);
    expect(usageError(() => parse({ ipallocReclaimAfter: '10 minutes' }))).toMatch(/is not a duration/);
  });

  it('takes the data-plane options', () => {
    const o = parse({ vxlanPort: '4789', mtu: '1400', ipallocRange: '10.40.0.0/16', dataplane: false });
    expect([o.vxlanPort, o.mtu, o.ipallocRange, o.dataplane]).toEqual([4789, 1400, '10.40.0.0/16', false]);
    expect(routerArgs(o)).toEqual(expect.arrayContaining(['--vxlan-port=4789', '--mtu=1400', '--ipalloc-range=10.40.0.0/16', '--no-dataplane']));
  });

  it('takes --metrics-addr (off or empty: none), passes it on, and refuses a bad one or a clash with the mesh or the API', () => {
    expect(parse({}).metricsAddr).toBeUndefined();
    const o = parse({ metricsAddr: '198.18.0.1:6782' });
    expect(o.metricsAddr).toBe('198.18.0.1:6782');
    expect(routerArgs(o)).toContain('--metrics-addr=198.18.0.1:6782');
    for (const off of ['off', '', ' off ']) expect(parse({ metricsAddr: off }).metricsAddr).toBeUndefined();
    expect(routerArgs(parse({ metricsAddr: 'off' })).some((a) => a.startsWith('--metrics-addr'))).toBe(false);
    expect(usageError(() => parse({ metricsAddr: '6782' }))).toMatch(/^--metrics-addr "6782": .* — write host:port, e\.g\. 127\.0\.0\.1:6782, or off for no metrics$/);
    expect(usageError(() => parse({ metricsAddr: '0.0.0.0:6783' }))).toBe(
      '--metrics-addr port 6783 is the mesh port: both are TCP on every address — give metrics another port (default 6782), or move the mesh with --port',
    );
    expect(usageError(() => parse({ metricsAddr: '127.0.0.1:6784' }))).toBe("--metrics-addr 127.0.0.1:6784 is the HTTP API's port — give metrics another port (default 6782), or --metrics-addr off");
    // The same port on another address is no clash.
    expect(parse({ host: '198.18.0.1', metricsAddr: '127.0.0.1:6783' }).metricsAddr).toBe('127.0.0.1:6783');
  });

  it('reads WEFT_HTTP_ADDR, WEFT_DATA_DIR and WEFT_PASSWORD when the options are absent', () => {
    const env = { WEFT_HTTP_ADDR: '127.0.0.1:9', WEFT_DATA_DIR: '/tmp/d', WEFT_PASSWORD: 'pw' };
    expect(parse({}, [], env)).toMatchObject({ httpAddr: '127.0.0.1:9', dataDir: '/tmp/d', password: Buffer.from('pw') });
    expect(parse({ httpAddr: '127.0.0.1:10', dataDir: '/tmp/e', password: 'x' }, [], env)).toMatchObject({
      httpAddr: '127.0.0.1:10',
      dataDir: '/tmp/e',
      password: Buffer.from('x'),
    });
    expect(parse({}, [], {}).password).toBeUndefined();
  });

  it('refuses an empty password, from --password or WEFT_PASSWORD, saying how to run unencrypted (issue 13)', () => {
    expect(usageError(() => parse({ password: '' }))).toBe(
      '--password is empty, which would run without encryption — give the password (env WEFT_PASSWORD keeps it out of ps), or leave --password out to run unencrypted',
    );
    // An empty option is refused even when the environment has one: it was typed on purpose.
    expect(usageError(() => parse({ password: '' }, [], { WEFT_PASSWORD: 'pw' }))).toMatch(/^--password is empty/);
    expect(usageError(() => parse({}, [], { WEFT_PASSWORD: '' }))).toBe(
      'WEFT_PASSWORD is set but empty, which would run without encryption — set it to the password, or unset it to run unencrypted',
    );
  });

  it.each([
    [
      'VXLAN on the ESP port (password)',
      { vxlanPort: '6783', password: 'pw' },
      '--vxlan-port 6783 is the mesh port: with a password, encrypted traffic (ESP) uses UDP 6783, so VXLAN cannot — leave --vxlan-port out for 6784, or move the mesh with --port',
    ],
    [
      'VXLAN on the mesh port moved to it (no password)',
      { port: '7000', vxlanPort: '7000' },
      '--vxlan-port 7000 is the mesh port: UDP 7000 is where encrypted traffic (ESP) goes once a password is set, so VXLAN must use another — leave --vxlan-port out for 6784, or move the mesh with --port',
    ],
    [
      'the API on the mesh port',
      { httpAddr: '127.0.0.1:6783' },
      '--http-addr port 6783 is the mesh port: both are TCP on every address — give the API another port (default 127.0.0.1:6784), or move the mesh with --port',
    ],
    ['the API on the mesh host and port', { host: '198.18.0.1', httpAddr: '198.18.0.1:6783' }, /^--http-addr port 6783 is the mesh port: both are TCP on 198\.18\.0\.1 — /],
  ])('refuses a port clash: %s (exit code 2)', (_what, raw, message) => {
    const m = usageError(() => parse(raw));
    if (typeof message === 'string') expect(m).toBe(message);
    else expect(m).toMatch(message);
  });

  it.each([
    ['VXLAN on the mesh port without a data plane', { vxlanPort: '6783', password: 'pw', dataplane: false }],
    ['VXLAN and the API on the same number (UDP and TCP)', { vxlanPort: '6784' }],
    ['the API on the mesh port number of another address', { host: '198.18.0.1', httpAddr: '127.0.0.1:6783' }],
  ])('allows what does not clash: %s', (_what, raw) => {
    expect(() => parse(raw)).not.toThrow();
  });

  it.each([
    [{ port: '0' }, '--port: port 0 is out of range (1–65535); leave it out for 6783'],
    [{ port: '70000' }, '--port: port 70000 is out of range (1–65535); leave it out for 6783'],
    [{ port: 'x' }, '--port: port "x" is not a number from 1 to 65535; leave it out for 6783'],
    [{ name: 'bob' }, '--name "bob" is not a peer name; write six hex bytes like 02:aa:bb:cc:dd:ee, or leave it out to use the one kept in the data dir'],
    [{ connLimit: '-1' }, '--conn-limit "-1" must be a whole number ≥ 0; leave it out for 100'],
    [{ connLimit: '1.5' }, '--conn-limit "1.5" must be a whole number ≥ 0; leave it out for 100'],
    [{ logLevel: 'verbose' }, '--log-level "verbose" is not one of trace, debug, info, warn, error, fatal, silent'],
    [{ httpAddr: '127.0.0.1' }, '--http-addr "127.0.0.1": "127.0.0.1" has no port — write host:port, e.g. 127.0.0.1:6784'],
    [{ host: '1.2.3' }, '--host "1.2.3" is not an IP address of this host; leave it out to listen on every address'],
    [{ dataDir: ' ' }, '--data-dir is empty; give a directory, or leave it out for /var/lib/weft'],
    [{ nickname: 'a\nb' }, '--nickname must be 1 to 255 printable characters'],
    [{ vxlanPort: '0' }, '--vxlan-port: port 0 is out of range (1–65535); leave it out for 6784'],
    [{ mtu: '100' }, '--mtu "100" must be a whole number from 576 to 65000; leave it out to take it from the underlay'],
    [{ ipallocRange: '10.32.0.0' }, '--ipalloc-range "10.32.0.0" is not an IPv4 network like 10.32.0.0/12 (prefix 1 to 30, no host bits set)'],
    [{ ipallocRange: '10.32.0.1/12' }, '--ipalloc-range "10.32.0.1/12" is not an IPv4 network like 10.32.0.0/12 (prefix 1 to 30, no host bits set)'],
    [{ ipallocRange: '010.32.0.0/12' }, '--ipalloc-range "010.32.0.0/12" is not an IPv4 network like 10.32.0.0/12 (prefix 1 to 30, no host bits set)'],
    [{ ipallocRange: '10.32.0.0/31' }, '--ipalloc-range "10.32.0.0/31" is not an IPv4 network like 10.32.0.0/12 (prefix 1 to 30, no host bits set)'],
    [{ host: '01.2.3.4' }, '--host "01.2.3.4" is not an IP address of this host; leave it out to listen on every address'],
  ])('refuses %j with what to do', (raw, message) => {
    expect(usageError(() => parse(raw))).toBe(message);
  });

  it('refuses a bad peer, naming it', () => {
    expect(usageError(() => parse({}, ['198.18.0.2', '198.18.0.3:99999']))).toBe(
      'peer address "198.18.0.3:99999" is not host[:port]: port 99999 is out of range (1–65535); ' +
        'peers are written as 192.0.2.1, 192.0.2.1:6783, [2001:db8::1]:6783 or host.example',
    );
  });

  it('reports every problem at once', () => {
    expect(usageError(() => parse({ port: '0', connLimit: 'lots' })).split('\n')).toHaveLength(2);
  });
});

describe('routerArgs and childEnv', () => {
  it('re-parse to the same options, without the password in the arguments', () => {
    const o = parse({ host: '198.18.0.1', port: '7000', name: '02:00:00:00:00:09', nickname: '-odd name', discovery: false, password: 'pw' }, [
      '198.18.0.2',
    ]);
    const args = routerArgs(o);
    expect(args.join(' ')).not.toContain('pw');
    expect(args).toEqual([
      '--host=198.18.0.1',
      '--port=7000',
      '--http-addr=127.0.0.1:6784',
      '--data-dir=/var/lib/weft',
      '--name=02:00:00:00:00:09',
      '--nickname=-odd name',
      '--conn-limit=100',
      '--no-discovery',
      '--log-level=info',
      '--vxlan-port=6784',
      '--ipalloc-range=10.32.0.0/12',
      '--ipalloc-reclaim-after=600s',
      '--',
      '198.18.0.2',
    ]);
    const env = childEnv(o, { PATH: '/bin', WEFT_PASSWORD: 'old' });
    expect(env).toEqual({ PATH: '/bin', WEFT_PASSWORD: 'pw' });
    expect(childEnv(parse({}), { PATH: '/bin', WEFT_PASSWORD: '' })).toEqual({ PATH: '/bin' });
  });
});
