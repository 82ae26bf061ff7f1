// The data-plane part of the local API (see protocol.ts for the list of paths). Addresses are
// checked here (lib/ip.ts checkHostCidr), so no client gets a half-made veth for a bad one.
import type { DataplaneControl } from '../../router/status.js';
import type { IpamControl } from '../../ipam/status.js';
import { checkHostCidr } from '../../lib/ip.js';
import type { Result } from '../../lib/result.js';
import type { Reply, RequestContext, Route } from './routes.js';

export function dataplaneRoutes(dp: DataplaneControl, onStop: () => void): [string, Route][] {
  const get = (fn: () => unknown): Route => ({ method: 'GET', handle: () => ({ status: 200, body: fn() }) });
  const post = (fields: Record<string, 'string' | 'strings' | 'string?'>, fn: (b: Record<string, unknown>, req: RequestContext) => Promise<Reply>): Route => ({
    method: 'POST',
    async handle(body, req) {
      const b = checkBody(body, fields);
      if (!b.ok) return { status: 400, body: { error: b.reason } };
      return fn(b.value, req);
    },
  });
  return [
    ['/status/dataplane', get(() => dp.status())],
    ['/status/endpoints', get(() => dp.endpoints())],
    [
      '/attach',
      post({ container: 'string', cidrs: 'strings' }, async (b, { signal }) => {
        for (const c of b.cidrs as string[]) {
          const r = checkHostCidr(c);
          if (!r.ok) return { status: 400, body: { error: r.reason } };
        }
        return { status: 200, body: await dp.attach(b.container as string, b.cidrs as string[], { signal }) };
      }),
    ],
    ['/detach', post({ container: 'string' }, async (b, { signal }) => ({ status: 200, body: await dp.detach(b.container as string, { signal }) }))],
    [
      '/expose',
      post({ cidr: 'string' }, async (b) => {
        const r = checkHostCidr(b.cidr as string);
        if (!r.ok) return { status: 400, body: { error: r.reason } };
        await dp.expose(b.cidr as string);
        return { status: 204 };
      }),
    ],
    ['/hide', post({ cidr: 'string?' }, async (b) => ({ status: 200, body: { hidden: await dp.hide(b.cidr as string | undefined) } }))],
    [
      '/reset',
      post({}, async () => {
        await dp.reset();
        return { status: 202, body: { ok: true, stopping: true }, after: onStop };
      }),
    ],
  ];
}

export function ipamRoutes(ipam: IpamControl): [string, Route][] {
  return [
    ['/status/ipam', { method: 'GET', handle: () => ({ status: 200, body: ipam.status() }) }],
    [
      '/rmpeer',
      {
        method: 'POST',
        handle(body) {
          const b = checkBody(body, { peer: 'string' });
          if (!b.ok) return { status: 400, body: { error: b.reason } };
          return { status: 200, body: { takenOver: ipam.rmpeer(b.value.peer as string) } };
        },
      },
    ],
  ];
}

function checkBody(body: unknown, fields: Record<string, 'string' | 'strings' | 'string?'>): Result<Record<string, unknown>> {
  const example = JSON.stringify(Object.fromEntries(Object.entries(fields).map(([k, t]) => [k, t === 'strings' ? ['…'] : '…'])));
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reason: `expected a JSON object like ${example}` };
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !(k in fields));
  if (unknown.length > 0) return { ok: false, reason: `unknown field "${unknown[0]}"; expected ${Object.keys(fields).join(', ') || 'none'}` };
  for (const [k, t] of Object.entries(fields)) {
    const v = b[k];
    if (t === 'string?' && v === undefined) continue;
    if (t === 'strings' ? !Array.isArray(v) || !v.every((x) => typeof x === 'string') : typeof v !== 'string') {
      return { ok: false, reason: `"${k}" must be ${t === 'strings' ? 'an array of strings' : 'a string'}, as in ${example}` };
    }
  }
  return { ok: true, value: b };
}
