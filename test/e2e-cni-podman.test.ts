// weft's CNI plugin under real podman (CNI backend, runc) on two namespace hosts, each with a weft
// router: cross-host pings, podman rm/restart, a port published through the chained portmap, 100
// run/rm cycles that must leak nothing, 20 concurrent runs, and routers restarted under running
// containers.
//
//   h0 198.18.0.1 ◄──────── h1 198.18.0.2           weft routers, range 10.46.0.0/24, consensus=2
//   └─ bridge weft ─ a       └─ bridge weft ─ b      podman run --network weft (nsenter --net=hN)
import { readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type Lan } from './harness/netns.js';
import { bridgePorts } from './harness/weft-state.js';
import { canUsePodman } from './harness/runtimes/capabilities.js';
import { Podman, podmanNetnsFiles } from './harness/runtimes/podman.js';
import { WEFT_NETWORK, cleanupWeftCni, heldAddresses, launchWeftCni, type WeftCniHost } from './harness/runtimes/weft-cni.js';

const RANGE = '10.46.0.0/24';
const IN_RANGE = /^10\.46\.0\.\d+$/;
const CYCLES = 100;
const CONCURRENT = 20;
const FETCH = 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then(async (r) => console.log(r.status, await r.text()), (e) => { console.error(String(e.cause ?? e)); process.exit(1); })';

const netns = canUseNetns();
const can = netns.ok ? canUsePodman() : netns;
if (!can.ok) console.warn(`SKIP weft CNI under podman: ${can.reason}`);

/** Every file below dir, relative paths ([] if dir is gone). */
function filesUnder(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[]).filter((e) => !e.isDirectory()).map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length));
  } catch {
    return [];
  }
}

/** libcni's result cache entries for network weft (podman keeps them in /var/lib/cni/results). */
function cniResults(): string[] {
  try {
    return readdirSync('/var/lib/cni/results').filter((f) => f.startsWith(`${WEFT_NETWORK}-`));
  } catch {
    return [];
  }
}

describe.skipIf(!can.ok)('weft CNI plugin under podman', () => {
  let lan: Lan;
  let hosts: WeftCniHost[];
  let podman: Podman[];

  beforeAll(async () => {
    lan = await createLan({ hosts: 2 });
    hosts = await launchWeftCni(lan, { range: RANGE });
    podman = await Promise.all(hosts.map((h) => Podman.create(h.host, { cniConfDir: h.confDir, cniPluginDirs: [h.binDir] })));
  }, 120_000);
  afterAll(async () => {
    // Containers go first, while the routers still answer their DELs.
    for (const p of podman ?? []) await p.cleanup();
    await cleanupWeftCni(hosts);
    await lan?.cleanup();
  }, 120_000);

  const run = (i: number, name: string, extra: string[] = [], cmd?: string[]): Promise<string> => podman[i]!.runDetached(['--network', WEFT_NETWORK, '--name', name, ...extra], cmd);
  const ip = (i: number, name: string): Promise<string> => podman[i]!.ipOf(name, WEFT_NETWORK);
  const pings = async (i: number, from: string, to: string): Promise<boolean> => (await podman[i]!.exec(from, ['ping', '-c', '1', '-W', '1', to])).code === 0;
  const reach = (i: number, from: string, to: string, what: string): Promise<boolean> =>
    waitFor(() => pings(i, from, to), { timeoutMs: 20_000, intervalMs: 100, what });

  it('containers on two hosts get addresses from the ring and ping each other', async () => {
    await run(0, 'a');
    await run(1, 'b');
    const [ipA, ipB] = [await ip(0, 'a'), await ip(1, 'b')];
    expect(ipA).toMatch(IN_RANGE);
    expect(ipB).toMatch(IN_RANGE);
    expect(ipA).not.toBe(ipB);
    expect(await heldAddresses(hosts[0]!)).toContain(ipA);
    expect(await heldAddresses(hosts[1]!)).toContain(ipB);
    // the attachment carries podman's container name (K8S_POD_NAME), and weft ps shows it
    const ps = await hosts[0]!.weft.weft(['ps']);
    expect(ps.stdout).toMatch(new RegExp(`^a\\s.*${ipA.replace(/\./g, '\\.')}/`, 'm'));
    await reach(0, 'a', ipB, `a on h0 to ping b ${ipB} on h1`);
    await reach(1, 'b', ipA, `b on h1 to ping a ${ipA} on h0`);
  });

  it('podman restart keeps the container reachable; podman rm releases its address', async () => {
    const ipB = await ip(1, 'b');
    await podman[0]!.ok(['restart', '--time', '0', 'a']);
    const ipA = await ip(0, 'a');
    expect(ipA).toMatch(IN_RANGE);
    await reach(0, 'a', ipB, 'a to ping b after podman restart a');
    await reach(1, 'b', ipA, 'b to ping a after podman restart a');
    // restart is DEL + ADD: exactly one address held for a
    expect((await heldAddresses(hosts[0]!)).filter((x) => x === ipA)).toEqual([ipA]);
    const heldBefore = (await heldAddresses(hosts[0]!)).length;

    await run(0, 'gone');
    const ipGone = await ip(0, 'gone');
    expect(await heldAddresses(hosts[0]!)).toContain(ipGone);
    await podman[0]!.ok(['rm', '--force', '--time', '0', 'gone']);
    const held = await heldAddresses(hosts[0]!);
    expect(held).not.toContain(ipGone);
    expect(held).toHaveLength(heldBefore);
  });

  it('podman run -p publishes a port through the chained portmap', async () => {
    await run(0, 'web', ['-p', '8080:80'], ['sh', '-c', 'echo hello-from-weft > /var/www/index.html && exec httpd -f -p 80 -h /var/www']);
    const ipWeb = await ip(0, 'web');
    // Node's fetch in the host namespace (Debian's static busybox wget crashes outside a container).
    const get = (i: number, url: string) => hosts[i]!.host.exec(process.execPath, ['-e', FETCH, url]);
    // the container itself, over the overlay from the other host
    await waitFor(async () => (await get(1, `http://${ipWeb}:80/`)).stdout.includes('hello-from-weft'), { timeoutMs: 20_000, intervalMs: 200, what: `h1 to fetch http://${ipWeb}:80/` });
    // the published port on h0's own address, from h0 (portmap's OUTPUT DNAT) and from h1 over the underlay
    // (a 2 s fetch can miss on a loaded machine: each is retried until it answers, 20 s at most)
    const published = `http://${hosts[0]!.host.addr}:8080/`;
    await waitFor(async () => (await get(0, published)).stdout.includes('hello-from-weft'), { timeoutMs: 20_000, intervalMs: 200, what: `h0 to fetch ${published}` });
    await waitFor(async () => (await get(1, published)).stdout.includes('hello-from-weft'), { timeoutMs: 20_000, intervalMs: 200, what: `h1 to fetch ${published}` });
    await podman[0]!.ok(['rm', '--force', '--time', '0', 'web']);
    // the DNAT rule went with the container: nothing listens on h0:8080 now
    const after = await get(1, published);
    expect(after.code, after.stdout).not.toBe(0);
  });

  it(`${CYCLES} run/rm cycles (${CYCLES / 2} in sequence on each host) leak no address, no veth, no file`, async () => {
    // What a cycle could leave behind, per host: IPAM's allocations, ports on bridge weft, podman's
    // namespaces (/run/netns/netns-*), libcni's cached results for network weft, the plugin's and
    // podman's private directories, and containers.
    const snapshot = async (i: number) => ({
      held: await heldAddresses(hosts[i]!),
      ports: (await bridgePorts(hosts[i]!.host)).sort(),
      containers: (await podman[i]!.containerIds()).sort(),
      // (podman's storage records feature probes as run/overlay/<feature>-true|false on first use)
      files: [...filesUnder(hosts[i]!.dir), ...filesUnder(podman[i]!.dir).filter((f) => !/^\/run\/overlay\/[^/]+-(true|false)$/.test(f))].sort(),
    });
    const global = () => ({ results: cniResults().sort(), netns: podmanNetnsFiles().sort() });
    const before = { hosts: await Promise.all([0, 1].map(snapshot)), global: global() };
    const started = Date.now();
    const seen = await Promise.all(
      [0, 1].map(async (i) => {
        const ips = new Set<string>();
        for (let c = 0; c < CYCLES / 2; c++) {
          // `run --rm`: ADD before the command, DEL when it exits; the command prints the address it got.
          const out = await podman[i]!.ok(['run', '--rm', '--network', WEFT_NETWORK, 'localhost/busybox', 'sh', '-c', "ip -4 -o addr show dev eth0 | awk '{print $4}'"]);
          expect(out, `h${i} cycle ${c}`).toMatch(/^10\.46\.0\.\d+\/\d+$/);
          ips.add(out);
        }
        return ips.size;
      }),
    );
    const ms = Date.now() - started;
    console.log(`podman: ${CYCLES} run --rm cycles through weft (two hosts, ${CYCLES / 2} each in sequence) took ${ms} ms, ${(ms / (CYCLES / 2)).toFixed(0)} ms per cycle on a host; distinct addresses per host: ${seen.join(', ')}`);
    expect({ hosts: await Promise.all([0, 1].map(snapshot)), global: global() }).toEqual(before);
  }, 300_000);

  it(`${CONCURRENT} concurrent podman runs get distinct addresses, all released by rm`, async () => {
    const heldBefore = await heldAddresses(hosts[1]!);
    const names = Array.from({ length: CONCURRENT }, (_, i) => `par${i}`);
    const started = Date.now();
    await Promise.all(names.map((n) => podman[1]!.ok(['run', '-d', '--cap-add', 'NET_RAW', '--network', WEFT_NETWORK, '--name', n, 'localhost/busybox', 'sleep', '3600'], { timeoutMs: 180_000 })));
    const ms = Date.now() - started;
    const ips = await Promise.all(names.map((n) => ip(1, n)));
    console.log(`podman: ${CONCURRENT} concurrent runs through weft took ${ms} ms; ${new Set(ips).size} distinct addresses`);
    expect(new Set(ips).size).toBe(CONCURRENT);
    expect(ips.every((x) => IN_RANGE.test(x))).toBe(true);
    const held = await heldAddresses(hosts[1]!);
    for (const x of ips) expect(held).toContain(x);
    // every one answers from the other host (h0's own address on the overlay)
    await Promise.all(ips.map((x) => waitFor(async () => (await hosts[0]!.host.exec('ping', ['-c', '1', '-W', '1', x])).code === 0, { timeoutMs: 20_000, intervalMs: 100, what: `h0 to ping ${x}` })));
    await podman[1]!.ok(['rm', '--force', '--time', '0', ...names], { timeoutMs: 120_000 });
    expect(await heldAddresses(hosts[1]!)).toEqual(heldBefore);
  }, 180_000);

  it('podman rm while the router is down succeeds, and the router releases the address once it is back', async () => {
    await run(0, 'orphan');
    const ipO = await ip(0, 'orphan');
    const h = hosts[0]!;
    const r = await h.weft.stop();
    expect(r.code, r.stderr).toBe(0);
    const rm = await podman[0]!.podman(['rm', '--force', '--time', '0', 'orphan']);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await podman[0]!.podman(['container', 'exists', 'orphan'])).code).toBe(1);
    await h.weft.launch(h.launchArgs);
    await waitFor(async () => !(await heldAddresses(h)).includes(ipO), { timeoutMs: 20_000, intervalMs: 200, what: `h0's router, back, to release ${ipO} of the container removed while it was down` });
  }, 60_000);

  for (const how of ['weft stop', 'kill -9'] as const) {
    it(`routers restarted (${how}) under running containers: they keep connectivity, and podman rm afterwards releases`, async () => {
      const name = how === 'weft stop' ? 'r-stop' : 'r-kill';
      await run(0, name);
      const [ipR, ipB] = [await ip(0, name), await ip(1, 'b')];
      await reach(0, name, ipB, `${name} to ping b before the restart`);
      for (const h of hosts) {
        if (how === 'weft stop') {
          const r = await h.weft.stop();
          expect(r.code, r.stderr).toBe(0);
        } else {
          await h.weft.crash();
        }
      }
      const duringDown = await pings(0, name, ipB);
      for (const h of hosts) await h.weft.launch(h.launchArgs);
      await reach(0, name, ipB, `${name} to ping b after the routers came back`);
      await reach(1, 'b', ipR, `b to ping ${name} after the routers came back`);
      console.log(`podman: with both routers down (${how}) a container ${duringDown ? 'still reached' : 'could not reach'} the other host`);
      expect(await heldAddresses(hosts[0]!)).toContain(ipR);
      await podman[0]!.ok(['rm', '--force', '--time', '0', name]);
      await waitFor(async () => !(await heldAddresses(hosts[0]!)).includes(ipR), { timeoutMs: 10_000, intervalMs: 100, what: `h0 to release ${ipR} after podman rm` });
    }, 120_000);
  }
});
