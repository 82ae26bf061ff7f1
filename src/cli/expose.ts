// `weft expose ADDR/PREFIX` gives this host an address on the overlay; `weft hide [ADDR/PREFIX]`
// takes it (or all of them) away again.
import type { Command } from 'commander';
import { WeftError } from '../errors.js';
import { clientFor } from './client.js';
import type { CliContext } from './context.js';

export function registerExpose(program: Command, ctx: CliContext): void {
  program
    .command('expose')
    .description('give this host an address on the overlay (on the weft bridge)')
    .argument('<cidr>', 'ADDR/PREFIX, e.g. 10.32.0.100/12')
    .action(async (cidr: string, _opts: unknown, cmd: Command) => {
      if (!/^\d+\.\d+\.\d+\.\d+\/\d{1,2}$/.test(cidr)) throw new WeftError('usage', `"${cidr}" is not ADDR/PREFIX (for example 10.32.0.100/12)`);
      await clientFor(cmd, ctx).post('/expose', { cidr });
      ctx.stdout(`${cidr}\n`);
    });
  program
    .command('hide')
    .description('remove an address given with expose (all of them if none is named)')
    .argument('[cidr]', 'ADDR/PREFIX')
    .action(async (cidr: string | undefined, _opts: unknown, cmd: Command) => {
      const r = await clientFor(cmd, ctx).post<{ hidden: string[] }>('/hide', cidr === undefined ? {} : { cidr });
      if (r.hidden.length > 0) ctx.stdout(`${r.hidden.join('\n')}\n`);
    });
}
