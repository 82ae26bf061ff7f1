import { describe, expect, it } from 'vitest';
import { SAMPLE_CONNECTIONS, SAMPLE_PEERS, SAMPLE_STATUS, SAMPLE_TARGETS } from '../api/fake-control.js';
import { formatConnections, formatDuration, formatPeers, formatStatus, formatTargets } from './format.js';

describe('status formatting', () => {
  it('prints the summary block as weave status does', () => {
    expect(formatStatus(SAMPLE_STATUS)).toBe(
      [
        '        Version: 0.1.0',
        '',
        '        Service: router',
        '       Protocol: weave 2',
        '           Name: 02:00:00:00:00:01(host1)',
        '     Encryption: enabled',
        '  PeerDiscovery: enabled',
        '        Targets: 2',
        '    Connections: 4 (2 established, 1 pending, 1 failed)',
        '          Peers: 3',
        ' TrustedSubnets: none',
        '',
      ].join('\n'),
    );
  });

  it('counts the known peers this router has no route to', () => {
    expect(formatStatus({ ...SAMPLE_STATUS, peers: 100, reachable: 96 })).toContain('\n          Peers: 100 (3 unreachable)\n');
    expect(formatStatus({ ...SAMPLE_STATUS, peers: 100, reachable: 99 })).toContain('\n          Peers: 100\n');
  });

  it('prints a bare count when there are no connections, and disabled features', () => {
    const quiet = {
      ...SAMPLE_STATUS,
      nickname: '',
      encryption: false,
      peerDiscovery: false,
      targets: [],
      peers: 1,
      connections: { established: 0, pending: 0, failed: 0 },
    };
    const text = formatStatus(quiet);
    expect(text).toContain('           Name: 02:00:00:00:00:01\n');
    expect(text).toContain('     Encryption: disabled\n  PeerDiscovery: disabled\n        Targets: 0\n    Connections: 0\n');
  });

  it('lists peers, this one first, with their connections', () => {
    expect(formatPeers(SAMPLE_PEERS)).toBe(
      [
        '02:00:00:00:00:01(host1)',
        '   ->  198.18.0.2:6783   02:00:00:00:00:02(host2)  established',
        '   <-  198.18.0.3:51234  02:00:00:00:00:03         pending',
        '02:00:00:00:00:02(host2)',
        '   <-  198.18.0.1:47001  02:00:00:00:00:01(host1)  established',
        '',
      ].join('\n'),
    );
  });

  it('prints the connection table', () => {
    expect(formatConnections(SAMPLE_CONNECTIONS)).toBe(
      [
        '->  198.18.0.2:6783   established  encrypted    02:00:00:00:00:02(host2)  protocol v2',
        '<-  198.18.0.3:51234  pending      encrypted    02:00:00:00:00:03',
        '->  198.18.0.9:6783   failed       unencrypted  -                         connect ECONNREFUSED',
        '',
      ].join('\n'),
    );
    expect(formatConnections([])).toBe('');
  });

  it('prints targets with their retry time and last error', () => {
    expect(formatTargets(SAMPLE_TARGETS)).toBe(
      [
        '198.18.0.2:6783  connected',
        '198.18.0.9:6783  waiting    retry in 2m05s; last error: connect ECONNREFUSED 198.18.0.9:6783',
        '',
      ].join('\n'),
    );
  });

  it.each([
    [0, '<1s'],
    [999, '<1s'],
    [1000, '1s'],
    [59_400, '59s'],
    [60_000, '1m00s'],
    [3_599_000, '59m59s'],
    [3_720_000, '1h02m'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
