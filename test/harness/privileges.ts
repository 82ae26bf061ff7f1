// What this machine lets the end-to-end tests do: network namespaces (root + iproute2), nftables
// inside them, and optional tools such as ping. Each probe runs once per process and is cached, and
// is synchronous so `describe.skipIf(...)` can use it while tests are being collected.
import { execFileSync } from 'node:child_process';

export type Capability = { ok: true } | { ok: false; reason: string };

/** The harness's namespace names: `wt<creator pid base36>-<3-char tag>-<role>`, role `sw` or `h<i>`. */
export const NETNS_NAME_PATTERN = /^wt([0-9a-z]{1,7})-([0-9a-z]{3})-(sw|h\d{1,3}|c\d{1,4})$/;

export function defaultPrefix(tag: string): string {
  return `wt${process.pid.toString(36)}-${tag}-`;
}

function run(cmd: string, args: string[]): { ok: true; stdout: string } | { ok: false; reason: string } {
  try {
    const stdout = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return { ok: true, stdout };
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message?: string };
    if (e.code === 'ENOENT') return { ok: false, reason: `${cmd} is not installed` };
    const detail = (e.stderr ?? '').trim() || e.message || String(err);
    return { ok: false, reason: `${cmd} ${args.join(' ')} failed: ${detail}` };
  }
}

const toolCache = new Map<string, boolean>();

/** True when `cmd` is on PATH (checked through the shell's `command -v`). */
export function hasCommand(cmd: string): boolean {
  let found = toolCache.get(cmd);
  if (found === undefined) {
    found = run('sh', ['-c', 'command -v "$0"', cmd]).ok;
    toolCache.set(cmd, found);
  }
  return found;
}

let netnsProbe: Capability | undefined;
let nftProbe: Capability | undefined;

/**
 * Root, iproute2, and a namespace that can really be created and deleted. The probe namespace uses the
 * harness's own naming pattern (tag `prb`), so sweepStale removes it if this process dies mid-probe.
 */
export function canUseNetns(): Capability {
  netnsProbe ??= probeNetns();
  return netnsProbe;
}

function probeNetns(): Capability {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network-namespace tests need root (run the tests as root)' };
  if (!hasCommand('ip')) return { ok: false, reason: 'ip (Debian package iproute2) is not installed' };
  const name = `${defaultPrefix('prb')}sw`;
  const added = run('ip', ['netns', 'add', name]);
  if (!added.ok) return { ok: false, reason: `cannot create a network namespace: ${added.reason}` };
  const up = run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  const fw = hasCommand('nft') ? run('ip', ['netns', 'exec', name, 'nft', 'list', 'ruleset']) : undefined;
  const deleted = run('ip', ['netns', 'del', name]);
  if (!up.ok) return { ok: false, reason: `cannot configure a network namespace: ${up.reason}` };
  if (!deleted.ok) return { ok: false, reason: `cannot delete a network namespace: ${deleted.reason}` };
  nftProbe = fw === undefined ? { ok: false, reason: 'nft (Debian package nftables) is not installed' } : fw.ok ? { ok: true } : fw;
  return { ok: true };
}

/** nftables usable inside a namespace (needed by blockUdpPort). Implies canUseNetns. */
export function canUseNft(): Capability {
  const netns = canUseNetns();
  if (!netns.ok) return netns;
  return nftProbe ?? { ok: false, reason: 'nft probe did not run' };
}
