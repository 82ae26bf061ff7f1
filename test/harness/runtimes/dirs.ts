// Where the runtime harness keeps things: a cache in the repository's .cache/runtimes (git-ignored;
// images and the cnitool binary, built once and shared by test files) and one private directory per
// runtime instance under the system temp dir, removed by that instance's cleanup.
import { existsSync, mkdtempSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** A new private directory `/tmp/weft-rt-<label>-XXXXXX`; the caller removes it. */
export function privateDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `weft-rt-${label}-`));
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
