// `weft router [options] [PEER...]`: run the router in the foreground until SIGINT/SIGTERM.
import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { prepareDataDir } from '../daemon/launcher.js';
import { addRouterOptions, parseRouterOptions, type RawRouterOptions } from './router-options.js';

export function registerRouter(program: Command, ctx: CliContext): void {
  addRouterOptions(
    program
      .command('router')
      .description('run the router in the foreground (what `weft launch` starts in the background)')
      .argument('[peers...]', 'peers to connect to, host[:port] each'),
  ).action(async (peers: string[], _opts: unknown, cmd: Command) => {
    const opts = parseRouterOptions(cmd.optsWithGlobals() as RawRouterOptions, peers, ctx.env, ctx.hostname);
    // Loaded only here so client commands do not pay for the whole router at start-up.
    const { runDaemon } = await import('../daemon/daemon.js');
    // Before anything starts: an unusable data dir is reported at once (and never spins, see there).
    await prepareDataDir(opts.dataDir);
    const stop = new AbortController();
    // once: a second Ctrl-C finds no handler and ends the process the default way.
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await runDaemon(opts, stop.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
