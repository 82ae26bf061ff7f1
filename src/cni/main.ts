// The CNI plugin executable (bundled into dist/cni/weft-cni.js, installed as /opt/cni/bin/weft by
// `weft setup-cni`): reads stdin, runs one command, prints the result or the CNI error object.
// Only node builtins and src/cni/ are imported here: this runs once per container start.
import { readFileSync } from 'node:fs';
import { runPlugin } from './plugin.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    // stdin closed or a terminal that is not readable: the same as an empty config.
    return '';
  }
}

void runPlugin({ env: process.env, stdin: readStdin() }).then((out) => {
  if (out.stderr) process.stderr.write(out.stderr);
  process.stdout.write(out.stdout);
  process.exitCode = out.code;
});
