#!/usr/bin/env node
// The weft executable: runs the CLI and exits with its code.
import { hostname } from 'node:os';
import { runCli } from '../cli/program.js';

void runCli(process.argv.slice(2), {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  env: process.env,
  hostname: hostname(),
  self: { execPath: process.execPath, execArgv: process.execArgv, script: process.argv[1] ?? '' },
}).then((code) => process.exit(code));
