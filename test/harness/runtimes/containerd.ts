// containerd with its CRI plugin, started by the test inside a namespace host and driven over gRPC
// as a kubelet would (RunPodSandbox → StopPodSandbox → RemovePodSandbox), with private root, state,
// sockets and CNI directories, so it runs beside any other containerd on the machine.
//
//   nsenter --net=/run/netns/<host> containerd -c <dir>/config.toml     (ended by PID)
//     └─ CRI plugin ─► CNI ADD/DEL in <host>'s namespace (bin_dir, conf_dir below)
//   cri_client.py <dir>/containerd.sock VERB …  (python3-grpcio; the API comes from the binary)
//   ctr -a <dir>/containerd.sock -n k8s.io images import <pause image>
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Host } from '../netns.js';
import { waitFor } from '../netns.js';
import { CACHE_DIR, HARNESS_DIR, cached, privateDir, removePrivateDir } from './dirs.js';
import { endMentioning, netnsPathOf, run, runOk, unmountUnder } from './exec.js';
import { PAUSE_CHANGES, PAUSE_IMAGE, pauseRootTar } from './images.js';
import { Podman } from './podman.js';

const CRI_CLIENT = join(HARNESS_DIR, 'cri_client.py');
const PYTHON = '/usr/bin/python3';
const STOP_GRACE_MS = 5_000;
/** containerd 1.6 puts shim sockets in /run/containerd/s whatever its config says. */
const SHIM_SOCKET_DIRS = ['/run/containerd/s', '/run/containerd'];
const READY_MS = 20_000;

export interface ContainerdOpts {
  /** The CNI plugin directory (containerd 1.6 takes one: put every plugin a conflist chains in it). */
  cniBinDir: string;
  cniConfDir: string;
}

export interface PodSandbox {
  id: string;
  ip: string;
  /** The sandbox's network namespace (/var/run/netns/cni-<uuid>). */
  netns: string;
}

/** The CRI Status reply (conditions RuntimeReady and NetworkReady). */
export interface CriStatus {
  status: { conditions: { type: string; status: boolean; reason?: string; message?: string }[] };
}

/** The pause image as a docker archive, made once with a throwaway podman and cached. */
export function pauseImageArchive(): Promise<string> {
  return cached(join(CACHE_DIR, 'pause-image.tar'), async (tmp) => {
    const p = await Podman.create(undefined, { cniConfDir: privateDir('pause-net'), withBusybox: false });
    try {
      await p.importImage(await pauseRootTar(), PAUSE_IMAGE, PAUSE_CHANGES);
      await p.ok(['save', '--format', 'docker-archive', '--output', tmp, PAUSE_IMAGE]);
    } finally {
      await p.cleanup();
      removePrivateDir(p.opts.cniConfDir);
    }
  });
}

const toml = (s: string): string => JSON.stringify(s);

export class Containerd {
  readonly dir: string;
  readonly socket: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private running = false;
  private readonly seenNetns = new Set<string>();
  /** The fixed shim-socket directories that did not exist before this containerd started (removed again if empty). */
  private readonly madeDirs = SHIM_SOCKET_DIRS.filter((d) => !existsSync(d));
  private cleaning: Promise<void> | undefined;

  private constructor(
    readonly host: Host,
    readonly opts: ContainerdOpts,
  ) {
    this.dir = privateDir(`containerd-${host.name}`);
    this.socket = join(this.dir, 'containerd.sock');
    this.logFile = join(this.dir, 'containerd.log');
    for (const d of ['root', 'state', 'opt']) mkdirSync(join(this.dir, d));
    writeFileSync(
      join(this.dir, 'config.toml'),
      `version = 2
root = ${toml(join(this.dir, 'root'))}
state = ${toml(join(this.dir, 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = ${toml(this.socket)}

[ttrpc]
  address = ${toml(`${this.socket}.ttrpc`)}

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(join(this.dir, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${toml(PAUSE_IMAGE)}
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = ${toml(join(this.dir, 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${toml(opts.cniBinDir)}
    conf_dir = ${toml(opts.cniConfDir)}
    max_conf_num = 1
`,
    );
  }

  /** Starts containerd in `host`'s network namespace, waits until it serves, imports the pause image. */
  static async start(host: Host, opts: ContainerdOpts): Promise<Containerd> {
    const c = new Containerd(host, opts);
    try {
      const archive = await pauseImageArchive();
      c.launch();
      await waitFor(async () => c.running && (await run('ctr', ['-a', c.socket, 'version'], { timeoutMs: 5_000 })).code === 0, {
        timeoutMs: READY_MS,
        intervalMs: 50,
        what: `containerd on ${host.name} to serve ${c.socket} (log: ${c.log().slice(-2000)})`,
      });
      await runOk('ctr', ['-a', c.socket, '-n', 'k8s.io', 'images', 'import', archive]);
    } catch (err) {
      await c.cleanup();
      throw err;
    }
    return c;
  }

  private launch(): void {
    const log = openSync(this.logFile, 'a');
    const child = spawn('nsenter', [`--net=${netnsPathOf(this.host)}`, '--', 'containerd', '-c', join(this.dir, 'config.toml')], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    this.running = true;
    this.exited = new Promise<void>((resolve) => {
      child.once('error', () => resolve());
      child.once('exit', () => resolve());
    }).then(() => {
      this.running = false;
    });
  }

  /** containerd's own log so far. */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** One CRI call through the Python client; the reply as parsed JSON. Throws with the gRPC status. */
  async cri<T = Record<string, unknown>>(verb: string, arg?: string): Promise<T> {
    const out = await runOk(PYTHON, [CRI_CLIENT, this.socket, verb, ...(arg === undefined ? [] : [arg])], {
      env: { CRI_DESCRIPTOR_CACHE: join(CACHE_DIR, 'cri-runtime-v1.pb') },
    });
    return JSON.parse(out) as T;
  }

  /** RunPodSandbox, then PodSandboxStatus for its address and network namespace. */
  async runPod(name: string, opts: { namespace?: string; uid?: string } = {}): Promise<PodSandbox> {
    mkdirSync(join(this.dir, 'logs', name), { recursive: true });
    const config = {
      metadata: { name, uid: opts.uid ?? `${name}-uid`, namespace: opts.namespace ?? 'default', attempt: 0 },
      hostname: name,
      log_directory: join(this.dir, 'logs', name),
      linux: {},
    };
    const { pod_sandbox_id: id } = await this.cri<{ pod_sandbox_id: string }>('runp', JSON.stringify(config));
    return this.inspectPod(id);
  }

  async inspectPod(id: string): Promise<PodSandbox> {
    const s = await this.cri<{ status: { network?: { ip?: string } }; info?: Record<string, string> }>('inspectp', id);
    const info = JSON.parse(s.info?.info ?? '{}') as { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } } };
    const netns = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path ?? '';
    if (netns) this.seenNetns.add(netns);
    return { id, ip: s.status.network?.ip ?? '', netns };
  }

  stopPod(id: string): Promise<unknown> {
    return this.cri('stopp', id);
  }

  removePod(id: string): Promise<unknown> {
    return this.cri('rmp', id);
  }

  async podIds(): Promise<string[]> {
    const r = await this.cri<{ items?: { id: string }[] }>('listp');
    return (r.items ?? []).map((p) => p.id);
  }

  /** Ends containerd (SIGTERM, then SIGKILL) and waits for it; the state stays. */
  async stop(): Promise<void> {
    if (!this.child?.pid || !this.running) return;
    const pid = this.child.pid;
    const signal = (s: NodeJS.Signals): void => {
      try {
        process.kill(-pid, s);
      } catch {
        // gone
      }
    };
    signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_GRACE_MS)));
    if ((await Promise.race([this.exited, late])) === 'late') signal('SIGKILL');
    clearTimeout(timer);
    await this.exited;
  }

  /**
   * Stops and removes every pod sandbox (the CNI DELs), stops containerd, ends shims and pause
   * processes still tied to the private dir (by PID), unmounts below it, removes sandbox namespaces
   * left in /run/netns, deletes the dir. Safe to call twice.
   */
  cleanup(): Promise<void> {
    this.cleaning ??= this.teardown();
    return this.cleaning;
  }

  private async teardown(): Promise<void> {
    const problems: string[] = [];
    if (this.running) {
      try {
        for (const id of await this.podIds()) {
          await this.inspectPod(id).catch(() => undefined);
          await this.stopPod(id).catch((e: unknown) => problems.push(`stop ${id}: ${String(e)}`));
          await this.removePod(id).catch((e: unknown) => problems.push(`remove ${id}: ${String(e)}`));
        }
      } catch (err) {
        problems.push(`listing pods: ${String(err)}`);
      }
    }
    await this.stop();
    const killed = await endMentioning(this.dir);
    if (killed.length > 0) problems.push(`killed leftover processes ${killed.join(' ')}`);
    await unmountUnder(this.dir);
    for (const ns of this.seenNetns) {
      if (!existsSync(ns)) continue;
      problems.push(`sandbox namespace ${ns} was left behind`);
      await run('umount', [ns]);
      rmSync(ns, { force: true });
    }
    removePrivateDir(this.dir);
    for (const d of this.madeDirs) {
      try {
        rmdirSync(d);
      } catch {
        // not empty (another containerd uses it) or already gone
      }
    }
    if (problems.length > 0) process.emitWarning(`containerd cleanup on ${this.host.name}: ${problems.join('; ')}`);
  }
}
