// The built `weft` starts from V8's code cache: the loader sets a V8 flag (the TurboFan budget)
// before it compiles the bundle, and a flag that differed between `make build`'s warm-up run and
// a real start would make V8 refuse the cache without a word (a router's start CPU then nearly
// doubles). Needs `make build` (make test does it).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WEFT_JS } from './harness/weft.js';

/** What the loader says about the cache when `weft --version` starts (it runs the bundle's whole top level). */
function cacheReport(nodeArgs: string[] = []): string {
  const r = spawnSync(process.execPath, [...nodeArgs, WEFT_JS, '--version'], { env: { ...process.env, WEFT_CODE_CACHE_REPORT: '1' }, encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stderr;
}

describe.skipIf(!existsSync(WEFT_JS))('the built weft executable', () => {
  it('starts from the code cache make build wrote', () => {
    expect(cacheReport()).toBe('code cache: accepted\n');
  });

  it('the report can tell: under another V8 flag the same cache is refused', () => {
    expect(cacheReport(['--no-opt'])).toBe('code cache: rejected\n');
  });
});
