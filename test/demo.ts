// `make demo`: four "hosts" made of network namespaces on one LAN (198.18.0.0/24), weft launched
// on each with only the previous host as its peer; the mesh fills in by gossip. Shows the
// operator's view (`weft status`, `weft status peers`), stops one host and shows the others
// notice, then cleans everything up.
//
//   h1 198.18.0.1 ◄── h2 198.18.0.2 ◄── h3 198.18.0.3 ◄── h4 198.18.0.4
import { canUseNetns, createLan, waitFor, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';

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
  try {
    lan = await createLan({ hosts: 4 });
    hosts.push(...lan.hosts.map((h) => new WeftHost(h)));
    say(`4 hosts on ${lan.hosts.map((h) => `${h.name}=${h.addr}`).join(', ')}`);

    for (const [i, h] of hosts.entries()) {
      const peers = i === 0 ? [] : [lan.hosts[i - 1]!.addr];
      const name = await h.launch(peers);
      console.log(`$ weft launch ${peers.join(' ')}   # on ${h.host.name}\n${name}`);
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

    say(`weft status   # on ${hosts[0]!.host.name}`);
    console.log((await hosts[0]!.weft(['status'])).stdout);
    say(`weft status peers   # on ${hosts[3]!.host.name}`);
    console.log((await hosts[3]!.weft(['status', 'peers'])).stdout);
    say(`weft status connections   # on ${hosts[1]!.host.name}`);
    console.log((await hosts[1]!.weft(['status', 'connections'])).stdout);

    say(`weft stop   # on ${hosts[2]!.host.name}`);
    console.log((await hosts[2]!.stop()).stdout.trim());
    await waitFor(async () => (await hosts[0]!.json<PeerJson[]>(['status', 'peers'])).length === 3, { timeoutMs: 30_000, intervalMs: 250, what: `the others forget ${hosts[2]!.host.name}` });
    say(`weft status peers   # on ${hosts[0]!.host.name}, after ${hosts[2]!.host.name} stopped`);
    console.log((await hosts[0]!.weft(['status', 'peers'])).stdout);
    say('demo finished; cleaning up');
  } finally {
    for (const h of hosts) await h.cleanup();
    await lan?.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
