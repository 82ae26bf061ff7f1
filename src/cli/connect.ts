// `weft connect [--replace] ADDR...`: add connection targets (replace: instead of the current ones).
import type { Command } from 'commander';
import { parsePeerAddresses } from '../api/address.js';
import type { TargetsRequest } from '../api/protocol.js';
import { WeftError } from '../../lib/errors.js';
import { clientFor } from './client.js';
import type { CliContext } from './context.js';

export function registerConnect(program: Command, ctx: CliContext): void {
  program
    .command('connect')
    .description('make the router connect to more peers (host[:port] each)')
    .argument('[peers...]', 'peer addresses')
    .option('--replace', 'forget the current targets first (with no peers: forget them all)')
    .action(async (peers: string[], opts: { replace?: boolean }, cmd: Command) => {
      if (peers.length === 0 && !opts.replace) {
        throw new WeftError('usage', 'weft connect needs at least one peer address, e.g. `weft connect 192.0.2.1`');
      }
      const body: TargetsRequest = { peers: targetsOrThrow(peers), replace: opts.replace === true };
      await clientFor(cmd, ctx).post('/connect', body);
    });
}

/** Validated, canonical peer addresses; a usage error naming the bad one otherwise. */
export function targetsOrThrow(peers: readonly string[]): string[] {
  const r = parsePeerAddresses(peers);
  if (!r.ok) throw new WeftError('usage', `${r.reason}; write 192.0.2.1, 192.0.2.1:6783, [2001:db8::1]:6783 or host.example`);
  return r.value;
}
