// `weft attach [ADDR/PREFIX...] NETNS` and `weft detach NETNS`: connect a container (a network
// namespace: a name from `ip netns list`, a /proc/PID/ns/net path, or a PID) to the overlay.
// Both wait as long as the router takes (see long-operation.ts); Ctrl-C cancels.
import type { Command } from 'commander';
import { WeftError } from '../../lib/errors.js';
import { checkHostCidr, parseCidr, parseIpv4 } from '../../lib/ip.js';
import type { EndpointStatus } from '../../router/status.js';
import type { CliContext } from './context.js';
import { runLongOperation } from './long-operation.js';

export function registerAttach(program: Command, ctx: CliContext): void {
  program
    .command('attach')
    .description('connect a container (network namespace name, /proc/PID/ns/net or PID) to the overlay')
    .argument('<args...>', '[ADDR/PREFIX...] NETNS, e.g. 10.32.0.5/12 mycontainer')
    .option('--json', 'print the JSON result')
    .action(async (args: string[], opts: { json?: boolean }, cmd: Command) => {
      const container = args[args.length - 1]!;
      const cidrs = args.slice(0, -1);
      if (parseIpv4(container).ok || parseCidr(container).ok) {
        throw new WeftError('usage', `the last argument must be the container's network namespace, not an address: weft attach ${args.join(' ')} NETNS`);
      }
      for (const c of cidrs) {
        const r = checkHostCidr(c);
        if (!r.ok) throw new WeftError('usage', r.reason);
      }
      const ep = await runLongOperation<EndpointStatus>(cmd, ctx, { verb: 'attach', path: '/attach', body: { container, cidrs }, cancellable: true, ipam: true });
      ctx.stdout(opts.json ? `${JSON.stringify(ep, null, 2)}\n` : `${ep.mac} ${ep.ips.join(' ')}\n`);
    });
  program
    .command('detach')
    .description('disconnect a container from the overlay')
    .argument('<netns>', 'the network namespace given to attach')
    .action(async (container: string, _opts: unknown, cmd: Command) => {
      await runLongOperation(cmd, ctx, { verb: 'detach', path: '/detach', body: { container }, cancellable: true });
    });
}
