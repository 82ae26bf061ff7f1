// `weft expose ADDR/PREFIX` gives this host an address on the overlay; `weft hide [ADDR/PREFIX]`
// takes it (or all of them) away again. Both wait as long as the router takes (long-operation.ts).
import type { Command } from 'commander';
import { WeftError } from '../../lib/errors.js';
import { checkHostCidr, parseCidr } from '../../lib/ip.js';
import type { CliContext } from './context.js';
import { runLongOperation } from './long-operation.js';

export function registerExpose(program: Command, ctx: CliContext): void {
  program
    .command('expose')
    .description('give this host an address on the overlay (on the weft bridge)')
    .argument('<cidr>', 'ADDR/PREFIX, e.g. 10.32.0.100/12')
    .action(async (cidr: string, _opts: unknown, cmd: Command) => {
      const r = checkHostCidr(cidr);
      if (!r.ok) throw new WeftError('usage', r.reason.replace('a container needs', 'the host needs'));
      await runLongOperation(cmd, ctx, { verb: 'expose', path: '/expose', body: { cidr }, cancellable: false });
      ctx.stdout(`${cidr}\n`);
    });
  program
    .command('hide')
    .description('remove an address given with expose (all of them if none is named)')
    .argument('[cidr]', 'ADDR/PREFIX')
    .action(async (cidr: string | undefined, _opts: unknown, cmd: Command) => {
      if (cidr !== undefined) {
        const r = parseCidr(cidr);
        if (!r.ok) throw new WeftError('usage', r.reason);
      }
      const r = await runLongOperation<{ hidden: string[] }>(cmd, ctx, { verb: 'hide', path: '/hide', body: cidr === undefined ? {} : { cidr }, cancellable: false });
      if (r.hidden.length > 0) ctx.stdout(`${r.hidden.join('\n')}\n`);
    });
}
