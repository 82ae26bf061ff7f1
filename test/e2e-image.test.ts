// weft's container image (docker/Dockerfile) on namespace hosts: built (cached by input hash), run
// Weave-style with host networking and the documented capabilities (the host's CLI talks to it as to
// a native router; podman stop is a clean, prompt exit; exit codes propagate), and the Kubernetes
// DaemonSet's own pod template under `podman kube play` on two hosts: the routers come up with the
// ConfigMap's settings and the Secret's password, find each other, and carry traffic between
// containers that podman attaches through the CNI plugin the init container installed.
//
//   h0 198.18.0.1 ◄── mesh (encrypted: Secret weft-password) ──► h1 198.18.0.2      h2 198.18.0.3
//   pod weft-h0 (kube play)                                       pod weft-h1          podman run (Weave-style)
//    ├─ install-cni → <h0>/bin/weft, <h0>/net.d/10-weft.conflist   (same)
//    └─ weft router (host network)                                                       + weft attach
//   busybox a ──────────────── ping over the overlay 10.48.0.0/24 ─────────────── busybox b
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';
import { canValidate, find, podFromDaemonSet, validate, MANIFEST, type Obj } from './harness/k8s/manifests.js';
import { canUsePodman } from './harness/runtimes/capabilities.js';
import { privateDir, removePrivateDir } from './harness/runtimes/dirs.js';
import { Podman } from './harness/runtimes/podman.js';
import { WEFT_IMAGE, archiveBytes, canBuildImage, loadWeftImage, weftImageArchive, type BuiltImage } from './harness/runtimes/weft-image.js';

const RANGE = '10.48.0.0/24';
const IN_RANGE = /^10\.48\.0\.\d+$/;
const PASSWORD = 'weft-k8s-test-password';
const IMAGE_BUDGET_BYTES = 150e6;
/** The Weave-style launch's capabilities (docs/kubernetes.md): the DaemonSet's three and SYS_PTRACE for /proc/PID netns paths. */
const CAPS = ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'SYS_PTRACE'];

const netns = canUseNetns();
const can = [netns, netns.ok ? canUsePodman() : netns, canBuildImage(), canValidate()].find((c) => !c.ok) ?? { ok: true as const };
if (!can.ok) console.warn(`SKIP weft's container image and Kubernetes pod template: ${can.reason}`);

/** GET http://ADDR/PATH from inside a host (Node's fetch; nothing leaves the test's namespaces). */
async function httpGet(h: WeftHost, url: string): Promise<{ status: number; body: string }> {
  const r = await h.host.exec(process.execPath, ['-e', `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(2000) }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), () => process.exit(1))`]);
  return r.code === 0 ? (JSON.parse(r.stdout) as { status: number; body: string }) : { status: 0, body: r.stderr };
}

describe.skipIf(!can.ok)("weft's container image", () => {
  let lan: Lan;
  let image: BuiltImage;
  let imageSize = 0;
  const podmans: Podman[] = [];
  const dirs: string[] = [];
  const clis: WeftHost[] = [];

  beforeAll(async () => {
    image = await weftImageArchive();
    console.log(`image: ${image.cached ? 'cached archive' : `built in ${(image.buildMs / 1000).toFixed(0)} s`}, archive ${(archiveBytes(image.archive) / 1e6).toFixed(1)} MB`);
    lan = await createLan({ hosts: 3 });
  }, 30 * 60_000);
  afterAll(async () => {
    for (const p of podmans) {
      // pods first (their infra containers cannot be removed alone), then every container
      await p.podman(['pod', 'rm', '--all', '--force', '--time', '10'], { timeoutMs: 60_000 });
      await p.cleanup();
    }
    for (const c of clis) await c.cleanup();
    for (const d of dirs) removePrivateDir(d);
    await lan?.cleanup();
  }, 180_000);

  const podmanOn = async (i: number, withBusybox: boolean, confDir: string, pluginDirs: string[] = []): Promise<Podman> => {
    const p = await Podman.create(lan.hosts[i], { cniConfDir: confDir, cniPluginDirs: pluginDirs, withBusybox });
    podmans.push(p);
    imageSize = await loadWeftImage(p, image.archive);
    return p;
  };
  const dir = (label: string): string => {
    const d = privateDir(label);
    dirs.push(d);
    return d;
  };
  /** h2's podman (no CNI network: the router there uses host networking), made on first use. */
  let h2Podman: Promise<Podman> | undefined;
  const podman2 = (): Promise<Podman> => (h2Podman ??= podmanOn(2, false, dir('img-net')));
  const cli = (i: number): WeftHost => {
    const c = new WeftHost(lan.hosts[i]!);
    clis.push(c);
    return c;
  };

  it(`is under ${IMAGE_BUDGET_BYTES / 1e6} MB and runs the CLI; a usage error's exit code comes out of podman run`, async () => {
    const p = await podman2();
    console.log(`image: ${(imageSize / 1e6).toFixed(1)} MB (podman image inspect .Size)`);
    expect(imageSize).toBeGreaterThan(20e6);
    expect(imageSize).toBeLessThan(IMAGE_BUDGET_BYTES);
    expect(await p.ok(['run', '--rm', WEFT_IMAGE, '--version'])).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = await p.podman(['run', '--rm', WEFT_IMAGE, 'router', '--port', 'notaport']);
    expect(bad.stderr).toMatch(/--port/);
    expect(bad.code).not.toBe(0);
    // the same code as the CLI on the host gives
    const native = await cli(2).weft(['router', '--port', 'notaport']);
    expect(bad.code).toBe(native.code);
  });

  it('runs Weave-style (host network, a capability list, host PID): the host CLI attaches a container; podman stop exits 0 promptly', async () => {
    const h = lan.hosts[2]!;
    const p = await podman2();
    const data = dir('img-data');
    const name = 'weft';
    // The command line README.md documents (with this test's data dir and range); without
    // `--pid host` the router is PID 1 of its own PID namespace.
    const runArgs = (pidHost: boolean): string[] => [
      'run', '-d', '--name', name, '--network', 'host', ...(pidHost ? ['--pid', 'host'] : []),
      '--cap-drop', 'ALL', ...CAPS.flatMap((c) => ['--cap-add', c]),
      '--device', '/dev/net/tun',
      '-v', `${data}:/var/lib/weft`, '-v', '/run/netns:/run/netns:rslave',
      '-e', `WEFT_PASSWORD=${PASSWORD}`,
      WEFT_IMAGE, 'router', '--ipalloc-range', RANGE, '--metrics-addr', '127.0.0.1:6782',
    ];
    await p.ok(runArgs(true));
    const c = cli(2);
    await waitFor(async () => (await c.weft(['status'])).code === 0, { timeoutMs: 30_000, intervalMs: 200, what: `the router in the container on ${h.name} to answer the host's weft status` });
    const status = await c.weft(['status']);
    expect(status.stdout).toMatch(/Encryption:\s+enabled/);
    await waitFor(async () => (await httpGet(c, 'http://127.0.0.1:6782/readyz')).status === 200, { timeoutMs: 30_000, intervalMs: 200, what: 'readyz to answer 200' });
    // a container (a namespace made after the router started) and a process's /proc/PID/ns/net
    const ctr = await lan.addContainer();
    const att = await c.weft(['attach', '10.48.0.10/24', `/run/netns/${ctr.name}`]);
    expect(att.code, att.stderr).toBe(0);
    const addr = await ctr.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.stdout).toContain('10.48.0.10/24');
    const ping = await ctr.exec('ping', ['-c', '1', '-W', '2', '10.48.0.10']);
    expect(ping.code).toBe(0);
    // a namespace named by a process (`weft attach PID`): /proc/PID/ns/net, which SYS_PTRACE opens
    const ctr2 = await lan.addContainer();
    const sleeper = ctr2.spawn('sleep', ['120']);
    const att2 = await c.weft(['attach', '10.48.0.11/24', String(sleeper.pid)]);
    expect(att2.code, att2.stderr).toBe(0);
    expect((await ctr2.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain('10.48.0.11/24');
    expect((await ctr2.exec('ping', ['-c', '1', '-W', '2', '10.48.0.10'])).code).toBe(0);
    await sleeper.stop();
    // podman stop: SIGTERM to the router (PID 1 without --pid host; here the router's own handler either way)
    const started = Date.now();
    await p.ok(['stop', '--time', '20', name], { timeoutMs: 60_000 });
    const stopMs = Date.now() - started;
    const code = await p.ok(['inspect', '--format', '{{.State.ExitCode}}', name]);
    console.log(`image: podman stop of the router took ${stopMs} ms, exit code ${code}`);
    expect(code).toBe('0');
    expect(stopMs).toBeLessThan(15_000);
    await p.ok(['rm', name]);
    // as PID 1 in its own PID namespace, too
    await p.ok(runArgs(false));
    await waitFor(async () => (await c.weft(['status'])).code === 0, { timeoutMs: 30_000, intervalMs: 200, what: 'the router (PID 1) to answer' });
    expect(await p.ok(['exec', name, 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "'])).toMatch(/^\/usr\/bin\/node \/opt\/weft\/dist\/weft\.cjs router/);
    const t0 = Date.now();
    await p.ok(['stop', '--time', '20', name], { timeoutMs: 60_000 });
    const pid1StopMs = Date.now() - t0;
    console.log(`image: podman stop of the router as PID 1 took ${pid1StopMs} ms, exit code ${await p.ok(['inspect', '--format', '{{.State.ExitCode}}', name])}`);
    expect(await p.ok(['inspect', '--format', '{{.State.ExitCode}}', name])).toBe('0');
    expect(pid1StopMs).toBeLessThan(15_000);
    await p.ok(['rm', name]);
  }, 180_000);

  it('needs each capability of the list: without one, the router or an attach fails, saying why', async () => {
    const p = await podman2();
    const c = cli(2);
    const data = dir('img-caps');
    const ctr = await lan.addContainer();
    const sleeper = ctr.spawn('sleep', ['300']);
    // without X: [how it shows, expected message]: 'start' = the router exits, 'ready' = it runs but
    // `weft status` says it is not ready and why, 'attach' = attaching fails
    const cases: [string, 'start' | 'ready' | 'attach', RegExp, string][] = [
      ['NET_ADMIN', 'ready', /Ready:\s+no — the data plane's last kernel update failed: .*EPERM/, `/run/netns/${ctr.name}`],
      ['NET_RAW', 'start', /socket\(AF_PACKET\) failed: Operation not permitted/, `/run/netns/${ctr.name}`],
      ['SYS_ADMIN', 'attach', /setns .* Operation not permitted/, `/run/netns/${ctr.name}`],
      ['SYS_PTRACE', 'attach', /cannot be read \(permission denied\)/, String(sleeper.pid)],
    ];
    try {
      for (const [without, how, message, target] of cases) {
        const name = `no-${without.toLowerCase()}`;
        const caps = CAPS.filter((x) => x !== without);
        await p.ok(['run', '-d', '--name', name, '--network', 'host', '--pid', 'host', '--cap-drop', 'ALL', ...caps.flatMap((x) => ['--cap-add', x]), '--device', '/dev/net/tun', '-v', `${data}:/var/lib/weft`, '-v', '/run/netns:/run/netns:rslave', WEFT_IMAGE, 'router', '--ipalloc-range', RANGE]);
        if (how === 'start') {
          const code = await p.ok(['wait', name], { timeoutMs: 60_000 });
          const logs = await p.podman(['logs', name]);
          expect(code, `the router without ${without} must fail`).not.toBe('0');
          expect(`${logs.stdout}${logs.stderr}`, `the router without ${without}`).toMatch(message);
        } else if (how === 'ready') {
          await waitFor(async () => message.test((await c.weft(['status'])).stdout), { timeoutMs: 30_000, intervalMs: 200, what: `the router without ${without} to say why it is not ready` });
        } else {
          await waitFor(async () => (await c.weft(['status'])).code === 0, { timeoutMs: 30_000, intervalMs: 200, what: `the router without ${without} to answer` });
          const att = await c.weft(['attach', '10.48.0.20/24', target]);
          expect(att.code, `attach without ${without}`).not.toBe(0);
          expect(`${att.stdout}${att.stderr}`).toMatch(message);
        }
        await p.ok(['rm', '--force', '--time', '10', name], { timeoutMs: 60_000 });
      }
    } finally {
      await sleeper.stop();
    }
  }, 180_000);

  it('the DaemonSet pod template under podman kube play on two hosts: ConfigMap settings, Secret password, containers across hosts', async () => {
    const v = validate(MANIFEST);
    expect(v.problems).toEqual([]);
    const ds = find(v.docs, 'DaemonSet');
    const cm = structuredClone(find(v.docs, 'ConfigMap')) as Obj & { data: Record<string, string> };
    // The cluster's settings: the two nodes' addresses and a test range; the rest as shipped.
    cm.data.WEFT_PEERS = lan.hosts.slice(0, 2).map((h) => h.addr).join(' ');
    cm.data.WEFT_IPALLOC_RANGE = RANGE;
    const secret: Obj & { data: Record<string, string> } = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'weft-password', namespace: 'kube-system' },
      data: { password: Buffer.from(PASSWORD).toString('base64') },
    };
    const setup = dir('kube');
    const cmFile = join(setup, 'configmap.yaml');
    const secretFile = join(setup, 'secret.yaml');
    writeFileSync(cmFile, JSON.stringify(cm));
    writeFileSync(secretFile, JSON.stringify(secret));
    // the Secret as written is a valid Kubernetes Secret too
    expect(validate(secretFile, cmFile).problems).toEqual([]);

    const nodes = await Promise.all(
      [0, 1].map(async (i) => {
        const node = dir(`node${i}`);
        const paths = { '/opt/cni/bin': join(node, 'opt/cni/bin'), '/etc/cni/net.d': join(node, 'etc/cni/net.d'), '/var/lib/weft': join(node, 'var/lib/weft') };
        for (const d of Object.values(paths)) mkdirSync(d, { recursive: true });
        const p = await podmanOn(i, true, paths['/etc/cni/net.d'], [paths['/opt/cni/bin']]);
        // podman 4.3 reads a secretKeyRef from a podman secret holding the Secret's data map as JSON
        const secretData = join(setup, `secret-data-${i}.json`);
        writeFileSync(secretData, JSON.stringify(secret.data));
        await p.ok(['secret', 'create', 'weft-password', secretData]);
        const podFile = join(setup, `pod-${i}.yaml`);
        writeFileSync(podFile, JSON.stringify(podFromDaemonSet(ds, `weft-${lan.hosts[i]!.name}`, paths)));
        const play = await p.podman(['kube', 'play', '--configmap', cmFile, podFile], { timeoutMs: 120_000 });
        expect(play.code, play.stderr).toBe(0);
        return { p, paths, cli: cli(i), host: lan.hosts[i]! };
      }),
    );
    // the init container installed the plugin and the conflist on each "node"
    for (const n of nodes) {
      const conf = await n.p.ok(['run', '--rm', '-v', `${n.paths['/etc/cni/net.d']}:/c:ro`, 'localhost/busybox', 'cat', '/c/10-weft.conflist']);
      expect(JSON.parse(conf)).toMatchObject({ name: 'weft', plugins: [{ type: 'weft', api: '127.0.0.1:6784' }, { type: 'portmap' }] });
    }
    // the routers run with the ConfigMap's settings and the Secret's password, and find each other
    for (const n of nodes) {
      await waitFor(async () => (await n.cli.weft(['status'])).code === 0, { timeoutMs: 60_000, intervalMs: 250, what: `the router of pod weft-${n.host.name} to answer` });
      const st = (await n.cli.weft(['status'])).stdout;
      expect(st).toMatch(/Encryption:\s+enabled/);
      // WEFT_PEERS names both nodes; each router is given the other one (its own address is dropped)
      expect(st).toMatch(/Targets:\s+1\n/);
      await waitFor(async () => (await httpGet(n.cli, `http://${n.host.addr}:6782/readyz`)).status === 200, { timeoutMs: 60_000, intervalMs: 250, what: `readyz on ${n.host.addr}:6782` });
      expect((await httpGet(n.cli, `http://${n.host.addr}:6782/healthz`)).status).toBe(200);
    }
    await Promise.all(
      nodes.map((n) =>
        waitFor(async () => (await n.cli.json<{ connections: { established: boolean }[] }[]>(['status', 'peers'])).length === 2, {
          timeoutMs: 60_000,
          intervalMs: 250,
          what: `${n.host.name} to see both routers`,
        }),
      ),
    );
    const env = await nodes[0]!.p.ok(['exec', `weft-${lan.hosts[0]!.name}-weft`, 'sh', '-c', 'echo "$WEFT_IPALLOC_RANGE|$WEFT_PEERS|${#WEFT_PASSWORD}"']);
    expect(env).toBe(`${RANGE}|${cm.data.WEFT_PEERS}|${PASSWORD.length}`);
    // the container runs with exactly the manifest's capabilities, not privileged
    const inspect = JSON.parse(await nodes[0]!.p.ok(['inspect', '--format', '{{json .EffectiveCaps}} {{.HostConfig.Privileged}}', `weft-${lan.hosts[0]!.name}-weft`]).then((o) => `[${o.replace(' ', ',')}]`)) as [string[], boolean];
    expect([...inspect[0]].sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN']);
    expect(inspect[1]).toBe(false);
    const ipam = (await nodes[0]!.cli.weft(['status', 'ipam'])).stdout;
    expect(ipam).toContain(RANGE);

    // containers on the two nodes, attached by podman through the installed plugin, ping each other
    const [a, b] = [nodes[0]!, nodes[1]!];
    await a.p.runDetached(['--network', 'weft', '--name', 'a']);
    await b.p.runDetached(['--network', 'weft', '--name', 'b']);
    const [ipA, ipB] = [await a.p.ipOf('a', 'weft'), await b.p.ipOf('b', 'weft')];
    expect(ipA).toMatch(IN_RANGE);
    expect(ipB).toMatch(IN_RANGE);
    try {
      for (const [n, from, to] of [[a, 'a', ipB], [b, 'b', ipA]] as const) {
        await waitFor(async () => (await n.p.exec(from, ['ping', '-c', '1', '-W', '1', to])).code === 0, { timeoutMs: 30_000, intervalMs: 200, what: `${from} to ping ${to} across the nodes` });
      }
    } catch (err) {
      // what the routers say, for the failure's report
      for (const n of nodes) {
        const logs = await n.p.podman(['logs', '--tail', '40', `weft-${n.host.name}-weft`]);
        console.error(`${n.host.name} connections:\n${(await n.cli.weft(['status', 'connections'])).stdout}\nrouter log:\n${logs.stdout}${logs.stderr}`);
      }
      throw err;
    }
    // encrypted: the data path between the nodes is ESP
    const conns = (await a.cli.weft(['status', 'connections'])).stdout;
    console.log(`image: kube play connections on ${a.host.name}:\n${conns}`);
    expect(conns).toMatch(/encryption: ESP/);
    expect(conns).toMatch(new RegExp(`${b.host.name}\\)\\s+direct\\s+${b.host.addr.replace(/\./g, '\\.')}.*(aes-256-gcm|chacha20-poly1305) in 0x`));
    expect(conns).toMatch(/established\s+encrypted/);
  }, 300_000);
});
