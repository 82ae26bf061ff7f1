// The CNI part of the local API (see protocol.ts for the paths): what the CNI plugin (src/cni/)
// asks of the router. Bodies are checked here field by field, so a plugin of another version
// gets a clear refusal rather than a half-made attachment; the work is the endpoints owner's.
//
// POST /cni/exec runs a whole plugin invocation here, for the native forwarder installed as the
// plugin (native/weft-cni.c): the CNI_* variables arrive as X-Cni-* headers, the network
// configuration as the body, and the answer is the plugin's stdout with its exit code in
// X-Cni-Exit. The same code as the Node plugin runs (src/cni/plugin.ts), its calls to the router
// dispatched in this process instead of over HTTP, so a container start pays no Node start-up.
import { checkHostCidr } from '../../lib/ip.js';
import type { Logger } from '../../lib/log.js';
import { runPlugin } from '../cni/plugin.js';
import type { Reply as PluginReply, RouterApi } from '../cni/router-client.js';
import type { Result } from '../../lib/result.js';
import type { CniAddRequest, CniAttachment, CniCheckRequest, CniDelResponse, CniGcRequest, CniGcResponse, CniKey, ReadyResponse } from './protocol.js';
import { replyForError, type Reply, type RequestContext, type Route } from './routes.js';

/** What the CNI routes need (src/daemon/cni-control.ts). */
export interface CniControl {
  add(req: CniAddRequest, opts: { signal?: AbortSignal }): Promise<CniAttachment>;
  del(key: CniKey, opts: { signal?: AbortSignal }): Promise<CniDelResponse>;
  check(req: CniCheckRequest, opts: { signal?: AbortSignal }): Promise<CniAttachment>;
  gc(req: CniGcRequest, opts: { signal?: AbortSignal }): Promise<CniGcResponse>;
  ready(): ReadyResponse;
}

export function cniRoutes(cni: CniControl, log: Logger): [string, Route][] {
  const post = <T>(parse: (b: unknown) => Result<T>, fn: (v: T, req: RequestContext) => Promise<unknown>): Route => ({
    method: 'POST',
    async handle(body, req) {
      const v = parse(body);
      if (!v.ok) return { status: 400, body: { error: v.reason, code: 'usage' } };
      return { status: 200, body: await fn(v.value, req) };
    },
  });
  const routes: [string, Route][] = [
    ['/readyz', { method: 'GET', handle: () => { const r = cni.ready(); return { status: r.ready ? 200 : 503, body: r }; } }],
    ['/cni/add', post(parseAdd, (v, { signal }) => cni.add(v, { signal }))],
    ['/cni/del', post((b) => parseKey(b, []), (v, { signal }) => cni.del(v, { signal }))],
    ['/cni/check', post(parseCheck, (v, { signal }) => cni.check(v, { signal }))],
    ['/cni/gc', post(parseGc, (v, { signal }) => cni.gc(v, { signal }))],
  ];
  const table = new Map(routes);
  routes.push(['/cni/exec', { method: 'POST', handle: (body, req) => exec(table, body, req, log) }]);
  return routes;
}

/** The X-Cni-* headers a forwarder sends, and the variables they stand for. */
const ENV_HEADERS = ['command', 'containerid', 'netns', 'ifname', 'args', 'path'] as const;

async function exec(table: Map<string, Route>, body: unknown, req: RequestContext, log: Logger): Promise<Reply> {
  const env: Record<string, string> = {};
  for (const h of ENV_HEADERS) {
    const v = req.headers[`x-cni-${h}`];
    if (typeof v === 'string') env[`CNI_${h.toUpperCase()}`] = v;
  }
  // The router's own routes, called in this process: what the plugin would have sent over HTTP.
  const inProcess: RouterApi = {
    async call(method, path, callBody, timeoutMs): Promise<PluginReply> {
      const route = table.get(path);
      if (!route || route.method !== method) return { kind: 'reply', status: 404, body: { error: `no such API path: ${path}` } };
      const deadline = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([req.signal, deadline]);
      let reply: Reply;
      try {
        reply = await route.handle(callBody, { signal, headers: {} });
      } catch (err) {
        if (deadline.aborted) return { kind: 'timeout' };
        reply = replyForError(err, signal, log);
      }
      return { kind: 'reply', status: reply.status, body: reply.body };
    },
  };
  const out = await runPlugin({ env, stdin: JSON.stringify(body) }, { routerFor: () => inProcess });
  const headers: Record<string, string> = { 'X-Cni-Exit': String(out.code) };
  // One line of plain text, as a header value must be.
  const note = out.stderr.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 1000);
  if (note) headers['X-Cni-Stderr'] = note;
  return { status: 200, raw: { text: out.stdout, headers } };
}

// CNI_IFNAME is a Linux interface name; CNI_CONTAINERID is alphanumeric with _ . - (the spec's rule).
const IFNAME = /^[^\s/:]{1,15}$/;
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function object(b: unknown, fields: string[]): Result<Record<string, unknown>> {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return { ok: false, reason: `expected a JSON object with ${fields.join(', ')}` };
  const r = b as Record<string, unknown>;
  const unknown = Object.keys(r).find((k) => !fields.includes(k));
  if (unknown !== undefined) return { ok: false, reason: `unknown field "${unknown}"; expected ${fields.join(', ')}` };
  return { ok: true, value: r };
}

function parseKey(b: unknown, extra: string[]): Result<CniKey & Record<string, unknown>> {
  const o = object(b, ['id', 'ifname', ...extra]);
  if (!o.ok) return o;
  const { id, ifname } = o.value;
  if (typeof id !== 'string' || !CONTAINER_ID.test(id) || id.length > 1024) return { ok: false, reason: `"id" must be the container ID (letters, digits, _ . -), not ${JSON.stringify(id)}` };
  if (typeof ifname !== 'string' || !IFNAME.test(ifname)) return { ok: false, reason: `"ifname" must be an interface name of 1 to 15 characters without spaces, / or :, not ${JSON.stringify(ifname)}` };
  return { ok: true, value: { ...o.value, id, ifname } };
}

function netnsOf(v: unknown): Result<string> {
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0')) return { ok: false, reason: `"netns" must be the path of the container's network namespace, not ${JSON.stringify(v)}` };
  return { ok: true, value: v };
}

function parseAdd(b: unknown): Result<CniAddRequest> {
  const k = parseKey(b, ['netns', 'ips', 'names', 'defaultRoute', 'masquerade']);
  if (!k.ok) return k;
  const v = k.value;
  const netns = netnsOf(v.netns);
  if (!netns.ok) return netns;
  const out: CniAddRequest = { id: v.id, ifname: v.ifname, netns: netns.value };
  if (v.ips !== undefined) {
    if (!Array.isArray(v.ips) || !v.ips.every((x): x is string => typeof x === 'string')) return { ok: false, reason: '"ips" must be an array of addresses like "10.32.0.9/12"' };
    for (const ip of v.ips) {
      const c = checkHostCidr(ip.includes('/') ? ip : `${ip}/32`);
      if (!c.ok) return { ok: false, reason: `requested address ${ip}: ${c.reason}` };
    }
    out.ips = v.ips;
  }
  if (v.names !== undefined) {
    const n = v.names as Record<string, unknown> | null;
    if (typeof n !== 'object' || n === null || Array.isArray(n) || Object.entries(n).some(([key, x]) => !['namespace', 'pod'].includes(key) || typeof x !== 'string' || x.length > 253)) {
      return { ok: false, reason: '"names" must be {"namespace": "...", "pod": "..."} (strings of at most 253 characters)' };
    }
    out.names = n as CniAddRequest['names'];
  }
  for (const f of ['defaultRoute', 'masquerade'] as const) {
    if (v[f] === undefined) continue;
    if (typeof v[f] !== 'boolean') return { ok: false, reason: `"${f}" must be true or false` };
    out[f] = v[f];
  }
  return { ok: true, value: out };
}

function parseCheck(b: unknown): Result<CniCheckRequest> {
  const k = parseKey(b, ['netns']);
  if (!k.ok) return k;
  const netns = netnsOf(k.value.netns);
  if (!netns.ok) return netns;
  return { ok: true, value: { id: k.value.id, ifname: k.value.ifname, netns: netns.value } };
}

function parseGc(b: unknown): Result<CniGcRequest> {
  const o = object(b, ['keep']);
  if (!o.ok) return o;
  if (!Array.isArray(o.value.keep)) return { ok: false, reason: '"keep" must be an array of {"id", "ifname"}' };
  const keep: CniKey[] = [];
  for (const k of o.value.keep) {
    const r = parseKey(k, []);
    if (!r.ok) return { ok: false, reason: `in "keep": ${r.reason}` };
    keep.push({ id: r.value.id, ifname: r.value.ifname });
  }
  return { ok: true, value: { keep } };
}
