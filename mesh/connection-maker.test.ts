import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { WeftError } from '../lib/errors.js';
import { ConnectionMaker, type MakerHost } from './connection-maker.js';
import type { PeerSummary } from './peer.js';

const US = 0x50n;

class FakeHost implements MakerHost {
  readonly ourName = US;
  conns: { name: bigint; remoteAddr: string; outbound: boolean }[] = [];
  peers: PeerSummary[] = [];
  dials: { address: string; at: number; peer: bigint | undefined }[] = [];
  constructor(private readonly clock: ManualClock) {}
  ourConnections() {
    return this.conns;
  }
  knownPeers() {
    return this.peers;
  }
  dial(address: string, _accept: boolean, peer: bigint | undefined): void {
    this.dials.push({ address, at: this.clock.now(), peer });
  }
}

async function setup(opts: { discovery?: boolean } = {}) {
  const clock = new ManualClock(0);
  const host = new FakeHost(clock);
  const maker = new ConnectionMaker(host, { port: 6783, discovery: opts.discovery ?? true, clock, random: () => 0.5, refreshMs: 10, yieldMs: 1000 });
  const step = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await Promise.resolve();
    }
  };
  return { clock, host, maker, step };
}

describe('connection maker', () => {
  it('backs off ×1.5 with jitter from 2 s, and never retries a name collision', async () => {
    const { host, maker, step } = await setup();
    maker.initiate(['198.18.0.2']);
    await step(20);
    expect(host.dials.map((d) => d.address)).toEqual(['198.18.0.2:6783']);
    const gaps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = host.dials.length;
      const at = host.dials[before - 1]!.at;
      maker.attemptFailed('198.18.0.2:6783', new WeftError('io', 'connection refused'));
      while (host.dials.length === before) await step(10);
      gaps.push(host.dials[host.dials.length - 1]!.at - at);
    }
    // random() = 0.5 puts each try at the interval itself: 2 s, 3 s, 4.5 s (+ refresh granularity).
    expect(gaps.map((g) => Math.round(g / 100) * 100)).toEqual([2000, 3000, 4500]);
    maker.attemptFailed('198.18.0.2:6783', new WeftError('name-collision', 'collision'));
    const n = host.dials.length;
    await step(60_000);
    expect(host.dials.length).toBe(n);
    expect(maker.status()[0]).toMatchObject({ state: 'failed', retryInMs: null });
  });

  it('does not redial a direct target while connected to the peer behind it', async () => {
    const { host, maker, step } = await setup();
    maker.initiate(['198.18.0.2:6783']);
    await step(20);
    maker.connected('198.18.0.2:6783', 0x60n);
    host.conns = [{ name: 0x60n, remoteAddr: '198.18.0.2:6783', outbound: true }];
    // Our connection breaks, but the peer has meanwhile dialled us: nothing to do.
    maker.connectionEnded('198.18.0.2:6783', new WeftError('duplicate-connection', 'dup'));
    host.conns = [{ name: 0x60n, remoteAddr: '198.18.0.2:41000', outbound: false }];
    await step(10_000);
    expect(host.dials.length).toBe(1);
    expect(maker.status()[0]).toMatchObject({ state: 'connected' });
    // Once that connection is gone too, the target is dialled again.
    host.conns = [];
    maker.refresh();
    await step(5_000);
    expect(host.dials.length).toBe(2);
  });

  it('dials discovered peers, giving lower-named ones a moment to dial us first', async () => {
    const { host, maker, step } = await setup();
    const conn = (name: bigint, addr: string, outbound: boolean) => ({ name, remoteTcpAddr: addr, outbound, established: true });
    host.peers = [
      { name: 0x70n, nickname: 'b', uid: 1n, version: 1n, shortId: undefined, connections: [conn(0x40n, '198.18.0.4:6783', true), conn(0x90n, '198.18.0.9:51000', false)] },
    ];
    maker.refresh();
    await step(20);
    // 0x90 > us: dialled at once, at its IP and our mesh port (its connection was inbound).
    expect(host.dials).toEqual([{ address: '198.18.0.9:6783', at: expect.any(Number), peer: 0x90n }]);
    // 0x40 < us: it gets a moment to dial us before we dial it (in a mesh this small, 200 ms).
    await step(150);
    expect(host.dials.length).toBe(1);
    await step(100);
    expect(host.dials.map((d) => d.address)).toEqual(['198.18.0.9:6783', '198.18.0.4:6783']);
  });

  it('forgets discovered targets once connected, and direct ones only on forget', async () => {
    const { host, maker, step } = await setup();
    host.peers = [{ name: 0x70n, nickname: 'b', uid: 1n, version: 1n, shortId: undefined, connections: [{ name: 0x90n, remoteTcpAddr: '198.18.0.9:6783', outbound: true, established: true }] }];
    maker.initiate(['198.18.0.7']);
    await step(20);
    expect(maker.status().map((t) => t.address).sort()).toEqual(['198.18.0.7:6783', '198.18.0.9:6783']);
    host.conns = [{ name: 0x90n, remoteAddr: '198.18.0.9:40000', outbound: false }];
    maker.attemptFailed('198.18.0.9:6783', new WeftError('duplicate-connection', 'already connected'));
    await step(20);
    expect(maker.status().map((t) => t.address)).toEqual(['198.18.0.7:6783']);
    maker.forget(['198.18.0.7']);
    maker.attemptFailed('198.18.0.7:6783', new WeftError('io', 'refused'));
    await step(20);
    expect(maker.status()).toEqual([]);
  });
});
