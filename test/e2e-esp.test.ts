// The encrypted data plane end to end: routers launched with a password in network namespaces,
// the user-space ESP engine carrying the containers' traffic, checked from the outside — the
// underlay capture (tshark), the keys weft exports (--esp-keylog) used by tshark to decrypt it, a
// replayed ESP packet, injected cleartext VXLAN, a wrong password, and a crashed router.
//
//   h0 198.18.0.1 ◄── h1 198.18.0.2 ◄── h2 198.18.0.3     (password "s3cret"; h3 has another)
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockUdpPort, canUseNetns, createLan, hasCommand, unblockUdpPort, waitFor, type Host, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';
import type { DataplaneStatus, PathStatus } from '../router/status.js';
import type { ConnectionStatus } from '../mesh/status.js';

const can = canUseNetns();
if (!can.ok) console.warn(`SKIP end-to-end encryption tests: ${can.reason}`);
const canNft = hasCommand('nft');
if (can.ok && !canNft) console.warn('SKIP end-to-end encryption tests: nft not found (apt-get install nftables)');
const canCapture = hasCommand('tshark');
if (can.ok && !canCapture) console.warn('end-to-end encryption: capture checks skipped, tshark not found (apt-get install tshark)');
const PASSWORD = { WEFT_PASSWORD: 's3cret' };
const PATTERN = '5eb1e5ac';

interface Container {
  ns: Host;
  ip: string;
}

describe.skipIf(!can.ok || !canNft)('the encrypted data plane in network namespaces', () => {
  let lan: Lan;
  let hosts: WeftHost[];
  const containers: Container[] = [];
  const keylog = (h: number): string => `${hosts[h]!.dataDir}/esp-keys.txt`;

  const status = (h: number) => hosts[h]!.json<{ paths: PathStatus[]; control: ConnectionStatus[]; dataplane: DataplaneStatus }>(['status', 'connections']);
  const ping = async (from: number, to: number, args: string[] = []): Promise<boolean> =>
    (await containers[from]!.ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', ...args, containers[to]!.ip], { timeoutMs: 20_000 })).code === 0;

  /** Runs fn while tshark captures UDP on h0's eth0; returns the pcap file's name (removed in afterAll). */
  const capture = async (fn: () => Promise<void>, name: string): Promise<string> => {
    const file = `/tmp/${lan.prefix}${name}.pcap`;
    const cap = lan.hosts[0]!.spawn('tshark', ['-q', '-i', 'eth0', '-f', 'udp', '-w', file]);
    await waitFor(() => /Capturing on/.test(cap.output()), { timeoutMs: 10_000, what: 'tshark to start' });
    await fn();
    await new Promise((r) => setTimeout(r, 300));
    await cap.stop();
    captures.push(file);
    return file;
  };
  const captures: string[] = [];
  const fields = async (file: string, f: string[], extra: string[] = []): Promise<string[]> =>
    (await lan.hosts[0]!.exec('tshark', ['-r', file, ...extra, '-T', 'fields', ...f.flatMap((x) => ['-e', x])])).stdout.split('\n').filter(Boolean);

  beforeAll(async () => {
    lan = await createLan({ hosts: 4 });
    hosts = lan.hosts.map((h) => new WeftHost(h));
    for (let i = 0; i < 3; i++) {
      await hosts[i]!.launch(['--esp-keylog', keylog(i), '--ipalloc-init', 'seed=' + ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03'].join(','), '--name', `02:00:00:00:00:0${i + 1}`, ...(i === 0 ? [] : [lan.hosts[i - 1]!.addr])], PASSWORD);
    }
    for (let i = 0; i < 3; i++) {
      const ns = await lan.addContainer();
      const r = await hosts[i]!.weft(['attach', ns.name]);
      expect(r.code, r.stderr).toBe(0);
      const addr = (await ns.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
      containers.push({ ns, ip: /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr)![1]! });
    }
  }, 120_000);

  afterAll(async () => {
    for (const h of hosts ?? []) await h.cleanup();
    for (const f of captures) await lan?.hosts[0]!.exec('rm', ['-f', f]);
    await lan?.cleanup();
  });

  it('keys are negotiated on every connection, and every container pings every other through ESP', async () => {
    for (let h = 0; h < 3; h++) {
      await waitFor(async () => (await status(h)).paths.filter((p) => p.path === 'direct' && p.encryption?.spiOut).length === 2, {
        timeoutMs: 30_000,
        intervalMs: 300,
        what: `h${h} to have ESP keys and a proven direct path to both others`,
      });
    }
    const s = await status(0);
    expect(s.dataplane.encryption?.engine).toBe('user space');
    expect(s.dataplane.mtu).toBe(1500 - 50 - 48);
    for (const p of s.paths) {
      expect(p.encryption).toMatchObject({ encrypted: true, engine: 'user space', cipher: 'aes-256-gcm', state: 'established' });
      expect(p.encryption!.spiIn).toMatch(/^0x[0-9a-f]{8}$/);
    }
    // Receiver-chosen SPIs: what h0 sends to h1 with is what h1 receives with.
    const h1 = (await status(1)).paths.find((p) => p.nickname === lan.hosts[0]!.name)!;
    const toH1 = s.paths.find((p) => p.nickname === lan.hosts[1]!.name)!;
    expect(toH1.encryption!.spiOut).toBe(h1.encryption!.spiIn);
    expect(toH1.encryption!.spiIn).toBe(h1.encryption!.spiOut);
    const failed: string[] = [];
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) if (a !== b && !(await ping(a, b))) failed.push(`c${a}→c${b}`);
    expect(failed).toEqual([]);
    const text = await hosts[0]!.weft(['status', 'connections']);
    expect(text.stdout).toMatch(/encryption: ESP, user-space engine \(TUN weft-esp\)/);
    expect(text.stdout).toMatch(/aes-256-gcm in 0x[0-9a-f]{8} out 0x[0-9a-f]{8}/);
  }, 90_000);

  it('the underlay carries only ESP on UDP 6783: no VXLAN, no trace of the payload; tshark decrypts it with the exported keys', async () => {
    const file = await capture(async () => {
      expect(await ping(0, 1, ['-p', PATTERN, '-s', '200'])).toBe(true);
      expect(await ping(1, 0, ['-p', PATTERN, '-s', '200'])).toBe(true);
    }, 'esp');
    if (!canCapture) return;
    const ports = await fields(file, ['udp.srcport', 'udp.dstport']);
    expect(ports.length).toBeGreaterThan(0);
    expect(ports.filter((l) => l.split('\t').includes('6784'))).toEqual([]);
    const hex = (await fields(file, ['udp.payload'])).join('').replace(/[^0-9a-f]/g, '');
    expect(hex.length).toBeGreaterThan(0);
    expect(hex).not.toContain(PATTERN.repeat(2));

    // The keys weft wrote (--esp-keylog) make tshark's own ESP dissector find VXLAN, Ethernet and ICMP inside.
    const records = [0, 1].flatMap((h) => readFileSync(keylog(h), 'utf8').split('\n').filter(Boolean));
    expect(records.length).toBeGreaterThanOrEqual(4);
    const decode = ['-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', '-d', 'udp.port==6783,udpencap', '-d', 'udp.port==6784,vxlan',
      ...records.flatMap((r) => ['-o', `uat:esp_sa:${r}`])];
    const icmp = await fields(file, ['esp.spi', 'vxlan.vni', 'eth.src', 'icmp.type', 'data.data'], [...decode, '-Y', 'icmp && vxlan']);
    expect(icmp.length).toBeGreaterThanOrEqual(6);
    expect(icmp.every((l) => l.split('\t')[1] === '24241')).toBe(true);
    expect(icmp.some((l) => l.includes(PATTERN.repeat(4)))).toBe(true);
  }, 60_000);

  it('a captured ESP packet sent again is dropped and counted as a replay', async () => {
    if (!canCapture) return;
    const file = await capture(async () => {
      expect(await ping(1, 0, ['-c', '1'])).toBe(true);
    }, 'replay');
    const all = await fields(file, ['ip.src', 'udp.dstport', 'udp.payload']);
    const from1 = all.map((l) => l.split('\t')).filter(([src, port]) => src === lan.hosts[1]!.addr && port === '6783');
    expect(from1.length, all.join('\n')).toBeGreaterThan(0);
    const payload = from1[0]![2]!.replace(/[^0-9a-f]/g, '');
    const before = (await status(0)).paths.find((p) => p.nickname === lan.hosts[1]!.name)!.encryption!.replayDrops;
    const send = `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('${payload}','hex'),6783,'${lan.hosts[0]!.addr}',()=>s.close())`;
    expect((await lan.hosts[1]!.exec(process.execPath, ['-e', send])).code).toBe(0);
    await waitFor(async () => (await status(0)).paths.find((p) => p.nickname === lan.hosts[1]!.name)!.encryption!.replayDrops > before, { timeoutMs: 5_000, what: 'the replay to be counted' });
  }, 30_000);

  it('cleartext VXLAN sent to an encrypted host is dropped and counted; the containers are not reached by it', async () => {
    // From h3, which runs no weft yet (an encrypted host's own VXLAN would be steered into its engine).
    const before = (await status(0)).dataplane.encryption!.cleartextDropped!.inbound;
    const send = `const s=require('dgram').createSocket('udp4');s.send(Buffer.alloc(64),6784,'${lan.hosts[0]!.addr}',()=>s.close())`;
    for (let i = 0; i < 3; i++) expect((await lan.hosts[3]!.exec(process.execPath, ['-e', send])).code).toBe(0);
    // And from a process on h0 itself over loopback (only the engine's marked socket may do that).
    const local = `const s=require('dgram').createSocket('udp4');s.send(Buffer.alloc(64),6784,'127.0.0.1',()=>s.close())`;
    expect((await lan.hosts[0]!.exec(process.execPath, ['-e', local])).code).toBe(0);
    await waitFor(async () => (await status(0)).dataplane.encryption!.cleartextDropped!.inbound >= before + 4, { timeoutMs: 5_000, intervalMs: 200, what: 'the cleartext to be counted' });
    expect((await status(0)).dataplane.encryption!.cleartextDropped!.outbound).toBe(0);
  }, 30_000);

  it('multi-hop: with ESP blocked between h0 and h2, traffic is relayed via h1 and re-encrypted on each hop', async () => {
    await blockUdpPort(lan.hosts[0]!, lan.hosts[2]!, 6783);
    try {
      await waitFor(async () => (await status(0)).paths.find((p) => p.nickname === lan.hosts[2]!.name)?.path === `relay via ${lan.hosts[1]!.name}`, {
        timeoutMs: 20_000, intervalMs: 300, what: 'h0 to relay to h2 via h1',
      });
      const relayed = (await status(1)).dataplane.encryption!.packets;
      expect(await ping(0, 2, ['-p', PATTERN])).toBe(true);
      expect(await ping(2, 0, ['-p', PATTERN])).toBe(true);
      // h1 opened and sealed them: its engine's counters moved by at least the 12 ICMP packets.
      const after = (await status(1)).dataplane.encryption!.packets;
      expect(after.tunOut - relayed.tunOut).toBeGreaterThanOrEqual(12);
      expect(after.sent - relayed.sent).toBeGreaterThanOrEqual(12);
    } finally {
      await unblockUdpPort(lan.hosts[0]!, lan.hosts[2]!, 6783);
    }
  }, 60_000);

  it('a host with the wrong password gets no control connection and no data path, and says why; with the right one and only ChaCha20-Poly1305 it gets that cipher', async () => {
    await hosts[3]!.launch(['--name', '02:00:00:00:00:04', '--ipalloc-init', 'seed=02:00:00:00:00:04', lan.hosts[0]!.addr], { WEFT_PASSWORD: 'wrong' });
    const ns = await lan.addContainer();
    const attach = await hosts[3]!.weft(['attach', '10.32.9.9/12', ns.name]);
    expect(attach.code, attach.stderr).toBe(0);
    await waitFor(async () => (await status(3)).control.some((c) => /password/.test(c.info)), { timeoutMs: 20_000, intervalMs: 300, what: 'h3 to report the password mismatch' });
    const s = await status(3);
    expect(s.control.filter((c) => c.state === 'established')).toEqual([]);
    const text = await hosts[3]!.weft(['status', 'connections']);
    expect(text.stdout).toMatch(/password/);
    expect(s.paths).toEqual([]);
    expect((await ns.exec('ping', ['-c', '2', '-W', '1', containers[0]!.ip], { timeoutMs: 10_000 })).code).not.toBe(0);
    await hosts[3]!.stop();

    // The same host with the right password and only ChaCha20-Poly1305: the pair agrees on it.
    await hosts[3]!.launch(['--name', '02:00:00:00:00:04', '--ipalloc-init', 'seed=02:00:00:00:00:04', '--esp-cipher', 'chacha20-poly1305', lan.hosts[0]!.addr], PASSWORD);
    // Each side reports the path once its own probes and SAs are up; the two need not get there in the same instant.
    await waitFor(async () => (await status(3)).paths.find((p) => p.nickname === lan.hosts[0]!.name)?.encryption?.cipher === 'chacha20-poly1305'
      && (await status(0)).paths.find((p) => p.nickname === lan.hosts[3]!.name)?.encryption?.cipher === 'chacha20-poly1305', {
      timeoutMs: 20_000, intervalMs: 300, what: 'h3 and h0 to agree on ChaCha20-Poly1305',
    });
    await waitFor(async () => (await ns.exec('ping', ['-c', '1', '-W', '1', containers[0]!.ip], { timeoutMs: 10_000 })).code === 0, {
      timeoutMs: 20_000, intervalMs: 300, what: 'h3\'s container to reach c0 over ChaCha20-Poly1305',
    });
    await hosts[3]!.stop();
  }, 90_000);

  it('with its router killed, a host sends nothing in clear: traffic stops, and comes back encrypted after a restart', async () => {
    await hosts[0]!.crash();
    const file = await capture(async () => {
      expect(await ping(0, 1, ['-c', '2'])).toBe(false);
    }, 'crash');
    if (canCapture) expect((await fields(file, ['udp.dstport'])).filter((p) => p === '6784')).toEqual([]);
    await hosts[0]!.launch(['--esp-keylog', keylog(0), '--name', '02:00:00:00:00:01', '--ipalloc-init', 'seed=02:00:00:00:00:01,02:00:00:00:00:02,02:00:00:00:00:03', lan.hosts[1]!.addr], PASSWORD);
    try {
      await waitFor(() => ping(0, 1, ['-c', '1']), { timeoutMs: 30_000, intervalMs: 300, what: 'the encrypted path to come back after the restart' });
    } catch (err) {
      for (const h of [0, 1]) console.log(`h${h}:`, JSON.stringify(await status(h), null, 1), (await hosts[h]!.weft(['status', 'connections'])).stdout);
      console.log(readFileSync(`${hosts[0]!.dataDir}/weft.log`, 'utf8').split('\n').filter((l) => /esp|ESP|warn|error/.test(l)).slice(-40).join('\n'));
      throw err;
    }
  }, 90_000);

  it('relaunched without a password, a host removes the encrypted run\'s guard, rules and TUN, so cleartext VXLAN works again', async () => {
    const h = lan.hosts[2]!;
    expect((await h.exec('nft', ['list', 'table', 'inet', 'weft_esp'])).code).toBe(0);
    await hosts[2]!.stop();
    await hosts[2]!.launch(['--name', '02:00:00:00:00:03', '--ipalloc-init', 'seed=02:00:00:00:00:03']);
    await waitFor(async () => !(await h.exec('ip', ['rule', 'show'])).stdout.includes('6784'), { timeoutMs: 10_000, intervalMs: 200, what: 'the ESP rules to go' });
    expect((await h.exec('nft', ['list', 'table', 'inet', 'weft_esp'])).code).not.toBe(0);
    expect((await h.exec('ip', ['link', 'show', 'weft-esp'])).code).not.toBe(0);
    expect((await h.exec('ip', ['route', 'show', 'table', '6784'])).stdout.trim()).toBe('');
  }, 60_000);
});
