// One plugin invocation: environment and stdin in, stdout and an exit code out. The router does
// the work; this file turns CNI's calling convention into the router's API and back.
//
//   VERSION  → {cniVersion, supportedVersions}            (no router needed)
//   ADD      → POST /cni/add, result in the caller's version (retried while the router says 503)
//   DEL      → POST /cni/del; success whenever there is nothing left to do or no router to ask
//   CHECK    → POST /cni/check, then the prevResult compared with what the router reports
//   STATUS   → GET /readyz; not ready or no router: code 50 with the reasons
//   GC       → POST /cni/gc with cni.dev/valid-attachments
import { existsSync } from 'node:fs';
import type { CniAddRequest, CniAttachment, CniCheckRequest, CniGcRequest, CniKey, ReadyResponse } from '../api/protocol.js';
import { parseCniArgs, readEnv, commandOf, type CniEnv } from './args.js';
import { decodeStdin, parseConfig, requestedVersion, type WeftNetConf } from './config.js';
import { CniCode, CniError, errorObject } from './errors.js';
import { checkAgainstPrev, mergeResult, requirePrevResult, toResult } from './result.js';
import { HttpRouterApi, type Reply, type RouterApi } from './router-client.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS, isSupported, requireVersionFor } from './version.js';

export interface Invocation {
  env: Readonly<Record<string, string | undefined>>;
  stdin: string;
}

export interface Outcome {
  /** 0 on success, 1 with a CNI error object on stdout. */
  code: number;
  stdout: string;
  /** Notes for whoever reads the runtime's log (DEL that had nothing to ask). */
  stderr: string;
}

export interface PluginDeps {
  /** The router behind a config's `api` (default: HTTP to it). */
  routerFor?: (conf: WeftNetConf) => RouterApi;
  /** Waits between ADD retries while the router says "try again later". */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Whether the namespace path exists (default: the file system). */
  netnsExists?: (path: string) => boolean;
}

/** STATUS must answer quickly: a runtime polls it. */
const STATUS_TIMEOUT_MS = 5_000;
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 2_000;

const HINT_LAUNCH = 'is the weft router running? `weft launch` starts it';

export async function runPlugin(inv: Invocation, deps: PluginDeps = {}): Promise<Outcome> {
  let replyVersion: string = LATEST_VERSION;
  const notes: string[] = [];
  try {
    const command = commandOf(inv.env);
    if (command === 'VERSION') return ok(versionReply(inv.stdin));
    const env = readEnv(inv.env);
    const raw = decodeStdin(inv.stdin);
    const asked = requestedVersion(raw);
    if (typeof asked === 'string' && asked !== '') replyVersion = asked;
    const conf = parseConfig(raw);
    const api = (deps.routerFor ?? ((c) => new HttpRouterApi(c.api.host, c.api.port)))(conf);
    const ctx: Ctx = { env, conf, api, deps, notes };
    switch (env.command) {
      case 'ADD':
        return ok(`${JSON.stringify(await add(ctx))}\n`);
      case 'DEL':
        await del(ctx);
        return ok('', notes);
      case 'CHECK':
        await check(ctx);
        return ok('');
      case 'STATUS':
        await status(ctx);
        return ok('');
      case 'GC':
        await gc(ctx);
        return ok('');
      case 'VERSION':
        return ok(versionReply(inv.stdin));
    }
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(CniCode.RouterFailed, `the weft CNI plugin failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`, err instanceof Error ? (err.stack ?? '') : '');
    return { code: 1, stdout: `${JSON.stringify(errorObject(e, replyVersion))}\n`, stderr: notes.join('') };
  }
}

function ok(stdout: string, notes: string[] = []): Outcome {
  return { code: 0, stdout, stderr: notes.join('') };
}

interface Ctx {
  env: CniEnv;
  conf: WeftNetConf;
  api: RouterApi;
  deps: PluginDeps;
  notes: string[];
}

/** VERSION reads stdin leniently: podman calls it with placeholder env and a minimal config. */
export function versionReply(stdin: string): string {
  let v: unknown;
  try {
    v = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
  } catch {
    v = undefined;
  }
  return `${JSON.stringify({ cniVersion: isSupported(v) ? v : LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`;
}

type ErrorBody = { error?: unknown; code?: unknown };

/** The router's error reply as a CNI error: its WeftErrorCode first, then the HTTP status. */
export function routerError(verb: string, status: number, body: unknown): CniError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as ErrorBody;
  const said = typeof b.error === 'string' ? b.error : `HTTP ${status} with no explanation`;
  const code = typeof b.code === 'string' ? b.code : undefined;
  if (code === 'usage' || (code === undefined && status === 400)) return new CniError(CniCode.InvalidConfig, `weft router refused ${verb}: ${said}`, said);
  if (code === 'not-found' || (code === undefined && status === 404)) return new CniError(CniCode.UnknownContainer, `weft router: ${said}`, said);
  if (code === 'mismatch' || (code === undefined && status === 409)) return new CniError(CniCode.CheckMismatch, `weft router: ${said} — delete and add the container's network again`, said);
  if (code === 'unavailable' || status === 503) return new CniError(CniCode.TryAgainLater, `weft router cannot ${verb} yet, try again later: ${said}`, said);
  return new CniError(CniCode.RouterFailed, `weft router failed to ${verb}: ${said} — see the router's log (\`weft status\`)`, said);
}

function isAttachment(v: unknown): v is CniAttachment {
  if (typeof v !== 'object' || v === null) return false;
  const a = v as Record<string, unknown>;
  return (
    typeof a.id === 'string' &&
    typeof a.ifname === 'string' &&
    typeof a.netns === 'string' &&
    typeof a.mac === 'string' &&
    typeof a.hostIfname === 'string' &&
    typeof a.hostMac === 'string' &&
    typeof a.mtu === 'number' &&
    Array.isArray(a.cidrs) &&
    a.cidrs.every((c) => typeof c === 'string') &&
    (a.gateway === undefined || typeof a.gateway === 'string') &&
    Array.isArray(a.routes) &&
    a.routes.every((r) => typeof r === 'object' && r !== null && typeof (r as { dst?: unknown }).dst === 'string')
  );
}

function attachmentOf(verb: string, r: Reply & { kind: 'reply' }): CniAttachment {
  if (!isAttachment(r.body)) throw new CniError(CniCode.RouterFailed, `weft router answered ${verb} with something that is not an attachment — are the plugin and the router the same weft version?`, JSON.stringify(r.body ?? null));
  return r.body;
}

function requireNetns(ctx: Ctx): void {
  if (!(ctx.deps.netnsExists ?? existsSync)(ctx.env.netns)) {
    throw new CniError(CniCode.UnknownContainer, `the container's network namespace ${ctx.env.netns} does not exist (CNI_NETNS) — was the container stopped?`);
  }
}

async function add(ctx: Ctx): Promise<unknown> {
  const { env, conf } = ctx;
  const args = parseCniArgs(env.args);
  requireNetns(ctx);
  const req: CniAddRequest = { id: env.containerId, ifname: env.ifname, netns: env.netns, defaultRoute: conf.defaultRoute, masquerade: conf.masquerade };
  // The ips capability wins over IP= in CNI_ARGS (the conventions: runtimeConfig over args).
  const ips = conf.ips.length > 0 ? conf.ips : args.ips;
  if (ips.length > 0) req.ips = ips;
  if (args.names.namespace !== undefined || args.names.pod !== undefined) req.names = args.names;
  const now = ctx.deps.now ?? Date.now;
  const sleep = ctx.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + conf.timeoutMs;
  let wait = RETRY_FIRST_MS;
  let lastUnavailable = '';
  for (;;) {
    const left = deadline - now();
    const r = await ctx.api.call('POST', '/cni/add', req, Math.max(1, left));
    if (r.kind === 'unreachable') throw new CniError(CniCode.Io, `cannot reach the weft router at ${conf.api.text} (${r.reason}) — ${HINT_LAUNCH}`, r.reason);
    if (r.kind === 'timeout') {
      const why = lastUnavailable ? `; it last said: ${lastUnavailable}` : '';
      throw new CniError(CniCode.TryAgainLater, `the weft router at ${conf.api.text} did not finish ADD within ${conf.timeoutMs / 1000} s (timeoutSeconds)${why}; it undid what it started — try again`, lastUnavailable);
    }
    if (r.status === 200) {
      const a = attachmentOf('ADD', r);
      return conf.prevResult ? mergeResult(conf.prevResult, a, conf.cniVersion) : toResult(a, conf.cniVersion);
    }
    const err = routerError('add the container', r.status, r.body);
    // "Try again later" (the address ring is forming): wait for it here, up to the deadline.
    if (err.code !== CniCode.TryAgainLater || now() + wait >= deadline) {
      if (err.code === CniCode.TryAgainLater) throw new CniError(err.code, `${err.message} (still so after ${conf.timeoutMs / 1000} s, timeoutSeconds)`, err.details);
      throw err;
    }
    lastUnavailable = err.details;
    await sleep(wait);
    wait = Math.min(RETRY_MAX_MS, Math.round(wait * 1.5));
  }
}

async function del(ctx: Ctx): Promise<void> {
  const { env, conf } = ctx;
  const key: CniKey = { id: env.containerId, ifname: env.ifname };
  const r = await ctx.api.call('POST', '/cni/del', key, conf.timeoutMs);
  // DEL must succeed when there is nothing to do: the router, if it is gone, releases the
  // address itself when it is back (it adopts or frees what the kernel shows).
  if (r.kind === 'unreachable' || r.kind === 'timeout') {
    ctx.notes.push(`weft: the router at ${conf.api.text} did not answer DEL (${r.kind === 'timeout' ? 'timeout' : r.reason}); it releases ${key.id}/${key.ifname} when it runs again\n`);
    return;
  }
  if (r.status === 200) return;
  const err = routerError('delete the container', r.status, r.body);
  if (err.code === CniCode.UnknownContainer) return;
  throw err;
}

async function check(ctx: Ctx): Promise<void> {
  const { env, conf } = ctx;
  requireVersionFor('CHECK', conf.cniVersion);
  requirePrevResult(conf.prevResult);
  requireNetns(ctx);
  const req: CniCheckRequest = { id: env.containerId, ifname: env.ifname, netns: env.netns };
  const r = await ctx.api.call('POST', '/cni/check', req, conf.timeoutMs);
  if (r.kind === 'unreachable') throw new CniError(CniCode.Io, `cannot reach the weft router at ${conf.api.text} (${r.reason}) — ${HINT_LAUNCH}`, r.reason);
  if (r.kind === 'timeout') throw new CniError(CniCode.TryAgainLater, `the weft router at ${conf.api.text} did not answer CHECK within ${conf.timeoutMs / 1000} s`);
  if (r.status !== 200) throw routerError('check the container', r.status, r.body);
  checkAgainstPrev(conf.prevResult, attachmentOf('CHECK', r));
}

async function status(ctx: Ctx): Promise<void> {
  const { conf } = ctx;
  requireVersionFor('STATUS', conf.cniVersion);
  const r = await ctx.api.call('GET', '/readyz', undefined, Math.min(STATUS_TIMEOUT_MS, conf.timeoutMs));
  if (r.kind === 'unreachable') throw new CniError(CniCode.NotAvailable, `plugin not available: cannot reach the weft router at ${conf.api.text} (${r.reason}) — ${HINT_LAUNCH}`, r.reason);
  if (r.kind === 'timeout') throw new CniError(CniCode.NotAvailable, `plugin not available: the weft router at ${conf.api.text} did not answer within ${STATUS_TIMEOUT_MS / 1000} s`);
  const body = r.body as Partial<ReadyResponse> | undefined;
  if (r.status === 200 && body?.ready !== false) return;
  const reasons = Array.isArray(body?.reasons) && body.reasons.length > 0 ? body.reasons.map(String) : [`HTTP ${r.status}`];
  throw new CniError(CniCode.NotAvailable, `plugin not available: the weft router is not ready: ${reasons.join('; ')}`, reasons.join('\n'));
}

async function gc(ctx: Ctx): Promise<void> {
  const { conf } = ctx;
  requireVersionFor('GC', conf.cniVersion);
  if (!conf.validAttachments) {
    throw new CniError(CniCode.InvalidConfig, 'GC needs cni.dev/valid-attachments (the attachments to keep) in the configuration; without it weft releases nothing');
  }
  const req: CniGcRequest = { keep: conf.validAttachments };
  const r = await ctx.api.call('POST', '/cni/gc', req, conf.timeoutMs);
  if (r.kind === 'unreachable') throw new CniError(CniCode.Io, `cannot reach the weft router at ${conf.api.text} (${r.reason}) — ${HINT_LAUNCH}`, r.reason);
  if (r.kind === 'timeout') throw new CniError(CniCode.TryAgainLater, `the weft router at ${conf.api.text} did not finish GC within ${conf.timeoutMs / 1000} s`);
  if (r.status !== 200) throw routerError('collect garbage', r.status, r.body);
}
