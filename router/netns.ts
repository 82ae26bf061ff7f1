// What `weft attach` may be pointed at: naming a container's network namespace, and refusing
// what is not one.
//
// A container is named as `ip netns` names it (/run/netns/NAME), as a /proc/PID/ns/net path, or by
// a PID. checkContainerNetns then refuses, before any veth is made:
//   - a path that is not a namespace file: its filesystem is not nsfs (statfs f_type NSFS_MAGIC,
//     the filesystem every namespace file and `ip netns`' bind mounts live on). Node's statfs is
//     enough; no ioctl(NS_GET_NSTYPE) and so no native code. A /proc/PID/ns/<type> path must name
//     the `net` one; a bind mount of another namespace type elsewhere is not told apart here (the
//     kernel's setns(CLONE_NEWNET) refuses it with EINVAL);
//   - the namespace weft itself runs in (same st_dev/st_ino as /proc/self/ns/net): attaching it
//     would give the host an eth0 and a route to the overlay;
//   - the namespace of PID 1 (/proc/1/ns/net, or PID 1 named outright), the host's own. When
//     /proc/1/ns/net cannot be read (weft in a PID namespace it does not own), only the name is
//     checked.
import { statSync, statfsSync, type Stats } from 'node:fs';
import { WeftError } from '../lib/errors.js';
import { err, ok, type Result } from '../lib/result.js';

/** statfs f_type of nsfs (linux/magic.h). */
export const NSFS_MAGIC = 0x6e736673;

const HINT = 'give a container\'s namespace: a name from "ip netns list", a /proc/PID/ns/net path or a PID';

/** A named namespace, a /proc/PID/ns/net-style path, or a PID → its path; with mustExist, the path must exist. */
export function netnsPath(container: string, mustExist = true): Result<string> {
  let path: string;
  if (/^\d+$/.test(container)) path = `/proc/${container}/ns/net`;
  else if (container.startsWith('/')) path = container;
  else if (/^[A-Za-z0-9_.-]{1,64}$/.test(container)) path = `/run/netns/${container}`;
  else return err(`"${container}" is not a network namespace: give a name from "ip netns list", a /proc/PID/ns/net path or a PID`);
  if (mustExist && !exists(path)) return err(`network namespace ${container} not found (${path} does not exist)`);
  return ok(path);
}

/** netnsPath, throwing a usage WeftError (the data plane's drop-in for its own resolveNetns). */
export function resolveNetns(container: string, mustExist = true): string {
  const p = netnsPath(container, mustExist);
  if (!p.ok) throw new WeftError('usage', p.reason);
  return p.value;
}

/** The namespaces a container must not be; overridable for tests only. */
export interface NetnsRefs {
  /** The namespace weft runs in. */
  self: string;
  /** PID 1's, the host's. */
  init: string;
}

const DEFAULT_REFS: NetnsRefs = { self: '/proc/self/ns/net', init: '/proc/1/ns/net' };

/** Refuses a path that is not a container's network namespace (see the top of this file); ok(path) otherwise. */
export function checkContainerNetns(path: string, refs: NetnsRefs = DEFAULT_REFS): Result<string> {
  // By name first: /proc/1/ns/net is often unreadable when weft runs in a PID namespace.
  const pid1 = `${path} is the network namespace of PID 1, the host's own: ${HINT}`;
  if (/^\/proc\/1\/(?:task\/1\/)?ns\/net$/.test(path)) return err(pid1);
  let st: Stats;
  let fsType: number;
  try {
    st = statSync(path);
    fsType = Number(statfsSync(path).type);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return err(`network namespace ${path} not found (is the container still running?): ${HINT}`);
    if (code === 'EACCES' || code === 'EPERM') return err(`${path} cannot be read (permission denied): weft must run as root to attach containers`);
    return err(`${path} cannot be read (${(e as Error).message}): ${HINT}`);
  }
  const proc = /^\/proc\/[^/]+\/(?:task\/\d+\/)?ns\/([^/]+)$/.exec(path);
  if (proc && proc[1] !== 'net') return err(`${path} is a ${proc[1]} namespace, not a network namespace: use /proc/PID/ns/net`);
  if (fsType !== NSFS_MAGIC) return err(`${path} is not a network namespace (it is ${st.isDirectory() ? 'a directory' : 'an ordinary file'}): ${HINT}`);
  const self = statOrUndefined(refs.self);
  if (self && sameFile(st, self)) return err(`${path} is this host's own network namespace (the one weft runs in): ${HINT}`);
  const init = statOrUndefined(refs.init);
  if (init && sameFile(st, init)) return err(pid1);
  return ok(path);
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** False only when the path is missing; unreadable counts as there (checkContainerNetns says why). */
function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}
