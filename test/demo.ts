// `make demo`: four "hosts" made of network namespaces on one LAN (198.18.0.0/24), weft launched
// on each with only the previous host as its peer; the mesh fills in by gossip. A container on
// each host (a network namespace, attached with `weft attach`) pings the others over the kernel
// VXLAN overlay, with addresses from weft's IPAM ring; then UDP 6784 is blocked between h0 and h3 and their containers keep talking
// through a relay. Then podman on h0 and h1 runs containers on the `weft` network through weft's
// CNI plugin (`weft setup-cni`), which ping each other across the hosts. Shows the operator's
// view, stops one host and shows the others notice, then cleans everything up.
//
//   h0 198.18.0.1 ◄── h1 198.18.0.2 ◄── h2 198.18.0.3 ◄── h3 198.18.0.4
//   c0                c1                c2                c3        (addresses from IPAM, 10.32.0.0/12)
import { blockUdpPort, canUseNetns, canUseNft, createLan, waitFor, type Host, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { canUsePodman } from './harness/runtimes/capabilities.js';
import { privateDir } from './harness/runtimes/dirs.js';
import { Podman } from './harness/runtimes/podman.js';
import { STANDARD_PLUGIN_DIR } from './harness/runtimes/standard-cni.js';

interface PathJson {
  nickname: string | null;
  path: string;
}

interface PeerJson {
  name: string;
  nickname: string;
  connections: { established: boolean }[];
}

const say = (s: string): void => console.log(`\n\x1b[1m== ${s}\x1b[0m`);

async function main(): Promise<void> {
  const can = canUseNetns();
  if (!can.ok) {
    console.error(`make demo needs network namespaces: ${can.reason}. Run it as root (sudo make demo).`);
    process.exitCode = 1;
    return;
  }
  let lan: Lan | undefined;
  const hosts: WeftHost[] = [];
  const podmans: Podman[] = [];
  const cniDirs: string[] = [];
  try {
    lan = await createLan({ hosts: 4 });
    hosts.push(...lan.hosts.map((h) => new WeftHost(h)));
    say(`4 hosts on ${lan.hosts.map((h) => `${h.name}=${h.addr}`).join(', ')}`);

    for (const [i, h] of hosts.entries()) {
      // The four start together: consensus among 4 (quorum 3) creates the address ring.
      const args = ['--ipalloc-init', 'consensus=4', ...(i === 0 ? [] : [lan.hosts[i - 1]!.addr])];
      const name = await h.launch(args);
      console.log(`$ weft launch ${args.join(' ')}   # on ${h.host.name}\n${name}`);
    }

    say('waiting for the mesh to converge (each host was only told about one other)');
    const t0 = Date.now();
    await waitFor(
      async () => {
        for (const h of hosts) {
          const peers = await h.json<PeerJson[]>(['status', 'peers']);
          if (peers.length !== 4 || peers.some((p) => p.connections.filter((c) => c.established).length !== 3)) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'a full mesh of 4 routers' },
    );
    console.log(`full mesh after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    say('one container per host: weft attach NETNS (the address comes from the ring the routers agree on)');
    const containers: Host[] = [];
    const ips: string[] = [];
    for (const h of hosts) {
      const c = await lan.addContainer();
      containers.push(c);
      const r = await h.weft(['attach', c.name]);
      if (r.code !== 0) throw new Error(`weft attach failed: ${r.stderr}`);
      console.log(`$ weft attach ${c.name}   # on ${h.host.name}\n${r.stdout.trim()}`);
      ips.push(r.stdout.trim().split(' ')[1]!.split('/')[0]!);
    }
    say(`weft status ipam   # on ${hosts[0]!.host.name}: each host's share of the range`);
    console.log((await hosts[0]!.weft(['status', 'ipam'])).stdout);
    const direct = (h: WeftHost, n: number) => async () => (await h.json<{ paths: PathJson[] }>(['status', 'connections'])).paths.filter((p) => p.path === 'direct').length === n;
    for (const h of hosts) await waitFor(direct(h, 3), { timeoutMs: 30_000, intervalMs: 200, what: `${h.host.name} to reach every peer directly` });

    say(`ping from ${containers[0]!.name} (${ips[0]}) to the containers on the other hosts`);
    for (let i = 1; i < 4; i++) {
      const r = await containers[0]!.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', ips[i]!]);
      console.log(r.stdout.split('\n').filter((l) => /bytes from|packet loss/.test(l)).join('\n'));
    }
    say(`weft status connections   # on ${hosts[0]!.host.name}: how each peer is reached, and why`);
    console.log((await hosts[0]!.weft(['status', 'connections'])).stdout);

    if (canUseNft().ok) {
      say(`block UDP 6784 between ${hosts[0]!.host.name} and ${hosts[3]!.host.name} (nftables)`);
      await blockUdpPort(lan.hosts[0]!, lan.hosts[3]!, 6784);
      await waitFor(async () => (await hosts[0]!.json<{ paths: PathJson[] }>(['status', 'connections'])).paths.some((p) => p.nickname === lan!.hosts[3]!.name && p.path.startsWith('relay')), {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: 'a relay path',
      });
      console.log((await hosts[0]!.weft(['status', 'connections'])).stdout);
      say(`ping from ${containers[0]!.name} to ${containers[3]!.name} (${ips[3]}), relayed by the kernel of another host`);
      const r = await containers[0]!.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', ips[3]!]);
      console.log(r.stdout.split('\n').filter((l) => /bytes from|packet loss/.test(l)).join('\n'));
    } else {
      console.log('(nftables is not available: skipping the relay part)');
    }

    const podman = canUsePodman();
    if (podman.ok) {
      say('podman on h0 and h1: weft setup-cni, then podman run --network weft (the CNI plugin asks the host\'s router)');
      const names: string[] = [];
      for (const i of [0, 1]) {
        const dir = privateDir(`demo-cni-${lan.hosts[i]!.name}`);
        cniDirs.push(dir);
        const bin = join(dir, 'bin');
        const conf = join(dir, 'net.d');
        mkdirSync(bin);
        mkdirSync(conf);
        const r = await hosts[i]!.weft(['setup-cni', '--bin-dir', bin, '--conf-dir', conf]);
        if (r.code !== 0) throw new Error(`weft setup-cni failed: ${r.stderr}${r.stdout}`);
        console.log(`$ weft setup-cni --bin-dir ${bin} --conf-dir ${conf}   # on ${lan.hosts[i]!.name}\n${r.stdout.trim()}`);
        // The chained portmap plugin comes from Debian's containernetworking-plugins.
        for (const f of readdirSync(STANDARD_PLUGIN_DIR)) if (!existsSync(join(bin, f))) symlinkSync(join(STANDARD_PLUGIN_DIR, f), join(bin, f));
        const pm = await Podman.create(lan.hosts[i], { cniConfDir: conf, cniPluginDirs: [bin] });
        podmans.push(pm);
        const name = `web${i}`;
        await pm.runDetached(['--network', 'weft', '--name', name]);
        names.push(name);
        console.log(`$ podman run -d --network weft --name ${name} busybox sleep 3600   # on ${lan.hosts[i]!.name}: ${await pm.ipOf(name, 'weft')}`);
      }
      const target = await podmans[1]!.ipOf(names[1]!, 'weft');
      say(`podman exec ${names[0]} ping ${target}   # from h0's podman container to h1's`);
      const r = await podmans[0]!.exec(names[0]!, ['ping', '-c', '3', '-W', '2', target]);
      console.log(r.stdout.split('\n').filter((l) => /bytes from|packet loss/.test(l)).join('\n'));
      say(`weft ps   # on ${lan.hosts[0]!.name}: the podman container by its name, beside the host's own overlay address`);
      console.log((await hosts[0]!.weft(['ps'])).stdout);
      for (const pm of podmans) await pm.cleanup();
    } else {
      console.log(`(podman is not usable here: skipping the CNI part — ${podman.reason})`);
    }

    say(`weft ps   # on ${hosts[1]!.host.name}`);
    console.log((await hosts[1]!.weft(['ps'])).stdout);

    say(`weft status   # on ${hosts[0]!.host.name}`);
    console.log((await hosts[0]!.weft(['status'])).stdout);
    say(`weft status peers   # on ${hosts[3]!.host.name}`);
    console.log((await hosts[3]!.weft(['status', 'peers'])).stdout);

    say(`weft stop   # on ${hosts[2]!.host.name}`);
    console.log((await hosts[2]!.stop()).stdout.trim());
    await waitFor(async () => (await hosts[0]!.json<PeerJson[]>(['status', 'peers'])).length === 3, { timeoutMs: 30_000, intervalMs: 250, what: `the others forget ${hosts[2]!.host.name}` });
    say(`weft status peers   # on ${hosts[0]!.host.name}, after ${hosts[2]!.host.name} stopped`);
    console.log((await hosts[0]!.weft(['status', 'peers'])).stdout);
    say('demo finished; cleaning up');
  } finally {
    for (const pm of podmans) await pm.cleanup();
    for (const d of cniDirs) rmSync(d, { recursive: true, force: true });
    for (const h of hosts) await h.cleanup();
    await lan?.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
