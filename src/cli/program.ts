// The weft command line: builds the commander program and runs it, turning every outcome into
// an exit code (0 ok, 1 failure, 2 usage error, 130 interrupted). src/bin/weft.ts is the only caller of process.exit.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../../lib/constants.js';
import { WeftError, errorMessage } from '../../lib/errors.js';
import { registerAttach } from './attach.js';
import { Interrupted } from './long-operation.js';
import { registerConnect } from './connect.js';
import { registerExpose } from './expose.js';
import { registerPs } from './ps.js';
import { registerReset } from './reset.js';
import { registerRmpeer } from './rmpeer.js';
import type { CliContext } from './context.js';
import { registerForget } from './forget.js';
import { registerLaunch } from './launch.js';
import { registerRouter } from './router.js';
import { registerSetupCni } from './setup-cni.js';
import { registerStatus } from './status.js';
import { registerStop } from './stop.js';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('weft')
    .description('weft: a Weave-style overlay network for containers')
    .version(VERSION)
    .option('--http-addr <addr>', 'address of the local router API (default 127.0.0.1:6784, env WEFT_HTTP_ADDR)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s) })
    .showHelpAfterError('(`weft help` lists the commands, `weft help COMMAND` their options)')
    .exitOverride();
  // Subcommands inherit the settings above, so they must come after them.
  registerLaunch(program, ctx);
  registerRouter(program, ctx);
  registerStop(program, ctx);
  registerStatus(program, ctx);
  registerConnect(program, ctx);
  registerForget(program, ctx);
  registerAttach(program, ctx);
  registerPs(program, ctx);
  registerExpose(program, ctx);
  registerReset(program, ctx);
  registerRmpeer(program, ctx);
  registerSetupCni(program, ctx);
  return program;
}

/** Runs the CLI on argv (without node and script) and returns the exit code. */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    // Commander has already printed its message (or the help / version it was asked for).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof WeftError) {
      ctx.stderr(`${err.message}\n`);
      if (err instanceof Interrupted) return 130;
      return err.code === 'usage' ? 2 : 1;
    }
    ctx.stderr(`weft failed unexpectedly: ${err instanceof Error && err.stack ? err.stack : errorMessage(err)}\n`);
    return 1;
  }
}
