// `weft reset`: remove everything weft created on this host (bridge, VXLAN and relay devices,
// attached veths, exposed addresses), tell the other peers, and stop the router.
import type { Command } from 'commander';
import { ApiClient } from '../api/client.js';
import { WeftError } from '../../lib/errors.js';
import { httpAddrOf } from './client.js';
import { waitUntilGone } from './stop.js';
import type { CliContext } from './context.js';
import { runLongOperation } from './long-operation.js';

export function registerReset(program: Command, ctx: CliContext): void {
  program
    .command('reset')
    .description('remove all kernel state weft created on this host and stop the router')
    .action(async (_opts: unknown, cmd: Command) => {
      const client = new ApiClient(httpAddrOf(cmd, ctx));
      const health = await client.health();
      if (health === undefined) throw new WeftError('not-running', `weft is not running (nothing answers on ${client.addr}); start it with weft launch, then reset`);
      // As long as it takes (handing the address space over, removing kernel state).
      await runLongOperation(cmd, ctx, { verb: 'reset', path: '/reset', body: {}, cancellable: false });
      await waitUntilGone(client, health);
      ctx.stdout('weft reset: kernel state removed, router stopping\n');
    });
}
