// dist/weft.cjs, the `weft` executable: runs the one-file bundle (dist/weft-bundle.cjs) with V8's
// code cache for it (dist/weft-bundle.cjs.v8cache, written by `make build`), so a start does not
// compile the bundle again: a router's start went from ~135 to ~100 ms of CPU (docs/decisions.md).
// The cache begins with the SHA-256 of the bundle it was made from (V8 itself checks only the
// source's length); one that does not match, or that V8 rejects (another node), is ignored and
// the bundle compiles as without it. WEFT_WRITE_CODE_CACHE=1 writes the cache when the command ends.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

const bundle = join(__dirname, 'weft-bundle.cjs');
const cacheFile = `${bundle}.v8cache`;
const HASH_BYTES = 32;

let source = readFileSync(bundle, 'utf8');
if (source.startsWith('#!')) source = `//${source.slice(2)}`;
const hash = createHash('sha256').update(source).digest();

let cachedData: Buffer | undefined;
try {
  const c = readFileSync(cacheFile);
  if (c.length > HASH_BYTES && c.subarray(0, HASH_BYTES).equals(hash)) cachedData = c.subarray(HASH_BYTES);
} catch {
  // no cache: compile
}

const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
if (process.env.WEFT_WRITE_CODE_CACHE === '1') {
  // At exit the functions the command ran are compiled too, and go into the cache with the rest.
  process.on('exit', () => writeFileSync(cacheFile, Buffer.concat([hash, script.createCachedData()])));
}
const main = new Module(bundle);
main.filename = bundle;
(script.runInThisContext() as (...args: unknown[]) => void).call(main.exports, main.exports, createRequire(bundle), main, bundle, dirname(bundle));
