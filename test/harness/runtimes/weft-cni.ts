// Namespace hosts running a weft router each, with weft's CNI plugin installed by `weft setup-cni`
// into private directories, for driving the plugin from real runtimes.
//
//   h0 198.18.0.1 ◄── h1 198.18.0.2 …     weft launch --ipalloc-range RANGE --ipalloc-init consensus=N
//   <dir>/bin: weft (setup-cni) + symlinks to /usr/lib/cni/* (portmap, loopback: containerd 1.6
//              takes a single bin_dir, and the conflist chains portmap)
//   <dir>/net.d/10-weft.conflist (network "weft")
import { mkdirSync, readdirSync, symlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Host, Lan } from '../netns.js';
import { waitFor } from '../netns.js';
import { WeftHost } from '../weft.js';
import { ipamAllocations } from '../weft-state.js';
import { privateDir, removePrivateDir } from './dirs.js';
import { STANDARD_PLUGIN_DIR } from './standard-cni.js';

export const WEFT_NETWORK = 'weft';

export interface WeftCniHost {
  host: Host;
  weft: WeftHost;
  /** Arguments `weft launch` was given (to launch it again after a stop or crash). */
  launchArgs: string[];
  dir: string;
  binDir: string;
  confDir: string;
}

/** Launches a router on each host (IPAM over `range`, each joining h0), installs the plugin, waits for the ring. */
export async function launchWeftCni(lan: Lan, opts: { range: string; cniVersion?: string }): Promise<WeftCniHost[]> {
  const n = lan.hosts.length;
  const out: WeftCniHost[] = [];
  try {
    for (const [i, host] of lan.hosts.entries()) {
      const dir = privateDir(`weftcni-${host.name}`);
      const h: WeftCniHost = {
        host,
        weft: new WeftHost(host),
        launchArgs: ['--ipalloc-range', opts.range, '--ipalloc-init', `consensus=${n}`, ...(i === 0 ? [] : [lan.hosts[0]!.addr])],
        dir,
        binDir: join(dir, 'bin'),
        confDir: join(dir, 'net.d'),
      };
      out.push(h);
      mkdirSync(h.binDir);
      mkdirSync(h.confDir);
      await h.weft.launch(h.launchArgs);
      const r = await h.weft.weft(['setup-cni', '--bin-dir', h.binDir, '--conf-dir', h.confDir, ...(opts.cniVersion ? ['--cni-version', opts.cniVersion] : [])]);
      if (r.code !== 0) throw new Error(`weft setup-cni on ${host.name} failed (${r.code}): ${r.stderr}${r.stdout}`);
      for (const p of readdirSync(STANDARD_PLUGIN_DIR)) if (!existsSync(join(h.binDir, p))) symlinkSync(join(STANDARD_PLUGIN_DIR, p), join(h.binDir, p));
    }
    // The ring forms on the first allocation (the plugin's ADD waits for it); the mesh must be whole first.
    await Promise.all(out.map((h) => waitFor(async () => meshComplete(h, n), { timeoutMs: 30_000, intervalMs: 200, what: `${h.host.name} to connect to all ${n - 1} other routers` })));
  } catch (err) {
    await cleanupWeftCni(out);
    throw err;
  }
  return out;
}

interface PeerJson {
  connections: { established: boolean }[];
}

/** Whether this router lists every router of the LAN and has an established connection to each other one. */
export async function meshComplete(h: WeftCniHost, n: number): Promise<boolean> {
  const peers = await h.weft.json<PeerJson[]>(['status', 'peers']);
  return peers.length === n && peers.every((p) => p.connections.filter((c) => c.established).length === n - 1);
}

/** Stops the routers (by `weft stop`, then PID) and removes their data and plugin directories. */
export async function cleanupWeftCni(hosts: WeftCniHost[] | undefined): Promise<void> {
  for (const h of hosts ?? []) {
    await h.weft.cleanup();
    removePrivateDir(h.dir);
  }
}

/** The addresses IPAM holds on this host (any key: CNI attachments and `weft attach`). */
export async function heldAddresses(h: WeftCniHost): Promise<string[]> {
  return [...(await ipamAllocations(h.weft)).values()].sort();
}
