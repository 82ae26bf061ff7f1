// The wireguard-go reference of the encrypted data-plane benchmark (bench/wireguard.ts) really
// tunnels: containers ping through it, the underlay carries only WireGuard's UDP, and once the
// daemons are stopped nothing passes and nothing is left behind.
//
//   c0 10.51.0.1 ─ h0 wgw…0 10.50.0.1 ══ UDP 51820 over 198.18.0.0/24 ══ h1 wgw…1 10.50.0.2 ─ c1 10.51.1.1
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, waitFor } from './harness/netns.js';
import { sweepStaleSockets, WG_PORT, WG_SOCKET_DIR, wireguardTestbed, wireguardUnavailable, type WireguardTestbed } from '../bench/wireguard.js';

const why = wireguardUnavailable();
if (why !== undefined) console.warn(`SKIP wireguard-go reference: ${why}`);
const PATTERN = '5eb1e5ac';

describe('sweepStaleSockets', () => {
  it('removes only its own sockets whose creator PID is gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wg-sweep-'));
    try {
      const mine = `wgw${process.pid.toString(36)}abc0.sock`;
      const dead = 'wgwzzzzzabc1.sock'; // PID 60466175, above any pid_max
      const foreign = ['wg0.sock', 'wgwzzzzzabc2.sock', 'wgzzzzzabc0.sock'];
      for (const f of [mine, dead, ...foreign]) writeFileSync(join(dir, f), '');
      expect(sweepStaleSockets(dir)).toEqual([dead]);
      for (const f of [mine, ...foreign]) expect(existsSync(join(dir, f)), f).toBe(true);
      expect(existsSync(join(dir, dead))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(why !== undefined)('wireguard-go between two namespace hosts', () => {
  let tb: WireguardTestbed;
  const ping = async (from: number, args: string[] = []): Promise<boolean> =>
    (await tb.containers[from]!.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', ...args, tb.ips[1 - from]!], { timeoutMs: 20_000 })).code === 0;

  beforeAll(async () => {
    tb = await wireguardTestbed();
  }, 60_000);

  afterAll(async () => {
    await tb?.cleanup();
  });

  it('carries container pings both ways, after a handshake', async () => {
    await waitFor(() => ping(0, ['-c', '1']), { timeoutMs: 15_000, intervalMs: 200, what: 'the first ping through the tunnel' });
    expect(await ping(0)).toBe(true);
    expect(await ping(1)).toBe(true);
    const hs = await tb.lan.hosts[0]!.exec('wg', ['show', tb.tunnel.ifnames[0], 'latest-handshakes']);
    expect(hs.code, hs.stderr).toBe(0);
    expect(Number(hs.stdout.trim().split(/\s+/)[1])).toBeGreaterThan(0);
    const mtu = await tb.lan.hosts[0]!.exec('ip', ['-o', 'link', 'show', 'dev', tb.tunnel.ifnames[0]]);
    expect(mtu.stdout).toContain(`mtu ${tb.mtu} `);
  }, 30_000);

  it.skipIf(!hasCommand('tshark'))('puts only WireGuard UDP on the underlay, with no trace of the payload', async () => {
    // tshark prints a line per packet as it sees it (-l), so the test waits for packets, not for time.
    const cap = tb.lan.hosts[0]!.spawn('tshark', ['-l', '-n', '-i', 'eth0', '-f', 'ip', '-T', 'fields', '-E', 'separator=,', '-e', 'ip.proto', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'udp.payload']);
    const lines = (): string[] => cap.stdout().split('\n').filter(Boolean);
    try {
      await waitFor(() => /Capturing on/.test(cap.output()), { timeoutMs: 10_000, what: 'tshark to start' });
      // "Capturing on" can come before the first packet is seen: ping until one is.
      await waitFor(async () => (await ping(0, ['-c', '1'])) && lines().length > 0, { timeoutMs: 10_000, intervalMs: 100, what: 'the capture to see a ping' });
      const before = lines().length;
      expect(await ping(0, ['-p', PATTERN])).toBe(true);
      expect(await ping(1, ['-p', PATTERN])).toBe(true);
      await waitFor(() => lines().length >= before + 12, { timeoutMs: 10_000, what: 'the capture to see 3 pings each way' });
    } finally {
      await cap.stop();
    }
    const rows = lines().map((l) => l.split(','));
    expect(rows.filter(([proto, sport, dport]) => !(proto === '17' && sport === String(WG_PORT) && dport === String(WG_PORT)))).toEqual([]);
    const payloads = rows.map((r) => r[3] ?? '').join('');
    expect(payloads.length).toBeGreaterThan(0);
    expect(payloads).not.toContain(PATTERN.repeat(2));
  }, 40_000);

  it('stops both daemons by PID, leaves no socket or link, and then nothing passes', async () => {
    await tb.tunnel.stop();
    for (const [i, p] of tb.tunnel.processes.entries()) {
      expect(p.running).toBe(false);
      expect(existsSync(`${WG_SOCKET_DIR}/${tb.tunnel.ifnames[i]}.sock`)).toBe(false);
      expect((await tb.lan.hosts[i]!.exec('ip', ['link', 'show', 'dev', tb.tunnel.ifnames[i]!])).code).not.toBe(0);
    }
    expect(await ping(0, ['-c', '1', '-W', '1'])).toBe(false);
    await tb.tunnel.stop();
  }, 30_000);
});
