// Persistence of the ring and this peer's allocations: <data-dir>/ipam.json, written crash-safely
// (write a temporary file, fsync it, rename it over the old one, fsync the directory), so after
// kill -9 at any moment the file holds either the old state or the new one, never a mix.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError, errorMessage } from '../lib/errors.js';
import { replaceFileDurably } from '../lib/durable-file.js';
import { formatPeerName, parsePeerName, type PeerName } from '../mesh/peer-name.js';
import type { Entry, RingState } from './types.js';
import { fromRuns, toRuns, type UsedRecord } from './used.js';
import { SerialQueue } from '../lib/serial.js';

export interface Persisted {
  self: PeerName;
  ring?: RingState;
  allocations: { container: string; ip: number }[];
  /** Taken-over space not handed out before `until` (clock time). */
  quarantine: { start: number; end: number; until: number }[];
  /** When this peer last reached a majority of the ring's owners (clock time). */
  lastMajorityAt?: number;
  /**
   * Every peer's used-address record as last known, ours included (ipam/used.ts): what keeps a
   * reclaimed peer's addresses held across our restarts. Files from before it load with none.
   */
  records?: UsedRecord[];
}

export interface IpamStore {
  /** The last state saved, or undefined if none was ever saved. Rejects with a WeftError on a corrupt store. */
  load(): Promise<Persisted | undefined>;
  /** Replaces the saved state; durable once the promise resolves. Calls are applied in order. */
  save(p: Persisted): Promise<void>;
}

const FILE_VERSION = 1;

export function serialise(p: Persisted): string {
  return JSON.stringify({
    version: FILE_VERSION,
    self: formatPeerName(p.self),
    ring: p.ring && {
      start: p.ring.start,
      end: p.ring.end,
      genesis: p.ring.genesis,
      entries: p.ring.entries.map((e) => [e.token, formatPeerName(e.owner), e.version, e.free]),
    },
    allocations: p.allocations.map((a) => [a.container, a.ip]),
    quarantine: p.quarantine.map((q) => [q.start, q.end, q.until]),
    lastMajorityAt: p.lastMajorityAt,
    records: (p.records ?? []).map((r) => [formatPeerName(r.owner), r.version, r.gone ? 1 : 0, toRuns(r.used)]),
  });
}

const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Parses what serialise wrote; a reason string if the text is not a valid state. */
export function deserialise(text: string): Persisted | string {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    return `not JSON (${errorMessage(err)})`;
  }
  if (typeof j !== 'object' || j === null) return 'not an object';
  const o = j as Record<string, unknown>;
  if (o.version !== FILE_VERSION) return `unknown version ${String(o.version)}`;
  const self = typeof o.self === 'string' ? parsePeerName(o.self) : undefined;
  if (self === undefined) return 'bad self';
  let ring: RingState | undefined;
  if (o.ring !== undefined && o.ring !== null) {
    const r = o.ring as Record<string, unknown>;
    if (!isUint(r.start) || !isUint(r.end) || typeof r.genesis !== 'string' || !Array.isArray(r.entries)) return 'bad ring';
    const entries: Entry[] = [];
    for (const e of r.entries as unknown[]) {
      if (!Array.isArray(e) || e.length !== 4 || !isUint(e[0]) || typeof e[1] !== 'string' || !isUint(e[2]) || !isUint(e[3])) return 'bad ring entry';
      const owner = parsePeerName(e[1]);
      if (owner === undefined) return 'bad ring entry owner';
      entries.push({ token: e[0], owner, version: e[2], free: e[3] });
    }
    ring = { start: r.start, end: r.end, genesis: r.genesis, entries };
  }
  if (!Array.isArray(o.allocations)) return 'bad allocations';
  const allocations: Persisted['allocations'] = [];
  for (const a of o.allocations as unknown[]) {
    if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string' || !isUint(a[1])) return 'bad allocation';
    allocations.push({ container: a[0], ip: a[1] });
  }
  const quarantine: Persisted['quarantine'] = [];
  for (const q of (o.quarantine ?? []) as unknown[]) {
    if (!Array.isArray(q) || q.length !== 3 || !isUint(q[0]) || !isUint(q[1]) || !isNum(q[2])) return 'bad quarantine';
    quarantine.push({ start: q[0], end: q[1], until: q[2] });
  }
  const lastMajorityAt = o.lastMajorityAt === undefined ? undefined : isNum(o.lastMajorityAt) ? o.lastMajorityAt : null;
  if (lastMajorityAt === null) return 'bad lastMajorityAt';
  const records: UsedRecord[] = [];
  for (const r of (o.records ?? []) as unknown[]) {
    if (!Array.isArray(r) || r.length !== 4 || typeof r[0] !== 'string' || !isUint(r[1]) || (r[2] !== 0 && r[2] !== 1) || !Array.isArray(r[3])) return 'bad used record';
    const owner = parsePeerName(r[0]);
    if (owner === undefined) return 'bad used record owner';
    const runs: [number, number][] = [];
    for (const run of r[3] as unknown[]) {
      if (!Array.isArray(run) || run.length !== 2 || !isUint(run[0]) || !isUint(run[1]) || run[1] > 2 ** 24) return 'bad used record run';
      runs.push([run[0], run[1]]);
    }
    records.push({ owner, version: r[1], gone: r[2] === 1, used: fromRuns(runs) });
  }
  return { self, ring, allocations, quarantine, lastMajorityAt, records };
}

export class FileIpamStore implements IpamStore {
  readonly path: string;
  /** Saves are written in the order they were asked for. */
  private readonly writes = new SerialQueue();

  constructor(private readonly dir: string) {
    this.path = join(dir, 'ipam.json');
  }

  async load(): Promise<Persisted | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new WeftError('io', `cannot read ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
    const p = deserialise(text);
    if (typeof p === 'string') {
      throw new WeftError(
        'io',
        `${this.path} is corrupt (${p}): move it aside and restart: the ring comes back from the other peers, and the addresses of the containers attached on this host are adopted back from the kernel (or restore the file from a backup)`,
      );
    }
    return p;
  }

  save(p: Persisted): Promise<void> {
    const text = serialise(p);
    return this.writes.run(() => this.write(text));
  }

  private async write(text: string): Promise<void> {
    try {
      await replaceFileDurably(this.dir, 'ipam.json', text);
    } catch (err) {
      throw new WeftError('io', `cannot save ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

/** Keeps the last saved state in memory (as its serialised text, so tests see what a file would hold). */
export class MemoryIpamStore implements IpamStore {
  private text: string | undefined;
  saves = 0;
  /** When set, save() rejects with this error (to test failure handling). */
  failWith: Error | undefined;

  async load(): Promise<Persisted | undefined> {
    if (this.text === undefined) return undefined;
    const p = deserialise(this.text);
    if (typeof p === 'string') throw new WeftError('io', `memory store corrupt: ${p}`);
    return p;
  }

  async save(p: Persisted): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.text = serialise(p);
    this.saves++;
  }

  /** The state as last saved (undefined if never). */
  get saved(): Persisted | undefined {
    if (this.text === undefined) return undefined;
    const p = deserialise(this.text);
    return typeof p === 'string' ? undefined : p;
  }
}
