// Writes every target's seeds to test/fuzz/corpus/<target>/<sha256 prefix> (the committed corpus).
// Run from the repository root after changing a target's seeds or a wire format:
//   npx esbuild test/fuzz/make-seeds.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.cache/fuzz/make-seeds.mjs && node .cache/fuzz/make-seeds.mjs
// Inputs that once failed (crash-* files) are regression tests: they are never removed here.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inputName } from './engine.js';
import { TARGETS } from './targets/index.js';

// From the working directory: bundled, this file no longer sits beside the corpus.
const CORPUS_DIR = join(process.cwd(), 'test', 'fuzz', 'corpus');

for (const t of TARGETS) {
  const dir = join(CORPUS_DIR, t.name);
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir)) if (old.startsWith('seed-')) rmSync(join(dir, old));
  const seeds = t.seeds();
  for (const s of seeds) writeFileSync(join(dir, `seed-${inputName(s)}`), s);
  console.log(`${t.name}: ${seeds.length} seeds`);
}
