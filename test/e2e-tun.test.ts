// The user-space ESP engine's data path, as a spike (issue 5, docs/research/userspace-engine.md):
// the kernel keeps doing VXLAN, a FIB rule steers each host's VXLAN packets for the other host into
// TUN weft-esp, and a relay process (bench/userspace-spike.ts) carries them over UDP 6783.
//
//   h0 198.18.0.1                                        h1 198.18.0.2
//   c0 ─ weft ─ vxlan-weft ─(rule)─► weft-esp ─ relay ═ UDP 6783 ═ relay ─ weft-esp ─► vxlan-weft ─ weft ─ c1
//
// The relays are set up from here, not by the daemon; weft itself runs unchanged.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, hasCommand, waitFor, type Host, type HostProcess, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';

const here = dirname(fileURLToPath(import.meta.url));
const SPIKE_JS = resolve(here, '../dist/bench/userspace-spike.js');
const can = canUseNetns();
if (!can.ok) console.warn(`SKIP user-space engine spike: ${can.reason}`);
const canCapture = hasCommand('tshark');
const PATTERN = '5eb1e5ac';

describe.skipIf(!can.ok)('VXLAN routed through a TUN and relayed over UDP 6783', () => {
  let lan: Lan;
  let weft: WeftHost[];
  const containers: { ns: Host; ip: string }[] = [];
  let relays: HostProcess[] = [];

  const ping = async (from: number, to: number, args: string[] = []): Promise<boolean> =>
    (await containers[from]!.ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', ...args, containers[to]!.ip], { timeoutMs: 20_000 })).code === 0;
  const ip = async (h: number, args: string[]): Promise<void> => {
    const r = await lan.hosts[h]!.exec('ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')} on h${h}: ${r.stderr}`);
  };

  const startRelays = async (extra: string[]): Promise<void> => {
    await stopRelays();
    relays = lan.hosts.map((h, i) => h.spawn(process.execPath, [SPIKE_JS, 'relay', '--local', h.addr, '--peer', lan.hosts[1 - i]!.addr, ...extra]));
    for (const r of relays) await waitFor(() => r.stdout().includes('ready') || !r.running, { what: 'the relay to open its TUN' });
    for (const r of relays) expect(r.running, r.output()).toBe(true);
    // Setting the device down or removing it flushes its routes; the blackhole (highest metric) stays.
    for (const h of [0, 1]) {
      await ip(h, ['link', 'set', 'weft-esp', 'up']);
      await ip(h, ['route', 'replace', 'default', 'dev', 'weft-esp', 'table', '6784']);
    }
  };
  const stopRelays = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const r of relays) {
      await r.stop();
      out.push(r.stdout());
    }
    relays = [];
    return out;
  };

  /** Runs fn while tshark captures UDP on h0's eth0; returns "src dst dport" per packet. */
  const capture = async (fn: () => Promise<void>): Promise<{ lines: string[]; hex: string }> => {
    const file = `/tmp/${lan.prefix}esp.pcap`;
    const cap = lan.hosts[0]!.spawn('tshark', ['-q', '-i', 'eth0', '-f', 'udp', '-w', file]);
    await waitFor(() => /Capturing on/.test(cap.output()), { timeoutMs: 10_000, what: 'tshark to start' });
    await fn();
    await new Promise((r) => setTimeout(r, 300));
    await cap.stop();
    const fields = await lan.hosts[0]!.exec('tshark', ['-r', file, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport']);
    const raw = await lan.hosts[0]!.exec('tshark', ['-r', file, '-T', 'fields', '-e', 'data.data', '-e', 'udp.payload']);
    await lan.hosts[0]!.exec('rm', ['-f', file]);
    return { lines: fields.stdout.split('\n').filter(Boolean), hex: raw.stdout.replace(/[^0-9a-f]/g, '') };
  };

  beforeAll(async () => {
    lan = await createLan({ hosts: 2 });
    weft = lan.hosts.map((h) => new WeftHost(h));
    await weft[0]!.launch([]);
    await weft[1]!.launch([lan.hosts[0]!.addr]);
    for (const w of weft) {
      const ns = await lan.addContainer();
      const r = await w.weft(['attach', ns.name]);
      expect(r.code, r.stderr).toBe(0);
      const addr = (await ns.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
      containers.push({ ns, ip: /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr)![1]! });
    }
    await waitFor(() => ping(0, 1), { timeoutMs: 30_000, intervalMs: 500, what: 'the containers to ping over the kernel path' });
    for (const h of [0, 1]) {
      const peer = lan.hosts[1 - h]!.addr;
      await ip(h, ['route', 'add', 'blackhole', 'default', 'metric', '4294967295', 'table', '6784']);
      await ip(h, ['rule', 'add', 'to', `${peer}/32`, 'ipproto', 'udp', 'dport', '6784', 'lookup', '6784', 'priority', '100']);
    }
  }, 120_000);

  afterAll(async () => {
    await stopRelays().catch(() => undefined);
    for (const w of weft ?? []) await w.cleanup();
    await lan?.cleanup(); // the namespaces take the TUN devices, rules and routes with them
  });

  it('with the rule in place but no TUN yet, the blackhole in table 6784 stops the traffic: no cleartext fallback', async () => {
    expect(await ping(0, 1, ['-c', '1'])).toBe(false);
  });

  it('with the relay (no encryption) the containers ping each other once rp_filter allows the TUN', async () => {
    for (const h of [0, 1]) await lan.hosts[h]!.exec('sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1']);
    await startRelays([]);
    expect(await ping(0, 1)).toBe(false); // strict reverse-path filtering drops what the TUN delivers
    for (const h of [0, 1]) await lan.hosts[h]!.exec('sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.weft-esp.rp_filter=0']);
    // weft's own probes took the blocked path too, so the router marked the peer unreachable; they
    // prove it again within a probe interval or two, and then the containers' traffic flows.
    await waitFor(() => ping(0, 1, ['-c', '1']), { timeoutMs: 20_000, intervalMs: 200, what: 'the path through the TUN to be proven again' });
    const { lines } = await capture(async () => {
      expect(await ping(0, 1)).toBe(true);
    });
    const stats = await stopRelays();
    expect(stats.join('\n')).toMatch(/"tunOut":[1-9]/);
    if (canCapture) {
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.filter((l) => l.endsWith('\t6784'))).toEqual([]);
      // Full-size probes grow past the underlay MTU once re-wrapped; their later fragments carry no
      // UDP header (empty port). First fragments do, so a 6784 packet could not hide among them.
      expect(lines.filter((l) => !/\t(6783)?$/.test(l))).toEqual([]);
    }
  }, 60_000);

  it('with ESP (AES-256-GCM) the containers ping each other and the payload pattern never crosses in clear', async () => {
    await startRelays(['--esp']);
    const { lines, hex } = await capture(async () => {
      expect(await ping(0, 1, ['-p', PATTERN])).toBe(true);
      expect(await ping(1, 0, ['-p', PATTERN])).toBe(true);
    });
    const stats = await stopRelays();
    expect(stats.join('\n')).not.toMatch(/esp-auth-failed/);
    if (canCapture) {
      expect(lines.filter((l) => l.endsWith('\t6784'))).toEqual([]);
      expect(hex.length).toBeGreaterThan(0);
      expect(hex).not.toContain(PATTERN.repeat(2));
    }
  }, 60_000);
});
