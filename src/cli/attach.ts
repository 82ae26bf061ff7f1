// `weft attach [ADDR/PREFIX...] NETNS` and `weft detach NETNS`: connect a container (a network
// namespace: a name from `ip netns list`, a /proc/PID/ns/net path, or a PID) to the overlay.
import type { Command } from 'commander';
import { WeftError } from '../errors.js';
import type { EndpointStatus } from '../../router/status.js';
import { clientFor } from './client.js';
import type { CliContext } from './context.js';

export function registerAttach(program: Command, ctx: CliContext): void {
  program
    .command('attach')
    .description('connect a container (network namespace name, /proc/PID/ns/net or PID) to the overlay')
    .argument('<args...>', '[ADDR/PREFIX...] NETNS, e.g. 10.32.0.5/12 mycontainer')
    .option('--json', 'print the JSON result')
    .action(async (args: string[], opts: { json?: boolean }, cmd: Command) => {
      const container = args[args.length - 1]!;
      const cidrs = args.slice(0, -1);
      if (/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(container)) {
        throw new WeftError('usage', `the last argument must be the container's network namespace, not an address: weft attach ${args.join(' ')} NETNS`);
      }
      for (const c of cidrs) {
        if (!/^\d+\.\d+\.\d+\.\d+\/\d{1,2}$/.test(c)) throw new WeftError('usage', `"${c}" is not ADDR/PREFIX (for example 10.32.0.5/12)`);
      }
      const ep = await clientFor(cmd, ctx).post<EndpointStatus>('/attach', { container, cidrs });
      ctx.stdout(opts.json ? `${JSON.stringify(ep, null, 2)}\n` : `${ep.mac} ${ep.ips.join(' ')}\n`);
    });
  program
    .command('detach')
    .description('disconnect a container from the overlay')
    .argument('<netns>', 'the network namespace given to attach')
    .action(async (container: string, _opts: unknown, cmd: Command) => {
      await clientFor(cmd, ctx).post('/detach', { container });
    });
}
