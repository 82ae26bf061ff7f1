// Podman (CNI backend, runc, cgroupfs) for one namespace host, with private configuration and
// storage: nothing global is read or changed except what podman's CNI backend itself keeps in
// /run/netns (its containers' namespaces) and /var/lib/cni (libcni's result cache).
//
//   root namespace: nsenter --net=/run/netns/<host> podman … ──► CNI plugins run in <host>'s netns
//   <dir>/containers.conf, storage.conf        CONTAINERS_CONF / CONTAINERS_STORAGE_CONF
//   <dir>/graph, <dir>/run, <dir>/tmp          graphroot, runroot, tmp_dir (overlay mounts below)
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecResult, Host } from '../netns.js';
import { privateDir, removePrivateDir } from './dirs.js';
import { endMentioning, run, unmountUnder, type RunOpts } from './exec.js';
import { BUSYBOX_CHANGES, BUSYBOX_IMAGE, busyboxTar } from './images.js';

export interface PodmanOpts {
  /** Where podman reads conflists (network_config_dir). */
  cniConfDir: string;
  /** Plugin directories, searched in order (cni_plugin_dirs); /usr/lib/cni is appended. */
  cniPluginDirs?: string[];
  /** Import the busybox image now (default true). */
  withBusybox?: boolean;
}

const toml = (s: string): string => JSON.stringify(s);

export class Podman {
  readonly dir: string;
  readonly graphroot: string;
  readonly runroot: string;
  private readonly env: Record<string, string>;
  private cleaning: Promise<void> | undefined;

  private constructor(
    readonly host: Host | undefined,
    readonly opts: PodmanOpts,
  ) {
    this.dir = privateDir(`podman-${host?.name ?? 'root'}`);
    this.graphroot = join(this.dir, 'graph');
    this.runroot = join(this.dir, 'run');
    const tmp = join(this.dir, 'tmp');
    for (const d of [this.graphroot, this.runroot, tmp, join(this.dir, 'volumes')]) mkdirSync(d, { recursive: true });
    const pluginDirs = [...(opts.cniPluginDirs ?? []), '/usr/lib/cni'];
    writeFileSync(
      join(this.dir, 'containers.conf'),
      `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = ${toml(join(this.dir, 'events.log'))}
runtime = "runc"
tmp_dir = ${toml(tmp)}
volume_path = ${toml(join(this.dir, 'volumes'))}
static_dir = ${toml(join(this.graphroot, 'libpod'))}

[network]
network_backend = "cni"
network_config_dir = ${toml(opts.cniConfDir)}
cni_plugin_dirs = [${pluginDirs.map(toml).join(', ')}]
`,
    );
    writeFileSync(
      join(this.dir, 'storage.conf'),
      `[storage]
driver = "overlay"
graphroot = ${toml(this.graphroot)}
runroot = ${toml(this.runroot)}
`,
    );
    this.env = { CONTAINERS_CONF: join(this.dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(this.dir, 'storage.conf') };
  }

  /**
   * A podman for `host` (undefined: the root namespace, for image work that needs no network).
   * Cleaned up again if the image import fails.
   */
  static async create(host: Host | undefined, opts: PodmanOpts): Promise<Podman> {
    const p = new Podman(host, opts);
    try {
      if (opts.withBusybox ?? true) await p.importImage(await busyboxTar(), BUSYBOX_IMAGE, BUSYBOX_CHANGES);
    } catch (err) {
      await p.cleanup();
      throw err;
    }
    return p;
  }

  /** `podman ARGS` in the host's network namespace; never throws for a non-zero exit. */
  podman(args: string[], opts: Omit<RunOpts, 'host' | 'env'> = {}): Promise<ExecResult> {
    return run('podman', args, { ...opts, env: this.env, ...(this.host ? { host: this.host } : {}) });
  }

  /** `podman ARGS`; throws with its output unless it exits 0. Returns stdout trimmed. */
  async ok(args: string[], opts: Omit<RunOpts, 'host' | 'env'> = {}): Promise<string> {
    const r = await this.podman(args, opts);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')}${this.host ? ` on ${this.host.name}` : ''} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout.trim();
  }

  async importImage(tarball: string, name: string, changes: string[] = []): Promise<void> {
    await this.ok(['import', '--quiet', ...changes, tarball, name]);
  }

  /**
   * `podman run -d --cap-add NET_RAW [extra] IMAGE CMD` (busybox and `sleep 3600` by default); the
   * container's ID. NET_RAW lets busybox ping.
   */
  runDetached(extra: string[], cmd: string[] = ['sleep', '3600'], image = BUSYBOX_IMAGE): Promise<string> {
    return this.ok(['run', '-d', '--cap-add', 'NET_RAW', ...extra, image, ...cmd]);
  }

  /** The first IPv4 address podman recorded for the container on `network`. */
  async ipOf(container: string, network: string): Promise<string> {
    const ip = await this.ok(['inspect', '--format', `{{(index .NetworkSettings.Networks ${JSON.stringify(network)}).IPAddress}}`, container]);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`container ${container} has no address on ${network} (inspect says ${JSON.stringify(ip)})`);
    return ip;
  }

  /** `podman exec CONTAINER CMD…`; never throws for a non-zero exit. */
  exec(container: string, cmd: string[], opts: Omit<RunOpts, 'host' | 'env'> = {}): Promise<ExecResult> {
    return this.podman(['exec', container, ...cmd], opts);
  }

  /** IDs of every container this podman knows. */
  async containerIds(): Promise<string[]> {
    return (await this.ok(['ps', '-a', '--no-trunc', '--format', '{{.ID}}'])).split('\n').filter(Boolean);
  }

  /**
   * Removes every container (which runs the CNI DELs), resets storage, ends any conmon or container
   * process still holding the private dirs (by PID, matched by path), unmounts what is mounted below
   * them and deletes them. Safe to call twice; reports what it had to force.
   */
  cleanup(): Promise<void> {
    this.cleaning ??= this.teardown();
    return this.cleaning;
  }

  private async teardown(): Promise<void> {
    const problems: string[] = [];
    if (existsSync(this.dir)) {
      const rm = await this.podman(['rm', '--all', '--force', '--time', '0'], { timeoutMs: 60_000 });
      if (rm.code !== 0) problems.push(`podman rm --all: ${rm.stderr.trim()}`);
      const killed = await endMentioning(this.dir);
      if (killed.length > 0) problems.push(`killed leftover processes ${killed.join(' ')}`);
      await unmountUnder(this.dir);
      // storage may hold immutable-looking overlay work dirs; rm -rf copes where rmSync might not
      removePrivateDir(this.dir);
    }
    if (problems.length > 0) process.emitWarning(`podman cleanup${this.host ? ` on ${this.host.name}` : ''}: ${problems.join('; ')}`);
  }
}

/** Namespace files podman's CNI backend made in /run/netns (netns-<uuid>). */
export function podmanNetnsFiles(): string[] {
  return readdirSync('/run/netns').filter((n) => n.startsWith('netns-'));
}
