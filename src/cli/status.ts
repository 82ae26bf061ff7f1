// `weft status [peers|connections|targets|endpoints|ipam] [--json]`; the summary ends with the
// router's readiness (GET /status/ready, the same answer as /readyz)
import { Argument, type Command } from 'commander';
import type { ConnectionStatus, PeerStatus, RouterStatus, TargetStatus } from '../../mesh/status.js';
import type { DataplaneStatus, EndpointStatus } from '../../router/status.js';
import { clientFor } from './client.js';
import { formatEndpoints, formatIpam, formatPaths } from './dataplane-format.js';
import type { IpamStatusJson } from '../../ipam/status.js';
import type { CliContext } from './context.js';
import { formatConnections, formatPeers, formatReadiness, formatStatus, formatTargets } from './format.js';
import type { ReadyResponse } from '../api/protocol.js';

type Report = 'peers' | 'connections' | 'targets' | 'endpoints' | 'ipam';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description("show the router's state: a summary, or its peers, connections (data paths), targets, endpoints or address space (ipam)")
    .addArgument(new Argument('[report]', 'which report').choices(['peers', 'connections', 'targets', 'endpoints', 'ipam']))
    .option('--json', "print the API's JSON instead")
    .action(async (report: Report | undefined, opts: { json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd, ctx);
      const show = <T>(value: T, format: (v: T) => string): void =>
        ctx.stdout(opts.json ? `${JSON.stringify(value, null, 2)}\n` : format(value));
      switch (report) {
        case undefined: {
          const status = await client.get<RouterStatus>('/status');
          // An older router has no /status/ready: the summary goes without it.
          const readiness = await client.get<ReadyResponse>('/status/ready').catch(() => undefined);
          return show(readiness ? { ...status, readiness } : status, (s) => formatStatus(s) + (readiness ? formatReadiness(readiness) : ''));
        }
        case 'peers':
          return show(await client.get<PeerStatus[]>('/status/peers'), formatPeers);
        case 'connections': {
          // Per peer: the data path (direct, relay, none) and why; then the control connections.
          const control = await client.get<ConnectionStatus[]>('/status/connections');
          const dataplane = await client.get<DataplaneStatus>('/status/dataplane').catch(() => undefined);
          if (opts.json) return show({ paths: dataplane?.peers ?? [], control, dataplane: dataplane ?? null }, () => '');
          return ctx.stdout(dataplane ? formatPaths(dataplane, control) : formatConnections(control));
        }
        case 'ipam':
          return show(await client.get<IpamStatusJson>('/status/ipam'), formatIpam);
        case 'endpoints':
          return show(await client.get<EndpointStatus[]>('/status/endpoints'), formatEndpoints);
        case 'targets':
          return show(await client.get<TargetStatus[]>('/status/targets'), formatTargets);
      }
    });
}
