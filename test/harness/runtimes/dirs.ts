// Where the runtime harness keeps things: a cache in the repository's .cache/runtimes (git-ignored;
// images and the cnitool binary, built once and shared by test files) and one private directory per
// runtime instance under the system temp dir, removed by that instance's cleanup.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive } from '../netns.js';
import { killMentioning, mountsUnder } from './exec.js';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('the runtime harness could not find the repository root (no package.json above it)');
    dir = up;
  }
  return dir;
}

export const REPO_ROOT = findRepoRoot();
export const CACHE_DIR = resolve(REPO_ROOT, '.cache/runtimes');
/** This directory's sources (the CRI client and the cnitool program live beside the .ts files). */
export const HARNESS_DIR = resolve(REPO_ROOT, 'test/harness/runtimes');

const live = new Set<string>();
let swept = false;
const PREFIX = 'weft-rt-';
/** `weft-rt-<creator pid base36>-<label>-XXXXXX`: the creator's PID tells a leftover from a live test's dir. */
const NAME = /^weft-rt-([0-9a-z]{1,7})-/;

/**
 * A new private directory `/tmp/weft-rt-<pid>-<label>-XXXXXX`. Its owner removes it
 * (removePrivateDir). If the process exits first, an exit hook ends the processes tied to it (by
 * PID: daemonised conmon, shims, containerd), unmounts what is mounted below it and deletes it; if
 * the process was killed outright, the first privateDir() of a later run does the same for every
 * such directory whose creator is gone.
 */
export function privateDir(label: string): string {
  if (!swept) {
    swept = true;
    sweepStaleDirs();
    process.on('exit', () => {
      for (const d of live) removeNow(d);
    });
  }
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid.toString(36)}-${label}-`));
  live.add(dir);
  return dir;
}

/** Deletes a private directory (its owner has already ended what ran in it). */
export function removePrivateDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
}

/** Removes the private directories of runs whose process no longer exists; returns them. */
export function sweepStaleDirs(): string[] {
  const stale = readdirSync(tmpdir())
    .filter((n) => {
      const m = NAME.exec(n);
      return m !== null && !pidAlive(parseInt(m[1]!, 36));
    })
    .map((n) => join(tmpdir(), n));
  for (const d of stale) removeNow(d);
  if (stale.length > 0) process.emitWarning(`runtime harness: removed ${stale.length} private dirs of runs that died (${stale.join(', ')})`);
  return stale;
}

function removeNow(dir: string): void {
  killMentioning(dir);
  for (const p of mountsUnder(dir)) spawnSync('umount', ['-l', p], { stdio: 'ignore', timeout: 5000 });
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Makes `target` with `make(tmpPath)` unless it exists. The result is renamed into place, so test
 * files running at the same time never see half a file; the last writer wins with an equal file.
 */
export async function cached(target: string, make: (tmpPath: string) => Promise<void>): Promise<string> {
  if (existsSync(target)) return target;
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await make(tmp);
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}
