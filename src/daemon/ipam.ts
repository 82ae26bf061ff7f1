// Builds the IPAM allocator for the daemon: range, bootstrap mode and quorum from the options,
// the mesh as its view of the world, the data dir as its store.
import { randomInt } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import * as C from '../../lib/constants.js';
import { WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { parsePeerName } from '../../mesh/peer-name.js';
import type { MeshRouter } from '../../mesh/router.js';
import { Allocator, IPAM_CHANNEL } from '../../ipam/allocator.js';
import { parseCidr } from '../../ipam/space.js';
import { FileIpamStore } from '../../ipam/store.js';
import type { DaemonOptions } from './options.js';
import type { AddressManager } from '../../router/endpoints.js';

/** Weave's rule: consensus=N gives N/2+1; otherwise the launch peers and this one count as N. */
export function quorumFor(opts: Pick<DaemonOptions, 'ipallocInit' | 'peers'>): number {
  const n = opts.ipallocInit?.mode === 'consensus' && opts.ipallocInit.peers !== undefined ? opts.ipallocInit.peers : opts.peers.length + 1;
  return Math.floor(n / 2) + 1;
}

/** The allocator as the endpoints owner sees it (router/endpoints.ts). */
export function ipamAddresses(alloc: Allocator): AddressManager {
  return {
    allocate: (key, o) => alloc.allocate(key, o),
    claim: (key, ip, o) => alloc.claim(key, ip, o),
    release: (key) => alloc.release(key),
    lookup: (key) => alloc.lookup(key),
    allocations: () => alloc.allocations(),
    adopt: (key, ip) => alloc.adopt(key, ip),
    handoff: () => alloc.handoff(),
  };
}

export async function startAllocator(opts: DaemonOptions, router: MeshRouter, clock: Clock, log: Logger): Promise<Allocator> {
  const range = parseCidr(opts.ipallocRange);
  if (!range) throw new WeftError('usage', `--ipalloc-range ${opts.ipallocRange} is not a network address with a prefix, like 10.32.0.0/12`);
  const init = opts.ipallocInit;
  const alloc = new Allocator({
    self: router.name,
    range,
    init: init?.mode === 'seed' ? { mode: 'seed', seeds: init.seeds.map((s) => parsePeerName(s)!) } : { mode: 'consensus', quorum: quorumFor(opts) },
    clock,
    random: () => randomInt(0, 2 ** 47) / 2 ** 47,
    log,
    store: new FileIpamStore(opts.dataDir),
    mesh: {
      reachable: (n) => router.routes.unicastAll.has(n),
      knownPeers: () => [...router.peers.all()].map((p) => p.name),
      nickname: (n) => router.peers.get(n)?.nickname,
    },
    reclaimAfterMs: opts.ipallocReclaimAfterMs,
    // Taken-over space rests before use (docs/ipam.md); a short grace asks for a short rest too.
    timings: { quarantineMs: Math.min(C.IPALLOC_QUARANTINE_MS, opts.ipallocReclaimAfterMs / 2) },
  });
  alloc.attach(router.newGossip(IPAM_CHANNEL, alloc));
  // Reachability is read from the routes: react to their recompute, not to the topology change before it.
  router.on('routes', () => alloc.topologyChanged());
  await alloc.start();
  return alloc;
}
