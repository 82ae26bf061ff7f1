// `weft ps`: the containers attached on this host (namespace, MAC, addresses).
import type { Command } from 'commander';
import type { EndpointStatus } from '../../router/status.js';
import { clientFor } from './client.js';
import type { CliContext } from './context.js';
import { formatPs } from './dataplane-format.js';

export function registerPs(program: Command, ctx: CliContext): void {
  program
    .command('ps')
    .description('list the local endpoints: container, MAC, addresses')
    .option('--json', "print the API's JSON instead")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const eps = (await clientFor(cmd, ctx).get<EndpointStatus[]>('/status/endpoints')).filter((e) => e.local);
      ctx.stdout(opts.json ? `${JSON.stringify(eps, null, 2)}\n` : formatPs(eps));
    });
}
