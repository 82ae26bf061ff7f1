// The reconciler: the only writer of weft's links, FDB and neighbour entries.
//
//   reconcile(desired) ─┐ (calls while one runs coalesce: only the latest state is applied)
//                       ├─ kernel.read(desired names ∪ names weft owns)
//                       ├─ planOps(desired, have)  → one ordered batch
//                       └─ kernel.apply(batch)     (skipped when the batch is empty)
//
// Everything on a device weft owns belongs to weft; devices it does not own are never read or
// touched. Applying the same state twice reads once and applies nothing.
import type { Logger } from '../lib/log.js';
import {
  cmp,
  compareFdb,
  compareNeigh,
  fdbKey,
  inPlaceChanges,
  neighKey,
  normalVni,
  recreateReason,
  type DesiredState,
} from './desired.js';
import type { FdbEntry, Kernel, KernelOp, KernelState, Link, LinkSpec, NeighEntry, OpResult } from './kernel.js';

export type { DesiredState } from './desired.js';

export interface ReconcilerOptions {
  kernel: Kernel;
  log: Logger;
  /**
   * Link names that may be weft's from an earlier run (e.g. relay devices); they are read, and
   * deleted while no desired state mentions them.
   */
  owned?: string[];
  /**
   * Which names are weft's: a name in `owned` or from `listLinks` failing it is never touched.
   * Default: all of `owned` are, none of `listLinks` are.
   */
  ownsLink?: (name: string) => boolean;
  /**
   * Names of all links on the host, asked once before the first reconcile (again after it fails)
   * so links left by an earlier run that ownsLink() recognises are found and deleted.
   */
  listLinks?: () => Promise<string[]>;
}

export interface ReconcileOptions {
  /** An entry on weft's devices that is not desired is kept (not deleted) when this says so. */
  keep?: (e: FdbEntry | NeighEntry) => boolean;
}

export interface ReconcileResult {
  /** The batch handed to kernel.apply(), in order ([] when the kernel already matched). */
  ops: KernelOp[];
  /** The ops that failed; the next reconcile retries them. */
  failed: OpResult[];
}

export interface Plan {
  ops: KernelOp[];
  recreated: { link: string; reason: string }[];
  changed: { link: string; changes: string[] }[];
  /** Desired entries dropped because their device is not a desired link. */
  strayDevs: string[];
}

interface Job {
  desired: DesiredState;
  opts: ReconcileOptions;
  waiters: { resolve: (r: ReconcileResult) => void; reject: (err: unknown) => void }[];
}

export class Reconciler {
  private readonly kernel: Kernel;
  private readonly log: Logger;
  /** Links weft created or was told it owns, kept until a link-del of them succeeded. */
  private readonly remembered = new Set<string>();
  private readonly ownsLink: ((name: string) => boolean) | undefined;
  private listLinks: (() => Promise<string[]>) | undefined;
  private next: Job | undefined;
  private running = false;

  constructor(opts: ReconcilerOptions) {
    this.kernel = opts.kernel;
    this.log = opts.log;
    this.ownsLink = opts.ownsLink;
    this.listLinks = opts.listLinks;
    for (const name of opts.owned ?? []) if (opts.ownsLink?.(name) ?? true) this.remembered.add(name);
  }

  /**
   * Makes weft's part of the kernel equal to `desired`. A call made while another runs waits for
   * it and then runs with the latest state only; every caller's promise settles when a reconcile
   * that covers its state (or a later one) finished. Rejects only if the kernel read fails.
   */
  reconcile(desired: DesiredState, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
    return new Promise((resolve, reject) => {
      if (this.next === undefined) this.next = { desired, opts, waiters: [] };
      this.next.desired = desired;
      this.next.opts = opts;
      this.next.waiters.push({ resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (let job = this.next; job !== undefined; job = this.next) {
        this.next = undefined;
        try {
          const result = await this.once(job.desired, job.opts);
          for (const w of job.waiters) w.resolve(result);
        } catch (err) {
          for (const w of job.waiters) w.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async once(desired: DesiredState, opts: ReconcileOptions): Promise<ReconcileResult> {
    if (this.listLinks !== undefined) await this.discover(this.listLinks);
    const desiredNames = new Set(desired.links.map((l) => l.name));
    const names = [...new Set([...desiredNames, ...this.remembered])].sort(cmp);
    const have = await this.kernel.read(names);
    const plan = planOps(desired, have, opts.keep);

    for (const r of plan.recreated) this.log.info(r, 'recreating link');
    for (const c of plan.changed) this.log.info(c, 'changing link');
    for (const dev of plan.strayDevs) this.log.warn({ dev }, 'ignoring desired entries on a device that is not a desired link');

    const results = plan.ops.length === 0 ? [] : await this.kernel.apply(plan.ops);
    const failed = results.filter((r) => r.error !== undefined);
    for (const f of failed) this.log.warn({ op: f.op, error: f.error }, 'kernel op failed');
    if (this.log.isLevelEnabled('debug')) this.log.debug({ ops: plan.ops.length, failed: failed.length }, 'reconciled');

    const deleted = new Set(results.flatMap((r) => (r.error === undefined && r.op.op === 'link-del' ? [r.op.name] : [])));
    this.remembered.clear();
    for (const name of desiredNames) this.remembered.add(name);
    for (const l of have.links) if (!desiredNames.has(l.name) && !deleted.has(l.name)) this.remembered.add(l.name);
    return { ops: plan.ops, failed };
  }

  private async discover(listLinks: () => Promise<string[]>): Promise<void> {
    try {
      const found = (await listLinks()).filter((n) => this.ownsLink?.(n) === true);
      for (const name of found) this.remembered.add(name);
      this.listLinks = undefined;
      if (found.length > 0) this.log.info({ links: found.sort(cmp) }, 'found links of an earlier run');
    } catch (err) {
      this.log.warn({ err }, 'could not list links; looking for leftovers again next time');
    }
  }
}

/**
 * The batch that turns `have` (weft's devices as read) into `desired`. Every link in `have` is
 * weft's: one that is not desired is deleted. The order, phase by phase:
 *  1. link-del of links that must be re-added (kind, MAC or VXLAN settings changed): the name
 *     must be free before the new link can take it;
 *  2. link-add, bridges first: a port's master must exist when the port is created;
 *  3. link-set for in-place changes (mtu, master, up, port flags), now that every master exists;
 *  4. neigh-del: ARP stops being answered for addresses that are going away before anything
 *     they point at is removed;
 *  5. fdb-add: every MAC a neighbour will point at is reachable before ARP answers with it, and
 *     a peer's new head-end entry (e.g. a new VNI) is there before its old one goes;
 *  6. neigh-add, adding and replacing: only now may ARP answer with the new MACs;
 *  7. fdb-del: no neighbour points at these MACs any more (a moved address was replaced in 6);
 *     a delete carries the VNI as read, since the kernel matches remotes by it;
 *  8. link-del of links no longer desired, last: a retired device carries traffic until what
 *     replaces it is in place, and its entries go with it.
 */
export function planOps(desired: DesiredState, have: KernelState, keep?: ReconcileOptions['keep']): Plan {
  const want = new Map<string, LinkSpec>();
  for (const l of desired.links) if (!want.has(l.name)) want.set(l.name, l);
  const haveLinks = new Map(have.links.map((l) => [l.name, l]));

  const recreated: Plan['recreated'] = [];
  const adds: LinkSpec[] = [];
  for (const [name, spec] of want) {
    const h = haveLinks.get(name);
    if (h === undefined) {
      adds.push(spec);
      continue;
    }
    const reason = recreateReason(spec, h);
    if (reason !== undefined) {
      recreated.push({ link: name, reason });
      adds.push(spec);
    }
  }
  const retired = have.links.filter((l) => !want.has(l.name));
  // Devices that are deleted by this batch: their entries and their ports' membership go too.
  const gone = new Set([...recreated.map((r) => r.link), ...retired.map((l) => l.name)]);

  const changed: Plan['changed'] = [];
  const sets: LinkSpec[] = [];
  for (const [name, spec] of want) {
    const h = haveLinks.get(name);
    if (h === undefined || gone.has(name)) continue;
    const changes = inPlaceChanges(spec, effectiveLink(h, gone));
    if (changes.length > 0) {
      changed.push({ link: name, changes });
      sets.push(spec);
    }
  }

  const live = (dev: string): boolean => want.has(dev) && !gone.has(dev);
  const { fdb: wantFdb, neigh: wantNeigh, strayDevs } = desiredEntries(desired, want);
  const fdb = diffFdb(wantFdb, have.fdb.filter((e) => live(e.dev)), keep);
  const neigh = diffNeigh(wantNeigh, have.neigh.filter((e) => live(e.dev)), keep);

  const ops: KernelOp[] = [
    ...recreated.map((r) => r.link).sort(cmp).map((name): KernelOp => ({ op: 'link-del', name })),
    ...adds.sort(linkOrder).map((link): KernelOp => ({ op: 'link-add', link })),
    ...sets.sort((a, b) => cmp(a.name, b.name)).map((link): KernelOp => ({ op: 'link-set', link })),
    ...neigh.del.sort(compareNeigh).map((entry): KernelOp => ({ op: 'neigh-del', entry })),
    ...fdb.add.sort(compareFdb).map((entry): KernelOp => ({ op: 'fdb-add', entry })),
    ...neigh.add.sort(compareNeigh).map((entry): KernelOp => ({ op: 'neigh-add', entry })),
    ...fdb.del.sort(compareFdb).map((entry): KernelOp => ({ op: 'fdb-del', entry })),
    ...retired.sort(portsFirst).map((l): KernelOp => ({ op: 'link-del', name: l.name })),
  ];
  return { ops, recreated: recreated.sort((a, b) => cmp(a.link, b.link)), changed, strayDevs };
}

/** Bridges before other links, then by name. */
function linkOrder(a: LinkSpec, b: LinkSpec): number {
  return bridgeRank(a) - bridgeRank(b) || cmp(a.name, b.name);
}

/** Other links before bridges, then by name. */
function portsFirst(a: LinkSpec, b: LinkSpec): number {
  return bridgeRank(b) - bridgeRank(a) || cmp(a.name, b.name);
}

function bridgeRank(l: LinkSpec): number {
  return l.kind === 'bridge' ? 0 : 1;
}

/** The link as it will be once `gone` devices are deleted: a port of a deleted bridge is released. */
function effectiveLink(h: Link, gone: Set<string>): Link {
  if (h.master === undefined || !gone.has(h.master)) return h;
  return { ...h, master: undefined, port: undefined };
}

/**
 * Desired entries in the kernel's form, one per identity (the lowest wins a conflict). No sort of
 * the whole list: at 100,000 endpoints the sorts were most of a reconcile that changed nothing.
 */
function desiredEntries(desired: DesiredState, want: Map<string, LinkSpec>) {
  const stray = new Set<string>();
  const fdb = new Map<string, FdbEntry>();
  for (const e of desired.fdb) {
    const dev = want.get(e.dev);
    if (dev === undefined) {
      stray.add(e.dev);
      continue;
    }
    const entry: FdbEntry = { dev: e.dev, mac: e.mac.toLowerCase(), dst: e.dst };
    const vni = normalVni(e.vni, dev.vxlan?.vni);
    if (vni !== undefined) entry.vni = vni;
    const k = fdbKey(entry);
    const other = fdb.get(k);
    if (other === undefined || compareFdb(entry, other) < 0) fdb.set(k, entry);
  }
  const neigh = new Map<string, NeighEntry>();
  for (const e of desired.neigh) {
    if (!want.has(e.dev)) {
      stray.add(e.dev);
      continue;
    }
    const entry: NeighEntry = { dev: e.dev, ip: e.ip, mac: e.mac.toLowerCase() };
    const k = neighKey(entry);
    const other = neigh.get(k);
    if (other === undefined || compareNeigh(entry, other) < 0) neigh.set(k, entry);
  }
  return { fdb, neigh, strayDevs: [...stray].sort(cmp) };
}

function diffFdb(want: Map<string, FdbEntry>, have: FdbEntry[], keep: ReconcileOptions['keep']) {
  const add: FdbEntry[] = [];
  const del: FdbEntry[] = [];
  const byKey = new Map<string, FdbEntry[]>();
  for (const h of have) {
    const k = fdbKey(h);
    const hs = byKey.get(k);
    if (hs === undefined) byKey.set(k, [h]);
    else hs.push(h);
  }
  for (const [k, w] of want) {
    const hs = byKey.get(k) ?? [];
    const same = hs.find((h) => h.dst === w.dst && h.vni === w.vni);
    // A MAC with several remotes (appended by someone else) keeps only the one weft wants (or the lowest).
    const kept = same ?? hs.reduce<FdbEntry | undefined>((lo, h) => (lo === undefined || compareFdb(h, lo) < 0 ? h : lo), undefined);
    for (const h of hs) if (h !== kept) del.push(h);
    if (same === undefined) add.push(w);
  }
  for (const [k, hs] of byKey) {
    if (want.has(k)) continue;
    for (const h of hs) if (keep?.(h) !== true) del.push(h);
  }
  return { add, del };
}

function diffNeigh(want: Map<string, NeighEntry>, have: NeighEntry[], keep: ReconcileOptions['keep']) {
  const add: NeighEntry[] = [];
  const del: NeighEntry[] = [];
  const haveByKey = new Map(have.map((h) => [neighKey(h), h]));
  for (const [k, w] of want) if (haveByKey.get(k)?.mac !== w.mac) add.push(w);
  for (const [k, h] of haveByKey) if (!want.has(k) && keep?.(h) !== true) del.push(h);
  return { add, del };
}
