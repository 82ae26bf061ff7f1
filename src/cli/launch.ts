// `weft launch [options] [PEER...]`: start the router in the background (see daemon/launcher.ts).
import { join } from 'node:path';
import type { Command } from 'commander';
import * as C from '../../lib/constants.js';
import { launchRouter } from '../daemon/launcher.js';
import type { CliContext } from './context.js';
import { addRouterOptions, childEnv, parseRouterOptions, routerArgs, type RawRouterOptions } from './router-options.js';

export const LOG_FILE = 'weft.log';

export function registerLaunch(program: Command, ctx: CliContext): void {
  addRouterOptions(
    program
      .command('launch')
      .description('start the router in the background, connecting to the given peers; prints its peer name')
      .argument('[peers...]', 'peers to connect to, host[:port] each'),
  ).action(async (peers: string[], _opts: unknown, cmd: Command) => {
    const raw = cmd.optsWithGlobals() as RawRouterOptions;
    // Metrics on loopback unless told otherwise (as Weave did); `--metrics-addr off` for none.
    const opts = parseRouterOptions({ ...raw, metricsAddr: raw.metricsAddr ?? C.METRICS_ADDR }, peers, ctx.env, ctx.hostname);
    const launched = await launchRouter({
      command: ctx.self.execPath,
      args: [...ctx.self.execArgv, ctx.self.script, 'router', ...routerArgs(opts)],
      env: childEnv(opts, ctx.env),
      httpAddr: opts.httpAddr,
      logFile: join(opts.dataDir, LOG_FILE),
      onSlow: (pid) => ctx.stderr(`weft: the router (pid ${pid}) is still starting; waiting for it to answer on ${opts.httpAddr} (up to 2 min)\n`),
    });
    ctx.stdout(`${launched.health.name}\n`);
  });
}
