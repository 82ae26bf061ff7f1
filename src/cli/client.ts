// The API client a command uses: --http-addr, else env WEFT_HTTP_ADDR, else 127.0.0.1:6784.
import type { Command } from 'commander';
import { ApiClient } from '../api/client.js';
import { HTTP_ADDR } from '../../lib/constants.js';
import { WeftError } from '../../lib/errors.js';
import type { CliContext } from './context.js';
import { parseHttpAddr } from './router-options.js';

export function httpAddrOf(cmd: Command, ctx: CliContext): string {
  const addr = (cmd.optsWithGlobals() as { httpAddr?: string }).httpAddr ?? ctx.env.WEFT_HTTP_ADDR ?? HTTP_ADDR;
  const ok = parseHttpAddr(addr);
  if (!ok.ok) throw new WeftError('usage', ok.reason);
  return addr.trim();
}

export function clientFor(cmd: Command, ctx: CliContext): ApiClient {
  return new ApiClient(httpAddrOf(cmd, ctx));
}
