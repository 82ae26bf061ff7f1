// `weft forget ADDR...`: stop (re)connecting to these targets; established connections stay up.
import type { Command } from 'commander';
import type { TargetsRequest } from '../api/protocol.js';
import { clientFor } from './client.js';
import { targetsOrThrow } from './connect.js';
import type { CliContext } from './context.js';

export function registerForget(program: Command, ctx: CliContext): void {
  program
    .command('forget')
    .description('stop connecting to these peers (established connections stay up)')
    .argument('<peers...>', 'peer addresses, as given to launch or connect')
    .action(async (peers: string[], _opts: unknown, cmd: Command) => {
      const body: TargetsRequest = { peers: targetsOrThrow(peers) };
      await clientFor(cmd, ctx).post('/forget', body);
    });
}
