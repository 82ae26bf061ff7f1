// cnitool (add, check, del through libcni) built offline from Debian's libcni sources and cached in
// .cache/runtimes, keyed by the program's source, then run inside a namespace host.
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecResult, Host } from '../netns.js';
import { CACHE_DIR, HARNESS_DIR, cached, privateDir, removePrivateDir } from './dirs.js';
import { run, runOk } from './exec.js';

const SOURCES = ['main.go', 'go.mod'];

/** The cnitool binary, built on first use (a few seconds) with GOPROXY=off. */
export function cnitoolBinary(): Promise<string> {
  const src = join(HARNESS_DIR, 'cnitool');
  const hash = createHash('sha256');
  for (const f of SOURCES) hash.update(readFileSync(join(src, f)));
  return cached(join(CACHE_DIR, `cnitool-${hash.digest('hex').slice(0, 12)}`), async (out) => {
    // Build in a copy: `-mod=mod` writes go.sum next to go.mod, which must not land in the tree.
    const build = privateDir('cnitool-build');
    try {
      for (const f of SOURCES) copyFileSync(join(src, f), join(build, f));
      await runOk('go', ['build', '-o', out, '.'], {
        // Everything go writes stays in .cache/runtimes (CI may run without HOME).
        env: { GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: join(CACHE_DIR, 'go-build'), GOPATH: join(CACHE_DIR, 'gopath'), GO111MODULE: 'on' },
        timeoutMs: 300_000,
        cwd: build,
      });
    } finally {
      removePrivateDir(build);
    }
  });
}

export interface CnitoolEnv {
  /** Where the conflists are (NETCONFPATH). */
  confDir: string;
  /** Plugin directories, searched in order (CNI_PATH). */
  pluginDirs: string[];
  /** libcni's result cache (CNI_CACHE_DIR): private to the test. */
  cacheDir: string;
  ifname?: string;
  containerId?: string;
  cniArgs?: string;
  capArgs?: Record<string, unknown>;
}

/** `cnitool VERB NETWORK NETNS` in `host`'s network namespace; never throws for a non-zero exit. */
export async function cnitool(host: Host, verb: 'add' | 'check' | 'del', network: string, netns: string, e: CnitoolEnv): Promise<ExecResult> {
  const env: Record<string, string> = {
    NETCONFPATH: e.confDir,
    CNI_PATH: e.pluginDirs.join(':'),
    CNI_CACHE_DIR: e.cacheDir,
    CNI_IFNAME: e.ifname ?? 'eth0',
  };
  if (e.containerId) env.CNI_CONTAINERID = e.containerId;
  if (e.cniArgs) env.CNI_ARGS = e.cniArgs;
  if (e.capArgs) env.CAP_ARGS = JSON.stringify(e.capArgs);
  return run(await cnitoolBinary(), [verb, network, netns], { host, env });
}
