import { describe, expect, it } from 'vitest';
import { formatEndpoints, formatIpam, formatPaths, formatPs } from './dataplane-format.js';
import type { DataplaneStatus } from '../../router/status.js';

const dp: DataplaneStatus = {
  bridge: 'weft',
  vxlan: 'vxlan-weft',
  vni: 24241,
  port: 6784,
  mtu: 1450,
  addresses: ['198.18.0.1'],
  peers: [
    { peer: '02:00:00:00:00:02', nickname: 'h1', path: 'direct', via: null, address: '198.18.0.2', mtu: 1450, rttMs: 1, reason: 'probes answered (rtt 1 ms)', endpoints: 2, encryption: null },
    { peer: '02:00:00:00:00:03', nickname: 'h2', path: 'relay via h1', via: '02:00:00:00:00:02', address: '198.18.0.2', mtu: 1450, rttMs: null, reason: 'no answer to direct probes; h1 reaches it', endpoints: 1, encryption: null },
  ],
  relaying: [],
  probes: { sent: 1, received: 1, acked: 1, dropped: {} },
  dropped: {},
  lastError: null,
  encryption: null,
  conflicts: [],
};

describe('data-plane reports', () => {
  it('status connections: one row per peer with path, address, MTU, RTT and reason', () => {
    const text = formatPaths(dp, []);
    expect(text).toContain('data plane: bridge weft, vxlan-weft (VNI 24241, UDP 6784), MTU 1450, underlay 198.18.0.1');
    expect(text).toMatch(/02:00:00:00:00:03\(h2\)\s+relay via h1\s+198\.18\.0\.2\s+1450\s+-\s+no answer to direct probes; h1 reaches it/);
    expect(text).toMatch(/02:00:00:00:00:02\(h1\)\s+direct\s+198\.18\.0\.2\s+1450\s+1ms/);
  });

  it('status connections with a password: the engine, the guard and per peer cipher, SPIs, key age and drops', () => {
    const enc = {
      encrypted: true, engine: 'user space' as const, cipher: 'aes-256-gcm' as const, spiIn: '0x0000abcd', spiOut: '0x00001234', keyAgeMs: 65_000,
      rekeys: 1, state: 'established', sent: 10, received: 9, replayDrops: 3, authFailures: 0,
    };
    const text = formatPaths({
      ...dp,
      peers: [{ ...dp.peers[0]!, encryption: enc }, { ...dp.peers[1]!, encryption: { ...enc, cipher: null, spiIn: null, spiOut: null, keyAgeMs: null, state: 'negotiating', replayDrops: 0 } }],
      encryption: {
        engine: 'user space', tun: 'weft-esp', ciphers: ['aes-256-gcm'], keylog: null, cleartextDropped: { inbound: 7, outbound: 0 },
        packets: { tunIn: 1, sent: 1, received: 1, tunOut: 1 }, dropped: {}, keyExchangeDropped: {}, lastError: null,
      },
    }, []);
    expect(text).toContain('encryption: ESP, user-space engine (TUN weft-esp); cleartext VXLAN dropped: 7 in, 0 out');
    expect(text).toMatch(/02:00:00:00:00:02\(h1\).*aes-256-gcm in 0x0000abcd out 0x00001234, key 1m05s old, 3 replays dropped/);
    expect(text).toMatch(/02:00:00:00:00:03\(h2\).*negotiating/);
  });

  it('status endpoints and ps', () => {
    const eps = [
      { peer: '02:00:00:00:00:01', nickname: 'h0', local: true, container: 'c1', mac: '0a:58:0a:20:00:01', ips: ['10.32.0.1/12'] },
      { peer: '02:00:00:00:00:02', nickname: 'h1', local: false, container: null, mac: '0a:58:0a:20:00:02', ips: ['10.32.0.2'] },
    ];
    expect(formatEndpoints(eps)).toMatch(/02:00:00:00:00:02\(h1\)\s+remote\s+0a:58:0a:20:00:02\s+10\.32\.0\.2/);
    expect(formatPs(eps)).toBe('c1  0a:58:0a:20:00:01  10.32.0.1/12\n');
  });

  it('status ipam: the range, each share, and why an unreachable peer is not reclaimed', () => {
    const text = formatIpam({
      range: '10.32.0.0/12',
      ready: true,
      fenced: false,
      waiting: null,
      allocations: 3,
      dropped: {},
      peers: [
        { name: '02:00:00:00:00:01', nickname: 'h0', owned: 524288, used: 3, free: 524285, reachable: true, reclaimInMs: null },
        { name: '02:00:00:00:00:02', nickname: 'h1', owned: 262144, used: 0, free: 262144, reachable: false, reclaimInMs: 125_000 },
        { name: '02:00:00:00:00:03', nickname: 'h2', owned: 262144, used: 0, free: 262144, reachable: false, reclaimInMs: null, note: 'not reclaimed: no majority' },
      ],
      lost: [{ container: '/run/netns/c9', ip: '10.32.0.9' }],
      conflicts: [{ ip: '10.32.0.7', holders: ['02:00:00:00:00:01(h0) /run/netns/c7', '02:00:00:00:00:02(h1)'] }],
      held: [{ peer: '02:00:00:00:00:03', nickname: 'h2', count: 4, reachable: false, note: 'weft rmpeer h2 frees them' }],
      foreign: [{ container: '/run/netns/c5', ip: '10.32.8.5', owner: '02:00:00:00:00:02(h1)' }],
    });
    expect(text).toContain('range 10.32.0.0/12: ready, 3 allocations here');
    expect(text).toMatch(/02:00:00:00:00:02\(h1\)\s+262144\s+0\s+262144\s+no\s+in 2m05s/);
    expect(text).toMatch(/02:00:00:00:00:03\(h2\).*not reclaimed: no majority/);
    expect(text).toContain('lost: /run/netns/c9 10.32.0.9');
    expect(text).toContain('ADDRESS CONFLICT: 10.32.0.7 is used by 02:00:00:00:00:01(h0) /run/netns/c7 and 02:00:00:00:00:02(h1)');
    expect(text).toContain('held: 4 addresses in our space for the containers of 02:00:00:00:00:03(h2) (unreachable: weft rmpeer h2 frees them)');
    expect(text).toContain('foreign: /run/netns/c5 keeps 10.32.8.5, now in the space of 02:00:00:00:00:02(h1)');
  });
});
