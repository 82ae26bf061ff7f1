// `weft rmpeer NAME`: take over the address space of a peer that is gone for good, at once (the
// automatic reclaim does the same after --ipalloc-reclaim-after). Run it on one host only.
import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { runLongOperation } from './long-operation.js';

export function registerRmpeer(program: Command, ctx: CliContext): void {
  program
    .command('rmpeer')
    .description('take over the address space of a peer that is gone for good (run on one host only)')
    .argument('<peer>', 'peer name (aa:bb:cc:dd:ee:ff) or nickname')
    .action(async (peer: string, _opts: unknown, cmd: Command) => {
      const r = await runLongOperation<{ takenOver: number }>(cmd, ctx, { verb: 'rmpeer', path: '/rmpeer', body: { peer }, cancellable: false });
      ctx.stdout(`${r.takenOver} IPs taken over from ${peer}\n`);
    });
}
