// `weft status ipam`: the allocator's state as the JSON users' scripts read (ipam/status.ts).
import { formatPeerName, type PeerName } from '../mesh/peer-name.js';
import type { Conflict, Foreign } from './conflicts.js';
import type { IpamCore } from './core.js';
import { formatRange, size } from './space.js';
import type { IpamHeldStatus, IpamPeerStatus, IpamStatusJson } from './status.js';

export interface IpamStatus extends IpamStatusJson {
  conflicts: Conflict[];
  foreign: Foreign[];
  held: IpamHeldStatus[];
  /** Why a ring from another peer was refused (different range or genesis), if one was. */
  refused?: string;
}

export function buildStatus(
  c: IpamCore,
  x: { waiting: string | null; conflicts: Conflict[]; foreign: Foreign[]; consensusDropped: Record<string, number> },
): IpamStatus {
  const ring = c.ring;
  const now = c.o.clock.now();
  const peers: IpamPeerStatus[] = [];
  const byName = (a: PeerName, b: PeerName): number => (a < b ? -1 : a > b ? 1 : 0);
  if (ring) {
    const owners = ring.owners();
    const adv = c.advisoryFree();
    for (const o of owners.sort(byName)) {
      const owned = size(ring.rangesOf(o));
      const self = o === c.self;
      const free = self ? c.freeCount() : (adv.get(o) ?? 0);
      const reachable = self || c.o.mesh.reachable(o);
      const r = reachable ? { ms: null } : c.reclaim.reclaimIn(o, now, owners.length);
      peers.push({
        name: formatPeerName(o),
        nickname: c.o.mesh.nickname(o) ?? '',
        owned,
        used: Math.max(0, owned - free),
        free,
        reachable,
        reclaimInMs: r.ms,
        ...('note' in r && r.note ? { note: r.note } : {}),
      });
    }
  }
  // Addresses in our space that other peers' containers use: held for them.
  const held: IpamHeldStatus[] = [];
  const mine = ring?.rangesOf(c.self) ?? [];
  for (const rec of c.records.all().sort((a, b) => byName(a.owner, b.owner))) {
    if (rec.owner === c.self || rec.gone) continue;
    const count = rec.used.filter((a) => mine.some((r) => a >= r.start && a < r.end)).length;
    if (count === 0) continue;
    const reachable = c.o.mesh.reachable(rec.owner);
    held.push({
      peer: formatPeerName(rec.owner),
      nickname: c.o.mesh.nickname(rec.owner) ?? '',
      count,
      reachable,
      ...(reachable ? {} : { note: `held until ${c.describe(rec.owner)} comes back and releases them, or weft rmpeer ${formatPeerName(rec.owner)} if it is gone for good` }),
    });
  }
  const dropped = { ...c.dropped };
  for (const [k, v] of Object.entries(x.consensusDropped)) dropped[`consensus: ${k}`] = v;
  return {
    range: formatRange(c.o.range),
    ready: c.isReady(),
    fenced: c.reclaim.fenced,
    waiting: x.waiting,
    peers,
    allocations: c.table.size,
    dropped,
    conflicts: x.conflicts,
    foreign: x.foreign,
    held,
    ...(c.refused ? { refused: c.refused } : {}),
  };
}
