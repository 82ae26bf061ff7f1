// Operations that take as long as they take: attach, detach, expose, hide, rmpeer, reset. The
// daemon has its own deadlines (30 s for the IPAM ring, the kernel's), so the CLI waits:
//
//   connect (2 s limit: a router that is not there is reported at once)
//     → POST, no short limit; a safety ceiling of LONG_OPERATION_LIMIT_MS (10 min)
//     → after 2 s, one stderr line each time what it waits for changes (never on stdout, so
//       --json output stays clean):  "weft: still waiting for the attach: <why>"
//       <why> comes from the daemon: IPAM's `waiting` (GET /status/ipam) and how many requests
//       that arrived before ours are still in flight (GET /status/requests; ours is tagged
//       with an X-Weft-Request id)
//     → SIGINT/SIGTERM (or the ceiling) closes the request; the daemon cancels attach and detach
//       (server.ts aborts the handler's signal). Interrupted exits 130, as shells expect.
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { ApiClient } from '../api/client.js';
import type { RequestsStatus } from '../api/protocol.js';
import { WeftError } from '../../lib/errors.js';
import type { IpamStatusJson } from '../../ipam/status.js';
import { clientFor, httpAddrOf } from './client.js';
import type { CliContext } from './context.js';

/** The safety ceiling: longer than any deadline of the daemon's own. */
export const LONG_OPERATION_LIMIT_MS = 10 * 60_000;
/** Quiet this long before the first "still waiting" line. */
export const WAIT_NOTICE_AFTER_MS = 2000;
/** How often the daemon is asked what the operation waits for. */
export const WAIT_POLL_MS = 1000;
/** A status read during the wait gets this long; a router that cannot answer it is busy or stuck. */
const POLL_TIMEOUT_MS = 1500;

/** The user interrupted the CLI (exit 130). */
export class Interrupted extends WeftError {
  constructor(message: string) {
    super('closed', message);
    this.name = 'Interrupted';
  }
}

export interface LongOperation {
  /** What the user asked for, as a noun: "attach", "reset". */
  verb: string;
  path: string;
  body?: unknown;
  /** The daemon undoes the operation when the request is closed early (attach, detach). */
  cancellable: boolean;
  /** The operation may wait for address allocation. */
  ipam?: boolean;
}

/** POSTs the operation and waits for it, saying what it waits for; Interrupted on SIGINT/SIGTERM. */
export async function runLongOperation<T>(cmd: Command, ctx: CliContext, op: LongOperation): Promise<T> {
  const client = clientFor(cmd, ctx);
  const stop = new AbortController();
  const unhook = onInterrupt(ctx, () => stop.abort());
  const requestId = randomUUID();
  const notices = watchProgress(ctx, op, requestId, new ApiClient(httpAddrOf(cmd, ctx), { timeoutMs: POLL_TIMEOUT_MS }));
  try {
    return await client.post<T>(op.path, op.body, { signal: stop.signal, timeoutMs: LONG_OPERATION_LIMIT_MS, requestId });
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    throw new Interrupted(
      op.cancellable
        ? `interrupted: the ${op.verb} was cancelled`
        : `interrupted: stopped waiting, but weft may still finish the ${op.verb} — \`weft status\` tells`,
    );
  } finally {
    unhook();
    await notices.stop();
  }
}

/** Calls fn on SIGINT or SIGTERM (or when ctx.signal aborts); returns the undo. */
function onInterrupt(ctx: CliContext, fn: () => void): () => void {
  if (ctx.signal) {
    if (ctx.signal.aborted) fn();
    ctx.signal.addEventListener('abort', fn, { once: true });
    return () => ctx.signal!.removeEventListener('abort', fn);
  }
  // One pair of process handlers however many operations run at once (a test driver runs many).
  if (interrupted.size === 0) {
    process.once('SIGINT', interruptAll);
    process.once('SIGTERM', interruptAll);
  }
  interrupted.add(fn);
  return () => {
    interrupted.delete(fn);
    if (interrupted.size === 0) {
      process.off('SIGINT', interruptAll);
      process.off('SIGTERM', interruptAll);
    }
  };
}

const interrupted = new Set<() => void>();

/** once: a second Ctrl-C finds no handler and ends the process the default way. */
function interruptAll(): void {
  process.off('SIGINT', interruptAll);
  process.off('SIGTERM', interruptAll);
  for (const fn of [...interrupted]) fn();
}

/** After the notice delay, polls the daemon and writes a line whenever the reason changes. */
function watchProgress(ctx: CliContext, op: LongOperation, requestId: string, poller: ApiClient): { stop(): Promise<void> } {
  const after = ctx.timing?.noticeAfterMs ?? WAIT_NOTICE_AFTER_MS;
  const every = ctx.timing?.pollMs ?? WAIT_POLL_MS;
  let stopped = false;
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  const tick = (): void => {
    polling = (async () => {
      const why = await waitingFor(poller, op, requestId);
      if (stopped) return;
      if (why !== last) ctx.stderr(`weft: still waiting for the ${op.verb}: ${why}\n`);
      last = why;
      timer = setTimeout(tick, every);
    })();
  };
  timer = setTimeout(tick, after);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await polling;
    },
  };
}

/** What the daemon says the operation waits for, in words. */
async function waitingFor(poller: ApiClient, op: LongOperation, requestId: string): Promise<string> {
  let requests: RequestsStatus;
  try {
    requests = await poller.get<RequestsStatus>('/status/requests');
  } catch (err) {
    if (err instanceof WeftError && err.code === 'version-mismatch') return 'weft is still working on it';
    return 'weft does not answer status requests either: it is very busy or stuck (Ctrl-C gives up)';
  }
  if (op.ipam) {
    const ipam = await poller.get<IpamStatusJson>('/status/ipam').catch(() => undefined);
    if (ipam?.waiting) return `address allocation is waiting for ${ipam.waiting}`;
  }
  // Requests the daemon got before ours (all of them while ours has not arrived).
  const ours = requests.inFlight.findIndex((r) => r.id === requestId);
  const earlier = ours < 0 ? requests.inFlight.length : ours;
  if (earlier > 0) return `${earlier} earlier request${earlier === 1 ? ' is' : 's are'} still being handled`;
  return 'weft is still working on it';
}
