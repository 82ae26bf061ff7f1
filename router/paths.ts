// Chooses, per remote peer, how its traffic travels: `direct` when our probes to it are
// answered; otherwise `relay` through a peer that we reach directly and that reaches it directly
// (the mesh's next hop first, else the lowest name); otherwise `none`. Changes are
// make-before-break: a relay is used only once the relay says its device for the destination
// is ready, and until then the previous path stays. A peer whose router (or whose relay's
// router) is gone from the mesh — stopped, restarting, crashed — keeps its last path: its
// kernel may well still forward, and there is nothing better to move to.
import type { PeerName } from '../mesh/peer-name.js';
import type { PeerRecord } from './peer-record.js';
import type { ProbeStatus } from './prober.js';

export type Path =
  | { kind: 'direct'; address: string; reason: string }
  | { kind: 'relay'; via: PeerName; address: string; reason: string }
  | { kind: 'none'; reason: string };

export interface PathInputs {
  self: PeerName;
  records: ReadonlyMap<PeerName, PeerRecord>;
  probe: (name: PeerName) => ProbeStatus;
  /** The mesh's next hop towards name, if the control plane reaches it. */
  nextHop: (name: PeerName) => PeerName | undefined;
  previous: ReadonlyMap<PeerName, Path>;
  nickname?: (name: PeerName) => string;
  /**
   * When a peer's router came back to the mesh, if it did within the last `failAfterMs`: our
   * probes to it went unanswered while it was away, so a `down` is not yet a verdict on its path.
   */
  returnedAt?: (name: PeerName) => number | undefined;
  now?: number;
  failAfterMs?: number;
  /** When our control connection to a peer last closed, if it is closed now. */
  connectionLostAt?: (name: PeerName) => number | undefined;
  /**
   * Probes that fail within this long *after* the peer's control connection closed are the
   * router stopping (it answers probes), not the path: a stopped or crashed router closes its
   * connections at once, while a cut network fails the probes first and the connection only at
   * its read deadline. Off when undefined.
   */
  settleMs?: number;
}

export interface PathChoice {
  paths: Map<PeerName, Path>;
  /** Relays we want (announced in our record so the relay builds its device). */
  wanted: { dest: PeerName; via: PeerName }[];
}

export function choosePaths(i: PathInputs): PathChoice {
  const paths = new Map<PeerName, Path>();
  const wanted: { dest: PeerName; via: PeerName }[] = [];
  const label = (n: PeerName): string => i.nickname?.(n) || n.toString(16).padStart(12, '0');
  for (const r of i.records.values()) {
    if (r.name === i.self || r.gone) continue;
    const probe = i.probe(r.name);
    const prev = i.previous.get(r.name);
    if (probe.state === 'up' && probe.address) {
      paths.set(r.name, { kind: 'direct', address: probe.address, reason: `probes answered${probe.rttMs !== undefined ? ` (rtt ${probe.rttMs} ms)` : ''}` });
      continue;
    }
    if (probe.state === 'unknown') {
      paths.set(r.name, prev ?? { kind: 'none', reason: 'probing' });
      continue;
    }
    // A router that just came back (a restart) was probed while it was away: until it has had
    // the probe failure time to answer, its last path stays — its kernel forwarded all along.
    const back = i.returnedAt?.(r.name);
    if (back !== undefined && i.now !== undefined && i.failAfterMs !== undefined && i.now - back < i.failAfterMs) {
      const kept = keep(prev, 'its router just came back; probing it again');
      if (kept) {
        paths.set(r.name, kept);
        continue;
      }
    }
    // Its router stopped (connection closed first, then the probes it answers): the kernel still
    // forwards, and the mesh will soon say the router left. Not a reason to move to a relay.
    const lost = i.connectionLostAt?.(r.name);
    if (lost !== undefined && i.settleMs !== undefined && probe.since >= lost && probe.since - lost <= i.settleMs) {
      const kept = keep(prev, 'its router stopped; its kernel still forwards');
      if (kept) {
        paths.set(r.name, kept);
        continue;
      }
    }
    const via = chooseRelay(i, r.name);
    if (via) {
      wanted.push({ dest: r.name, via });
      const relay = i.records.get(via)!;
      const viaAddr = i.probe(via).address!;
      if (relay.serving.includes(r.name)) {
        paths.set(r.name, { kind: 'relay', via, address: viaAddr, reason: `no answer to direct probes; ${label(via)} reaches it` });
      } else {
        paths.set(r.name, keep(prev, `waiting for relay ${label(via)} to get ready`) ?? { kind: 'none', reason: `no answer to direct probes; waiting for relay ${label(via)}` });
      }
      continue;
    }
    if (i.nextHop(r.name) === undefined) {
      paths.set(r.name, keep(prev, 'its router is not in the mesh; keeping the last path') ?? { kind: 'none', reason: 'no answer to probes and not in the mesh' });
      continue;
    }
    // The relay's router is restarting (gone from the mesh): its kernel still forwards.
    if (prev?.kind === 'relay' && i.nextHop(prev.via) === undefined) {
      paths.set(r.name, keep(prev, `relay ${label(prev.via)} is not in the mesh; keeping the last path`)!);
      continue;
    }
    paths.set(r.name, { kind: 'none', reason: 'no answer to direct probes and no peer reaches it directly' });
  }
  return { paths, wanted };
}

function keep(prev: Path | undefined, why: string): Path | undefined {
  if (!prev || prev.kind === 'none') return undefined;
  const base = prev.reason.split(' [')[0];
  return { ...prev, reason: `${base} [${why}]` };
}

function chooseRelay(i: PathInputs, dest: PeerName): PeerName | undefined {
  const ok = (b: PeerName): boolean => {
    if (b === i.self || b === dest) return false;
    const rec = i.records.get(b);
    return rec !== undefined && !rec.gone && i.probe(b).state === 'up' && rec.direct.includes(dest);
  };
  const hop = i.nextHop(dest);
  if (hop !== undefined && ok(hop)) return hop;
  let best: PeerName | undefined;
  for (const r of i.records.values()) if (ok(r.name) && (best === undefined || r.name < best)) best = r.name;
  return best;
}
