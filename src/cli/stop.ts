// `weft stop`: ask the router to shut down and wait (bounded) until its API stops answering.
import type { Command } from 'commander';
import { ApiClient } from '../api/client.js';
import type { HealthResponse } from '../api/protocol.js';
import { WeftError } from '../../lib/errors.js';
import { httpAddrOf } from './client.js';
import type { CliContext } from './context.js';

export const STOP_WAIT_MS = 10_000;
const POLL_MS = 100;

export function registerStop(program: Command, ctx: CliContext): void {
  program
    .command('stop')
    .description('stop the router running in this network namespace')
    .action(async (_opts: unknown, cmd: Command) => {
      const client = new ApiClient(httpAddrOf(cmd, ctx), { timeoutMs: 1000 });
      const health = await client.health();
      if (health === undefined) throw new WeftError('not-running', `weft is not running (nothing answers on ${client.addr})`);
      await client.post('/stop');
      await waitUntilGone(client, health);
      ctx.stdout('weft stopped\n');
    });
}

/** Polls until the router's API stops answering; a timeout error naming its PID otherwise. */
export async function waitUntilGone(client: ApiClient, health: HealthResponse): Promise<void> {
      const deadline = Date.now() + STOP_WAIT_MS;
      // Errors while it shuts down (a reset connection, a slow answer) mean "not gone yet".
      while ((await client.health().catch(() => health)) !== undefined) {
        if (Date.now() >= deadline) {
          throw new WeftError(
            'timeout',
            `weft (pid ${health.pid}) still answers on ${client.addr} ${STOP_WAIT_MS / 1000} s after it was asked to stop — ` +
              `it may be stuck; \`kill ${health.pid}\` stops it`,
          );
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
}
