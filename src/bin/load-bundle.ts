// dist/weft.cjs, the `weft` executable: runs the one-file bundle (dist/weft-bundle.cjs) with V8's
// code cache for it (dist/weft-bundle.cjs.v8cache, written by `make build`), so a start does not
// compile the bundle again: a router's start went from ~135 to ~100 ms of CPU (docs/decisions.md).
// The cache begins with the SHA-256 of the bundle it was made from (V8 itself checks only the
// source's length); one that does not match, or that V8 rejects (another node), is ignored and
// the bundle compiles as without it. WEFT_WRITE_CODE_CACHE=1 writes the cache when the command ends;
// WEFT_CODE_CACHE_REPORT=1 says on stderr whether V8 took it.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

// TurboFan only for code that stays hot: a function must run 8× V8's default budget of bytecode
// before it is optimised. Each router process otherwise spent ~a fifth of its CPU forming a mesh
// optimising (and re-optimising) functions that ran for seconds: 100 routers on 2 cores took
// 59 CPU-s and 32 s to converge, 47 and 26 with this (docs/decisions.md). Set before the bundle
// is compiled, so the code cache below is made and checked under the same flags.
v8.setFlagsFromString(`--interrupt-budget=${8 * 67_584}`);

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
// For the test that guards start-up: whether V8 took the cache (a flag that differs between the
// run that wrote it and this one makes V8 refuse it, silently).
if (process.env.WEFT_CODE_CACHE_REPORT === '1') process.stderr.write(`code cache: ${cachedData === undefined ? 'none' : script.cachedDataRejected === true ? 'rejected' : 'accepted'}\n`);
const main = new Module(bundle);
main.filename = bundle;
(script.runInThisContext() as (...args: unknown[]) => void).call(main.exports, main.exports, createRequire(bundle), main, bundle, dirname(bundle));
