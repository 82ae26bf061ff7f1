// `weft status [peers|connections|targets] [--json]`
import { Argument, type Command } from 'commander';
import type { ConnectionStatus, PeerStatus, RouterStatus, TargetStatus } from '../../mesh/status.js';
import { clientFor } from './client.js';
import type { CliContext } from './context.js';
import { formatConnections, formatPeers, formatStatus, formatTargets } from './format.js';

type Report = 'peers' | 'connections' | 'targets';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description("show the router's state: a summary, or its peers, connections or connection targets")
    .addArgument(new Argument('[report]', 'which report').choices(['peers', 'connections', 'targets']))
    .option('--json', "print the API's JSON instead")
    .action(async (report: Report | undefined, opts: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd, ctx);
      const show = <T>(value: T, format: (v: T) => string): void =>
        ctx.stdout(opts.json ? `${JSON.stringify(value, null, 2)}\n` : format(value));
      switch (report) {
        case undefined:
          return show(await client.get<RouterStatus>('/status'), formatStatus);
        case 'peers':
          return show(await client.get<PeerStatus[]>('/status/peers'), formatPeers);
        case 'connections':
          return show(await client.get<ConnectionStatus[]>('/status/connections'), formatConnections);
        case 'targets':
          return show(await client.get<TargetStatus[]>('/status/targets'), formatTargets);
      }
    });
}
