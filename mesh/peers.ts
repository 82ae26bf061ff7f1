// The topology table: every peer we know of, ourselves included, as immutable PeerSummary
// values. This is the one owner of that state; the router calls in from its single loop and
// does the timing (coalescing gossip, deferring GC and route recalculation).
//
// Merge rules, placeholders, old incarnations, GC and short-ID collisions follow
// weaveworks/mesh (docs: weave-protocol.md §3.5).
import { WeftError } from '../lib/errors.js';
import type { ConnectionSummary, PeerSummary } from './peer.js';
import { isPlaceholder } from './peer.js';
import { formatPeerName, isValidPeerName, type PeerName } from './peer-name.js';
import { isValidShortId, ShortIdIndex } from './short-ids.js';

/** Who we are, fixed for the life of the process (a restart is a new uid). */
export interface LocalIdentity {
  readonly name: PeerName;
  readonly nickname: string;
  /** Non-zero; 0 marks placeholders. */
  readonly uid: bigint;
  /** Our short ID if already chosen; otherwise a random free one is picked. */
  readonly shortId?: number;
}

/** What a peer's handshake tells us about it (mesh adds such a peer at version 0). */
export interface HandshakePeer {
  readonly name: PeerName;
  readonly nickname: string;
  readonly uid: bigint;
  readonly shortId: number | undefined;
}

export interface UpdateResult {
  /** Names of every valid summary in the update (mesh relays these for broadcasts). */
  readonly received: Set<PeerName>;
  /**
   * Names whose summary was added or replaced (mesh relays these for gossip). Non-empty means
   * routes and the connection maker's targets may have changed.
   */
  readonly improved: Set<PeerName>;
  /** The update described an old incarnation of us: our name with another uid. */
  readonly oldIncarnation: boolean;
  /** Another peer with a lower name claimed our short ID, so we took a new one. */
  readonly shortIdChanged: boolean;
  /** Our own summary's version went up: gossip it so that our state wins everywhere. */
  readonly selfChanged: boolean;
  /** Summaries and connection entries skipped as invalid. */
  readonly rejected: number;
}

const MAX_U64 = (1n << 64n) - 1n;

export class Peers {
  private readonly table = new Map<PeerName, PeerSummary>();
  private changes = 0;
  /** Goes up when a name joins or leaves the table (not when a summary is replaced). */
  private members = 0;
  private placeholderCount = 0;
  /**
   * Whether something may be unreachable: a name was added, a summary lost a connection, or
   * the last GC kept an unreachable peer for the caller. Otherwise GC has nothing to find
   * (adding connections or bumping versions never cuts anyone off) and skips its walk of the
   * table (5 % of the CPU of 250 routers in memory, one walk a second each while a mesh forms).
   */
  private gcDirty = false;
  private readonly shortIds = new ShortIdIndex();
  private readonly selfName: PeerName;
  private readonly random: () => number;

  /** `random` returns values in [0, 1); it decides short IDs. */
  constructor(self: LocalIdentity, random: () => number) {
    if (!isValidPeerName(self.name)) throw new WeftError('usage', `invalid peer name ${self.name}`);
    if (self.uid <= 0n || self.uid > MAX_U64) throw new WeftError('usage', 'peer uid must be a non-zero uint64');
    if (self.shortId !== undefined && !isValidShortId(self.shortId)) {
      throw new WeftError('usage', `short ID ${self.shortId} out of range`);
    }
    this.selfName = self.name;
    this.random = random;
    const shortId = self.shortId ?? this.shortIds.chooseFree(random);
    this.put({
      name: self.name,
      nickname: self.nickname,
      uid: self.uid,
      version: 0n,
      shortId,
      connections: [],
    });
  }

  get self(): PeerSummary {
    return this.table.get(this.selfName)!;
  }

  get size(): number {
    return this.table.size;
  }

  /** Goes up with every change of the table: what was encoded at the same count is still current. */
  get generation(): number {
    return this.changes;
  }

  get(name: PeerName): PeerSummary | undefined {
    return this.table.get(name);
  }

  /**
   * Goes up whenever a name is added to or removed from the table: between two equal values
   * the same names are known (route computation keeps its name order and indices).
   */
  get membership(): number {
    return this.members;
  }

  /** Peers named in someone's connections whose own summary we have not received. */
  placeholders(): number {
    return this.placeholderCount;
  }

  /**
   * Whether applyUpdate would drop a summary like this without reading its connections: ours
   * (only the uid and version count), or a peer we know at least as new.
   */
  ignoresConnectionsOf(p: Pick<PeerSummary, 'name' | 'version' | 'uid' | 'shortId'>): boolean {
    if (p.name === this.selfName) return true;
    const known = this.table.get(p.name);
    return known !== undefined && !supersedes(p, known);
  }

  /** Live view: do not change the table while iterating. */
  all(): Iterable<PeerSummary> {
    return this.table.values();
  }

  /** The peer owning a short ID (lowest name among claimants), if any. */
  byShortId(id: number): PeerSummary | undefined {
    const owner = this.shortIds.owner(id);
    return owner === undefined ? undefined : this.table.get(owner);
  }

  /**
   * Replaces our own connection list (mesh bumps the version on add, established and delete).
   * Entries with invalid names or naming ourselves are dropped; later duplicates win.
   * Returns true if the list changed, in which case our version went up by one.
   */
  setLocalConnections(conns: readonly ConnectionSummary[]): boolean {
    const self = this.self;
    const { list } = normalizeConnections(conns, this.selfName);
    if (sameConnections(self.connections, list)) return false;
    this.addPlaceholders(list);
    this.put({ ...self, version: self.version + 1n, connections: list }, self);
    return true;
  }

  /**
   * Merges a topology update: unknown peers are added, known ones replaced iff the incoming
   * summary is newer (version, then uid, then having a short ID), names only referenced by
   * connections become placeholders. Our own entry is never taken from an update.
   */
  applyUpdate(update: Iterable<PeerSummary>): UpdateResult {
    const received = new Set<PeerName>();
    const improved = new Set<PeerName>();
    let rejected = 0;
    let oldIncarnation = false;
    let selfChanged = false;

    for (const raw of update) {
      if (!isValidSummary(raw)) {
        rejected++;
        continue;
      }
      received.add(raw.name);
      if (raw.name === this.selfName) {
        const self = this.self;
        if (raw.uid === self.uid) continue;
        oldIncarnation = true;
        if (raw.version >= self.version) {
          this.put({ ...self, version: raw.version + 1n }, self);
          selfChanged = true;
        }
        continue;
      }
      // Only the version, uid and short ID decide: a summary we already have at least as new
      // (most of what arrives once tables agree) is not copied.
      const known = this.table.get(raw.name);
      if (known !== undefined && !supersedes(raw, known)) continue;
      const { list, dropped } = normalizeConnections(raw.connections, undefined);
      rejected += dropped;
      const incoming: PeerSummary = {
        name: raw.name,
        nickname: raw.nickname,
        uid: raw.uid,
        version: raw.version,
        shortId: raw.shortId,
        connections: list,
      };
      this.addPlaceholders(list);
      this.put(incoming, known);
      improved.add(raw.name);
    }

    const shortIdChanged = this.keepOwnShortIdUnique();
    return {
      received,
      improved,
      oldIncarnation,
      shortIdChanged,
      selfChanged: selfChanged || shortIdChanged,
      rejected,
    };
  }

  /**
   * Records a peer met in a handshake, as version 0 without connections, unless we already know
   * it at least as well (mesh's fetchWithDefault; here it also improves a placeholder).
   * Our own name is ignored: a handshake naming us is a collision the caller rejects.
   */
  learn(peer: HandshakePeer): UpdateResult {
    const summary: PeerSummary = { ...peer, version: 0n, connections: [] };
    return this.applyUpdate(peer.name === this.selfName ? [] : [summary]);
  }

  /**
   * Removes and returns the peers not reachable from us over any connection lists (established
   * or not, symmetric or not), except those in `keep` (e.g. peers whose handshake is in
   * progress). If we were waiting for a free short ID, we may take one now, bumping our version:
   * compare `self.version` before and after to know whether to gossip ourselves.
   */
  garbageCollect(keep?: Iterable<PeerName>): PeerSummary[] {
    if (!this.gcDirty) return [];
    const reached = new Set<PeerName>([this.selfName]);
    const queue: PeerSummary[] = [this.self];
    const walk = (from: number): void => {
      for (let i = from; i < queue.length; i++) {
        for (const c of queue[i]!.connections) {
          if (reached.has(c.name)) continue;
          const next = this.table.get(c.name);
          if (next === undefined) continue;
          reached.add(c.name);
          queue.push(next);
        }
      }
    };
    walk(0);
    const removed: PeerSummary[] = [];
    this.gcDirty = false;
    if (reached.size >= this.table.size) return removed;
    // Kept peers stay with everything they reach, so no summary names a peer the table lacks;
    // the next GC looks again, for when they are no longer kept.
    const ours = queue.length;
    for (const name of keep ?? []) {
      const p = this.table.get(name);
      if (p === undefined || reached.has(name)) continue;
      reached.add(name);
      queue.push(p);
    }
    walk(ours);
    if (queue.length > ours) this.gcDirty = true;
    for (const [name, p] of this.table) {
      if (reached.has(name)) continue;
      this.table.delete(name);
      this.changes++;
      this.members++;
      if (isPlaceholder(p)) this.placeholderCount--;
      if (p.shortId !== undefined) this.shortIds.remove(p.shortId, name);
      removed.push(p);
    }
    if (removed.length > 0) this.keepOwnShortIdUnique();
    return removed;
  }

  /** Summaries to gossip: the named peers (all if omitted) that we know beyond a placeholder. */
  encodeFor(names?: Iterable<PeerName>): PeerSummary[] {
    const out: PeerSummary[] = [];
    if (names === undefined) {
      // In name order: two peers whose tables agree encode them to the same bytes, so a periodic
      // full gossip that tells us nothing is recognised without decoding it (TopologyGossiper).
      for (const p of this.table.values()) if (!isPlaceholder(p)) out.push(p);
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    for (const name of new Set(names)) {
      const p = this.table.get(name);
      if (p !== undefined && !isPlaceholder(p)) out.push(p);
    }
    return out;
  }

  toString(): string {
    return `Peers(${formatPeerName(this.selfName)}, ${this.table.size} known)`;
  }

  private put(next: PeerSummary, prev?: PeerSummary): void {
    this.changes++;
    if (prev === undefined) {
      this.members++;
      this.gcDirty = true;
    } else {
      if (isPlaceholder(prev)) this.placeholderCount--;
      if (!this.gcDirty && lostConnection(prev, next)) this.gcDirty = true;
    }
    if (isPlaceholder(next)) this.placeholderCount++;
    if (prev?.shortId !== undefined) this.shortIds.remove(prev.shortId, prev.name);
    this.table.set(next.name, next);
    if (next.shortId !== undefined) this.shortIds.add(next.shortId, next.name);
  }

  private addPlaceholders(conns: readonly ConnectionSummary[]): void {
    for (const c of conns) {
      if (!this.table.has(c.name)) this.put(placeholder(c.name));
    }
  }

  /**
   * If a peer with a lower name claims our short ID, move to a free one (version++). When none
   * is free we keep the contested one and retry after the next GC frees some (as mesh does).
   */
  private keepOwnShortIdUnique(): boolean {
    const self = this.self;
    if (self.shortId !== undefined && this.shortIds.owner(self.shortId) === this.selfName) return false;
    const fresh = this.shortIds.chooseFree(this.random);
    if (fresh === undefined) return false;
    this.put({ ...self, shortId: fresh, version: self.version + 1n }, self);
    return true;
  }
}

/** Mesh's order: higher version, then higher uid, then having a short ID over not. */
export function supersedes(incoming: Pick<PeerSummary, 'version' | 'uid' | 'shortId'>, known: Pick<PeerSummary, 'version' | 'uid' | 'shortId'>): boolean {
  if (incoming.version !== known.version) return incoming.version > known.version;
  if (incoming.uid !== known.uid) return incoming.uid > known.uid;
  return incoming.shortId !== undefined && known.shortId === undefined;
}

export function placeholder(name: PeerName): PeerSummary {
  return { name, nickname: '', uid: 0n, version: 0n, shortId: undefined, connections: [] };
}

function isValidSummary(p: PeerSummary): boolean {
  return (
    isValidPeerName(p.name) &&
    p.uid >= 0n &&
    p.uid <= MAX_U64 &&
    p.version >= 0n &&
    // Leaves room for "their version + 1" when the summary is an old incarnation of us.
    p.version < MAX_U64 &&
    (p.shortId === undefined || isValidShortId(p.shortId))
  );
}

/** Copies a connection list, dropping invalid names (and `self`), later duplicates winning. */
function normalizeConnections(
  conns: readonly ConnectionSummary[],
  self: PeerName | undefined,
): { list: ConnectionSummary[]; dropped: number } {
  const byName = new Map<PeerName, ConnectionSummary>();
  let dropped = 0;
  for (const c of conns) {
    if (!isValidPeerName(c.name) || c.name === self) {
      dropped++;
      continue;
    }
    byName.set(c.name, {
      name: c.name,
      remoteTcpAddr: c.remoteTcpAddr,
      outbound: c.outbound,
      established: c.established,
    });
  }
  return { list: [...byName.values()], dropped };
}

/** Whether `next` no longer lists a peer `prev` listed. */
function lostConnection(prev: PeerSummary, next: PeerSummary): boolean {
  if (prev.connections.length === 0) return false;
  const names = new Set<PeerName>();
  for (const c of next.connections) names.add(c.name);
  for (const c of prev.connections) if (!names.has(c.name)) return true;
  return false;
}

function sameConnections(a: readonly ConnectionSummary[], b: readonly ConnectionSummary[]): boolean {
  if (a.length !== b.length) return false;
  const byName = new Map<PeerName, ConnectionSummary>();
  for (const c of a) byName.set(c.name, c);
  for (const c of b) {
    const o = byName.get(c.name);
    if (
      o === undefined ||
      o.remoteTcpAddr !== c.remoteTcpAddr ||
      o.outbound !== c.outbound ||
      o.established !== c.established
    ) {
      return false;
    }
  }
  return true;
}
