// The real CLI and daemon in network namespaces, as an operator uses them.
//
//   h0 198.18.0.1 ◄── h1 198.18.0.2 ◄── h2 198.18.0.3     (`weft launch` chain on one LAN)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type Lan } from './harness/netns.js';
import { WeftHost } from './harness/weft.js';

const can = canUseNetns();
if (!can.ok) console.warn(`SKIP end-to-end mesh tests: ${can.reason}`);

interface PeerJson {
  name: string;
  nickname: string;
  uid: string;
  connections: { name: string; established: boolean }[];
}
interface ConnJson {
  peer: string | null;
  address: string;
  state: string;
  encrypted: boolean;
  info: string;
}

describe.skipIf(!can.ok)('weft routers in network namespaces', () => {
  let lan: Lan;
  let hosts: WeftHost[];
  const names: string[] = [];

  beforeAll(async () => {
    lan = await createLan({ hosts: 3 });
    hosts = lan.hosts.map((h) => new WeftHost(h));
  });
  afterAll(async () => {
    for (const h of hosts ?? []) await h.cleanup();
    await lan?.cleanup();
  });

  const fullMesh = async (hs: WeftHost[], n: number): Promise<boolean> => {
    for (const h of hs) {
      const peers = await h.json<PeerJson[]>(['status', 'peers']);
      if (peers.length !== n || peers.some((p) => p.connections.filter((c) => c.established).length !== n - 1)) return false;
    }
    return true;
  };

  it('a chain of launches forms a full mesh', async () => {
    for (const [i, h] of hosts.entries()) {
      names.push(await h.launch(i === 0 ? [] : [lan.hosts[i - 1]!.addr]));
    }
    expect(names.every((n) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(n))).toBe(true);
    await waitFor(() => fullMesh(hosts, 3), { timeoutMs: 30_000, intervalMs: 200, what: 'full mesh of 3' });
    const peers = await hosts[0]!.json<PeerJson[]>(['status', 'peers']);
    expect(peers.map((p) => p.name).sort()).toEqual([...names].sort());
    expect(peers.find((p) => p.name === names[2])!.nickname).toBe(lan.hosts[2]!.name);
    const conns = (await hosts[1]!.json<{ control: ConnJson[] }>(['status', 'connections'])).control;
    expect(conns.filter((c) => c.state === 'established').map((c) => c.peer).sort()).toEqual([names[0], names[2]].sort());
    expect(conns.every((c) => c.encrypted === false && typeof c.info === 'string' && /^198\.18\.0\.\d+:\d+$/.test(c.address))).toBe(true);
  });

  it('a second launch in the same namespace says weft is already running', async () => {
    const r = await hosts[0]!.weft(['launch', '--data-dir', hosts[0]!.dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/already running/);
  });

  it('garbage sent to the mesh port closes only that connection', async () => {
    const script = `const s=require('net').connect(6783,'${lan.hosts[0]!.addr}',()=>{s.write('GET / HTTP/1.1\\r\\n\\r\\n')});s.resume();s.on('close',()=>process.exit(0));s.on('error',()=>process.exit(0));setTimeout(()=>process.exit(3),15000)`;
    const r = await lan.hosts[2]!.exec(process.execPath, ["-e", script]);
    expect(r.code).toBe(0); // the router closed it
    const conns = (await hosts[0]!.json<{ control: ConnJson[] }>(['status', 'connections'])).control;
    expect(conns.some((c) => c.state === 'failed' && /header not recognised/.test(c.info))).toBe(true);
    expect(await fullMesh(hosts, 3)).toBe(true);
  });

  it('stopping a router is seen by the others; restarting it reconnects with the same name and a new UID', async () => {
    const before = (await hosts[0]!.json<PeerJson[]>(['status', 'peers'])).find((p) => p.name === names[2])!;
    const stop = await hosts[2]!.stop();
    expect(stop.code).toBe(0);
    await waitFor(async () => (await hosts[0]!.json<PeerJson[]>(['status', 'peers'])).length === 2, { timeoutMs: 30_000, intervalMs: 200, what: 'h0 forgets h2' });
    await waitFor(async () => (await hosts[1]!.json<PeerJson[]>(['status', 'peers'])).length === 2, { timeoutMs: 30_000, intervalMs: 200, what: 'h1 forgets h2' });

    expect(await hosts[2]!.launch([lan.hosts[1]!.addr])).toBe(names[2]);
    await waitFor(() => fullMesh(hosts, 3), { timeoutMs: 30_000, intervalMs: 200, what: 'h2 rejoins' });
    const after = (await hosts[0]!.json<PeerJson[]>(['status', 'peers'])).find((p) => p.name === names[2])!;
    expect(after.uid).not.toBe(before.uid);
  });

  it('connect and forget change targets at run time', async () => {
    const r = await hosts[0]!.weft(['connect', lan.hosts[2]!.addr]);
    expect(r.code).toBe(0);
    const status = await hosts[0]!.json<{ targets: { address: string }[] }>(['status']);
    expect(status.targets.some((t) => t.address === `${lan.hosts[2]!.addr}:6783`)).toBe(true);
    expect((await hosts[0]!.weft(['forget', lan.hosts[2]!.addr])).code).toBe(0);
    const bad = await hosts[0]!.weft(['connect', 'not a host:99999']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/host\[:port\]|invalid|port/i);
  });
});
