// weft's container image (docker/Dockerfile), built once by docker/build-image.sh with a private
// podman and kept as an archive in .cache/runtimes, keyed by a hash of everything the build reads,
// so a test run rebuilds only when an input changed (as gopeer.ts does for the Go peer).
//
//   weftImageArchive()   .cache/runtimes/weft-image-<hash>.tar  (cold: base ~1 min + build ~2-4 min)
//   loadWeftImage(p)     `podman load` into a test's private podman (~2 s)
//   .cache/runtimes/debian-trixie-slim.tar: the base image, from Debian's packages (mmdebstrap)
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Capability } from '../privileges.js';
import { hasCommand } from '../privileges.js';
import { CACHE_DIR, REPO_ROOT, cached, privateDir, removePrivateDir } from './dirs.js';
import { runOk } from './exec.js';
import { Podman } from './podman.js';

export const WEFT_IMAGE = 'localhost/weft:latest';
const BUILD_TIMEOUT_MS = 20 * 60_000;
/** What the build reads (the context after .dockerignore), by directory and suffix. */
const INPUT_FILES = ['package.json', 'package-lock.json', 'Makefile', 'tsconfig.json', 'tsconfig.build.json', '.dockerignore'];
const INPUT_DIRS = ['docker', 'native', 'lib', 'src', 'mesh', 'crypto', 'router', 'ipam'];

/** mmdebstrap for the base, podman for the build. */
export function canBuildImage(): Capability {
  for (const [cmd, pkg] of [['mmdebstrap', 'mmdebstrap'], ['podman', 'podman']] as const) {
    if (!hasCommand(cmd)) return { ok: false, reason: `${cmd} is not installed (Debian package ${pkg}; \`make deps\` installs it)` };
  }
  return { ok: true };
}

/**
 * The build context: this repository, or WEFT_IMAGE_CONTEXT (e.g. a `git archive` of HEAD, when the
 * working tree holds someone's half-done edit).
 */
export function imageContext(): string {
  return process.env.WEFT_IMAGE_CONTEXT ?? REPO_ROOT;
}

function filesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      // native/build, node_modules and docker/k8s (the manifests) are not in the build context
      if (e.name !== 'build' && e.name !== 'node_modules' && e.name !== 'k8s') out.push(...filesBelow(p));
    } else if (!e.name.endsWith('.test.ts')) {
      out.push(p);
    }
  }
  return out;
}

/** A hash of every input's path and content (test files excluded, as .dockerignore excludes them). */
export function imageInputsHash(context = imageContext()): string {
  const hash = createHash('sha256');
  const files = [...INPUT_FILES.map((f) => join(context, f)), ...INPUT_DIRS.flatMap((d) => filesBelow(join(context, d)))].sort();
  for (const f of files) {
    hash.update(relative(context, f)).update('\0');
    try {
      hash.update(readFileSync(f));
    } catch {
      hash.update('(missing)');
    }
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

export interface BuiltImage {
  archive: string;
  /** How long the build took in this process (0 when the archive was cached). */
  buildMs: number;
  cached: boolean;
}

/** Builds the image unless an archive for these inputs exists; older archives are removed. */
export async function weftImageArchive(): Promise<BuiltImage> {
  const context = imageContext();
  const name = `weft-image-${imageInputsHash(context)}.tar`;
  let buildMs = 0;
  let built = false;
  const archive = await cached(join(CACHE_DIR, name), async (tmp) => {
    built = true;
    const started = Date.now();
    const p = await Podman.create(undefined, { cniConfDir: privateDir('image-net'), withBusybox: false });
    try {
      await runOk(join(context, 'docker/build-image.sh'), [], {
        env: {
          CONTAINERS_CONF: join(p.dir, 'containers.conf'),
          CONTAINERS_STORAGE_CONF: join(p.dir, 'storage.conf'),
          WEFT_IMAGE: WEFT_IMAGE,
          WEFT_IMAGE_CONTEXT: context,
          WEFT_BASE_TAR: join(CACHE_DIR, 'debian-trixie-slim.tar'),
        },
        timeoutMs: BUILD_TIMEOUT_MS,
      });
      await p.ok(['save', '--format', 'docker-archive', '--output', tmp, WEFT_IMAGE], { timeoutMs: 120_000 });
    } finally {
      await p.cleanup();
      removePrivateDir(p.opts.cniConfDir);
    }
    buildMs = Date.now() - started;
  });
  if (built) {
    for (const f of readdirSync(CACHE_DIR)) if (/^weft-image-[0-9a-f]+\.tar$/.test(f) && f !== name) rmSync(join(CACHE_DIR, f), { force: true });
  }
  return { archive, buildMs, cached: !built };
}

/** Loads the image into a private podman; its size in bytes as podman reports it. */
export async function loadWeftImage(p: Podman, archive: string): Promise<number> {
  await p.ok(['load', '--quiet', '--input', archive], { timeoutMs: 120_000 });
  return Number(await p.ok(['image', 'inspect', '--format', '{{.Size}}', WEFT_IMAGE]));
}

/** The archive's size on disk (the image's layers, uncompressed). */
export function archiveBytes(archive: string): number {
  return statSync(archive).size;
}
