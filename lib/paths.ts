// Where weft's own files are (the native addon, the CNI plugin bundle), found from a module's URL
// the same way whichever form runs: the TypeScript source (vitest), the tsc build under dist/, or
// the one-file bundle dist/weft.cjs. The project root is the nearest directory above that holds
// both package.json and native/ (dist/cni/ has a package.json of its own, and no native/).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function projectRoot(moduleUrl: string): string {
  const start = dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}
