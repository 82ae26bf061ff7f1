// Whether each runtime can run here, probed once per process and synchronously so
// `describe.skipIf(...)` can use the answer while tests are collected. A missing runtime is a skip
// with the reason (and the Debian package to install), not a failure.
import { existsSync } from 'node:fs';
import type { Capability } from '../privileges.js';
import { hasCommand } from '../privileges.js';

const cache = new Map<string, Capability>();

function probe(key: string, f: () => Capability): Capability {
  let c = cache.get(key);
  if (c === undefined) {
    c = f();
    cache.set(key, c);
  }
  return c;
}

function needCommands(pairs: [cmd: string, pkg: string][]): Capability {
  for (const [cmd, pkg] of pairs) if (!hasCommand(cmd)) return { ok: false, reason: `${cmd} is not installed (Debian package ${pkg}; \`make deps\` installs it)` };
  return { ok: true };
}

function needFiles(pairs: [file: string, pkg: string][]): Capability {
  for (const [file, pkg] of pairs) if (!existsSync(file)) return { ok: false, reason: `${file} is missing (Debian package ${pkg}; \`make deps\` installs it)` };
  return { ok: true };
}

function all(...cs: (() => Capability)[]): Capability {
  for (const c of cs) {
    const r = c();
    if (!r.ok) return r;
  }
  return { ok: true };
}

const cniPlugins = (): Capability =>
  needFiles([
    ['/usr/lib/cni/bridge', 'containernetworking-plugins'],
    ['/usr/lib/cni/host-local', 'containernetworking-plugins'],
    ['/usr/lib/cni/portmap', 'containernetworking-plugins'],
    ['/bin/busybox', 'busybox-static'],
  ]);

/** podman with runc, conmon and the reference CNI plugins; root. */
export function canUsePodman(): Capability {
  return probe('podman', () =>
    all(
      () => (process.getuid?.() === 0 ? { ok: true } : { ok: false, reason: 'podman tests need root' }),
      () => needCommands([['podman', 'podman'], ['runc', 'runc'], ['conmon', 'conmon'], ['nsenter', 'util-linux'], ['iptables', 'iptables']]),
      cniPlugins,
    ),
  );
}

/** containerd and ctr, the Python gRPC runtime for the CRI client, catatonit for the pause image (built with podman). */
export function canUseContainerd(): Capability {
  return probe('containerd', () =>
    all(
      canUsePodman,
      () => needCommands([['containerd', 'containerd'], ['ctr', 'containerd']]),
      () =>
        needFiles([
          ['/usr/bin/catatonit', 'catatonit'],
          ['/usr/bin/python3', 'python3'],
          ['/usr/lib/python3/dist-packages/grpc/__init__.py', 'python3-grpcio'],
          ['/usr/lib/python3/dist-packages/google/protobuf/__init__.py', 'python3-protobuf'],
        ]),
    ),
  );
}

/** The Go toolchain and Debian's libcni sources, from which cnitool is built offline. */
export function canUseCnitool(): Capability {
  return probe('cnitool', () =>
    all(
      () => needCommands([['go', 'golang-go']]),
      () => needFiles([['/usr/share/gocode/src/github.com/containernetworking/cni/libcni/api.go', 'golang-github-appc-cni-dev']]),
      cniPlugins,
    ),
  );
}
