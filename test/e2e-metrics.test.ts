// Metrics end to end (issue 14): a real Prometheus server (Debian's `prometheus`, private config
// and TSDB in a temp dir) scrapes two real routers every second, and its query API shows the
// known events: a connection established, a container attached, a path changed to a relay, an ESP
// replay dropped. promtool checks the routers' exposition; /healthz, /readyz and `weft status`
// agree; the launch default is loopback only; a taken metrics port is refused with what to do.
//
//   h0 198.18.0.1 ◄── h1 198.18.0.2 ◄── h2 198.18.0.3     (password; UDP 6783 blocked h0↔h2 later)
//   metrics: h0 and h1 on their node address :6782; h2 with launch's default (127.0.0.1:6782 in h2)
//   prometheus: inside h0's namespace on 127.0.0.1:9090 (a fresh namespace: nothing else listens
//   there), scraping 198.18.0.1:6782 and 198.18.0.2:6782 over the test LAN; queried from inside h0.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockUdpPort, canUseNetns, createLan, hasCommand, unblockUdpPort, waitFor, type HostProcess, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';

const can = canUseNetns();
if (!can.ok) console.warn(`SKIP end-to-end metrics tests: ${can.reason}`);
const canProm = hasCommand('prometheus') && hasCommand('promtool');
if (can.ok && !canProm) console.warn('SKIP end-to-end metrics tests: prometheus/promtool not found (apt-get install prometheus; `make test` installs it)');
const canNft = hasCommand('nft');
if (can.ok && canProm && !canNft) console.warn('end-to-end metrics: the relay check is skipped, nft not found (apt-get install nftables)');
const canCapture = hasCommand('tshark');
if (can.ok && canProm && !canCapture) console.warn('end-to-end metrics: the ESP replay check is skipped, tshark not found (apt-get install tshark)');

const PASSWORD = { WEFT_PASSWORD: 'm3trics' };
const PROM = '127.0.0.1:9090';
const NAMES = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03'];

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe.skipIf(!can.ok || !canProm)('Prometheus scrapes two routers and sees what happened', () => {
  let lan: Lan;
  let hosts: WeftHost[];
  let prom: HostProcess | undefined;
  let promDir: string | undefined;
  const started = Date.now();
  const target = (h: number): string => `${lan.hosts[h]!.addr}:6782`;

  /** An instant query against the Prometheus server in h0. */
  const query = async (expr: string): Promise<Sample[]> => {
    const js = "fetch('http://" + PROM + "/api/v1/query?query=' + encodeURIComponent(process.env.Q)).then((r) => r.text()).then((t) => process.stdout.write(t))";
    const r = await lan.hosts[0]!.exec(process.execPath, ['-e', js], { env: { Q: expr }, timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`query ${expr}: ${r.stderr}`);
    const j = JSON.parse(r.stdout) as { status: string; data: { result: Sample[] }; error?: string };
    if (j.status !== 'success') throw new Error(`query ${expr}: ${j.error}`);
    return j.data.result;
  };
  /** The one value of a query that selects one series; undefined when it selects none. */
  const value = async (expr: string): Promise<number | undefined> => {
    const r = await query(expr);
    if (r.length > 1) throw new Error(`${expr} selects ${r.length} series: ${JSON.stringify(r.map((s) => s.metric))}`);
    return r[0] === undefined ? undefined : Number(r[0].value[1]);
  };
  /** Waits until Prometheus has scraped a value of expr that satisfies ok (scrapes are 1 s apart). */
  const until = async (expr: string, ok: (v: number) => boolean, what: string, timeoutMs = 20_000): Promise<number> =>
    waitFor(async () => {
      const v = await value(expr);
      return v !== undefined && ok(v) ? { v } : undefined;
    }, { timeoutMs, intervalMs: 500, what: `Prometheus to see ${what} (${expr})` }).then((r) => r.v);
  const fetchIn = async (h: number, url: string): Promise<{ status: number; body: string }> => {
    const js = "fetch(process.env.U).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() }))).catch((e) => { process.stderr.write(String(e.cause ?? e)); process.exit(3); })";
    const r = await lan.hosts[h]!.exec(process.execPath, ['-e', js], { env: { U: url }, timeoutMs: 10_000 });
    if (r.code !== 0) return { status: 0, body: r.stderr };
    return JSON.parse(r.stdout) as { status: number; body: string };
  };
  const launch = (h: number, extra: string[]): Promise<string> =>
    hosts[h]!.launch(['--name', NAMES[h]!, '--ipalloc-init', `seed=${NAMES.join(',')}`, ...extra, ...(h === 0 ? [] : [lan.hosts[h - 1]!.addr])], PASSWORD);

  beforeAll(async () => {
    lan = await createLan({ hosts: 3 });
    hosts = lan.hosts.map((h) => new WeftHost(h));
    await launch(0, ['--metrics-addr', target(0)]);
    promDir = mkdtempSync(join(tmpdir(), 'weft-prometheus-'));
    const config = join(promDir, 'prometheus.yml');
    writeFileSync(config, [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: weft',
      '    static_configs:',
      `      - targets: ['${target(0)}', '${target(1)}']`,
      '',
    ].join('\n'));
    prom = lan.hosts[0]!.spawn('prometheus', [
      `--config.file=${config}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=${PROM}`,
      '--storage.tsdb.retention.time=1h', '--log.level=warn',
    ]);
    await waitFor(async () => (await fetchIn(0, `http://${PROM}/-/ready`)).status === 200, { timeoutMs: 30_000, intervalMs: 300, what: `Prometheus to be ready (output: ${prom.output().slice(-500)})` });
  }, 120_000);

  afterAll(async () => {
    // Prometheus by its PID (the harness's process), then its dirs; the routers; the namespaces.
    await prom?.stop({ graceMs: 3_000 });
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    for (const h of hosts ?? []) await h.cleanup();
    await lan?.cleanup();
    console.log(`e2e-metrics: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it('a connection established: h0 alone has none, then both routers count one encrypted connection per peer', async () => {
    await until(`weft_connections{instance="${target(0)}",state="established",encryption="encrypted"}`, (v) => v === 0, 'h0 with no connection yet');
    await until(`up{instance="${target(1)}"}`, (v) => v === 0, 'h1 not up yet');
    await launch(1, ['--metrics-addr', target(1)]);
    await launch(2, []);
    for (const h of [0, 1]) {
      await until(`weft_connections{instance="${target(h)}",state="established",encryption="encrypted"}`, (v) => v === 2, `h${h} connected to both others`);
      await until(`weft_peers{instance="${target(h)}"}`, (v) => v === 3, `h${h} knowing 3 peers`);
      await until(`weft_routes{instance="${target(h)}"}`, (v) => v === 2, `h${h} routing to 2 peers`);
    }
    expect(await value(`up{instance="${target(1)}"}`)).toBe(1);
    expect(await value(`weft_connections{instance="${target(0)}",state="established",encryption="unencrypted"}`)).toBeUndefined();
    // Ready once the data plane is programmed and the ring seeded: the same answer four ways.
    await until(`weft_ready{instance="${target(0)}"}`, (v) => v === 1, 'h0 ready');
    expect(await fetchIn(0, `http://${target(0)}/readyz`)).toEqual({ status: 200, body: '{"ready":true,"reasons":[]}\n' });
    const health = await fetchIn(0, `http://${target(0)}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ alive: true, name: NAMES[0] });
    expect((await hosts[0]!.weft(['status'])).stdout).toMatch(/^ +Ready: yes$/m);
    // The metrics listener is not the control API: nothing but its three paths.
    expect((await fetchIn(0, `http://${target(0)}/status`)).status).toBe(404);
    // weft launch's default: loopback only (h2's own 127.0.0.1), not the node address.
    expect((await fetchIn(2, 'http://127.0.0.1:6782/healthz')).status).toBe(200);
    expect((await fetchIn(2, `http://${target(2)}/healthz`)).status).toBe(0);
  }, 90_000);

  it('promtool check metrics passes on both routers\' exposition', async () => {
    for (const h of [0, 1]) {
      const r = await fetchIn(0, `http://${target(h)}/metrics`);
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/^weft_dataplane_reconciles_total [1-9]/m);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: r.body, encoding: 'utf8' });
      expect({ code: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({ code: 0, output: '' });
    }
  });

  it('a container attached: h0 counts a local endpoint, h1 a remote one', async () => {
    const remoteBefore = (await value(`weft_endpoints{instance="${target(1)}",location="remote"}`)) ?? -1;
    expect(await value(`weft_endpoints{instance="${target(0)}",location="local"}`)).toBe(0);
    const ns = await lan.addContainer();
    const r = await hosts[0]!.weft(['attach', ns.name]);
    expect(r.code, r.stderr).toBe(0);
    await until(`weft_endpoints{instance="${target(0)}",location="local"}`, (v) => v === 1, 'the attached container on h0');
    await until(`weft_endpoints{instance="${target(1)}",location="remote"}`, (v) => v === remoteBefore + 1, 'h0\'s container on h1');
    await until(`weft_ipam_allocations{instance="${target(0)}"}`, (v) => v === 1, 'h0\'s allocation');
  }, 60_000);

  it('an ESP replay dropped: a captured packet sent again is counted by h0', async () => {
    if (!canCapture) return;
    const file = `/tmp/${lan.prefix}metrics-replay.pcap`;
    try {
      const cap = lan.hosts[0]!.spawn('tshark', ['-q', '-i', 'eth0', '-f', `udp and src host ${lan.hosts[1]!.addr} and dst port 6783`, '-c', '5', '-w', file]);
      await waitFor(() => /Capturing on/.test(cap.output()), { timeoutMs: 10_000, what: 'tshark to start' });
      // Anything h1 seals for h0 will do: a container on h1 pings the one on h0.
      const c1 = await lan.addContainer();
      expect((await hosts[1]!.weft(['attach', c1.name])).code).toBe(0);
      const c0 = (await hosts[0]!.json<{ ips: string[]; local: boolean; container: string | null }[]>(['status', 'endpoints'])).find((e) => e.local && e.container !== null)!;
      const ip = c0.ips[0]!.split('/')[0]!;
      await waitFor(async () => (await c1.exec('ping', ['-c', '1', '-W', '1', ip])).code === 0, { timeoutMs: 20_000, intervalMs: 300, what: `h1's container to reach ${ip}` });
      // The capture may not have written the packets yet when the ping returns (CI once read an
      // empty file here): read it until a sealed packet is in it, pinging again meanwhile.
      let payload: string | undefined;
      await waitFor(
        async () => {
          const fields = await lan.hosts[0]!.exec('tshark', ['-r', file, '-T', 'fields', '-e', 'udp.payload']);
          payload = fields.stdout.split('\n').find(Boolean)?.replace(/[^0-9a-f]/g, '');
          if (!payload) await c1.exec('ping', ['-c', '1', '-W', '1', ip]);
          return Boolean(payload);
        },
        { timeoutMs: 20_000, intervalMs: 300, what: 'a packet h1 sealed for h0 in the capture' },
      );
      await cap.stop();
      const before = await until(`weft_esp_replay_drops_total{instance="${target(0)}",engine="user"}`, () => true, 'h0\'s replay counter');
      const send = `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('${payload}','hex'),6783,'${lan.hosts[0]!.addr}',()=>s.close())`;
      expect((await lan.hosts[1]!.exec(process.execPath, ['-e', send])).code).toBe(0);
      await until(`weft_esp_replay_drops_total{instance="${target(0)}",engine="user"}`, (v) => v > before, 'the replay counted');
      expect(await value(`weft_esp_auth_drops_total{instance="${target(0)}",engine="user"}`)).toBe(0);
      expect(await value(`weft_esp_packets_total{instance="${target(0)}",engine="user",direction="received"}`)).toBeGreaterThan(0);
      expect(await value(`weft_esp_bytes_total{instance="${target(0)}",engine="user",direction="received"}`)).toBeGreaterThan(0);
    } finally {
      rmSync(file, { force: true });
    }
  }, 60_000);

  it.skipIf(!canNft)('a path changed to a relay: with ESP blocked between h0 and h2, h0 relays via h1 and h1 serves it', async () => {
    // Both direct first (h2 joined last: its path may still be proving itself).
    await until(`weft_dataplane_paths{instance="${target(0)}",kind="direct"}`, (v) => v === 2, 'h0 direct to both', 30_000);
    const changesBefore = (await value(`weft_dataplane_path_changes_total{instance="${target(0)}",to="relay"}`)) ?? 0;
    await blockUdpPort(lan.hosts[0]!, lan.hosts[2]!, 6783);
    try {
      await until(`weft_dataplane_paths{instance="${target(0)}",kind="relay"}`, (v) => v === 1, 'h0\'s path to h2 relayed', 30_000);
      await until(`weft_dataplane_path_changes_total{instance="${target(0)}",to="relay"}`, (v) => v >= changesBefore + 1, 'the change counted');
      expect(await value(`weft_dataplane_peer_path{instance="${target(0)}",peer="${NAMES[2]}",kind="relay"}`)).toBe(1);
      await until(`weft_dataplane_relays_served{instance="${target(1)}"}`, (v) => v >= 1, 'h1 relaying');
    } finally {
      await unblockUdpPort(lan.hosts[0]!, lan.hosts[2]!, 6783);
    }
    await until(`weft_dataplane_paths{instance="${target(0)}",kind="direct"}`, (v) => v === 2, 'h0 direct to both again', 30_000);
    expect(await value(`weft_dataplane_path_changes_total{instance="${target(0)}",to="direct"}`)).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('a taken metrics port is refused at start with what to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-metrics-clash-'));
    try {
      // h2's router holds 127.0.0.1:6782 (launch's default) in its namespace.
      const r = await hosts[2]!.weft(['router', '--no-dataplane', '--port', '7000', '--http-addr', '127.0.0.1:7001', '--data-dir', dir, '--metrics-addr', '127.0.0.1:6782']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('metrics address 127.0.0.1:6782 is in use (another weft, or another exporter on that port) — pass --metrics-addr with another host:port, or --metrics-addr off');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
