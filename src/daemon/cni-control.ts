// The CNI plugin's operations as the router does them (src/api/cni-routes.ts → here → the
// endpoints owner, router/endpoints.ts): this only adapts shapes, bounds how long an ADD waits
// for the address ring, and asks readiness.ts whether the router is ready. docs/cni.md.
import { existsSync } from 'node:fs';
import { WeftError } from '../../lib/errors.js';
import * as C from '../../lib/constants.js';
import type { Dataplane } from '../../router/dataplane.js';
import type { Endpoints } from '../../router/endpoints.js';
import { routesFor } from '../../router/endpoint-keys.js';
import type { AttachedEndpoint } from '../../router/endpoint-store.js';
import type { IpamControl } from '../../ipam/status.js';
import { ipamNotReady as ipamNotReadyOf, readiness } from './readiness.js';
import type { CniControl } from '../api/cni-routes.js';
import type { CniAttachment, CniRoute, ReadyResponse } from '../api/protocol.js';

export interface CniControlOptions {
  endpoints: Endpoints;
  dataplane: Pick<Dataplane, 'mtu' | 'status'>;
  /** Undefined: the router has no address management (every ADD must name its address). */
  ipam: Pick<IpamControl, 'status'> | undefined;
  overlayRange: string;
  /** How long an ADD may wait for the address ring before it answers "try again later". */
  addWaitMs?: number;
  /** The router's readiness (src/daemon/readiness.ts); by default from the data plane and IPAM alone. */
  ready?: () => ReadyResponse;
}

export function cniControl(o: CniControlOptions): CniControl {
  const prefix = o.overlayRange.split('/')[1]!;
  const waitMs = o.addWaitMs ?? C.CNI_ADD_WAIT_MS;
  const ipamNotReady = (): string | undefined => ipamNotReadyOf(o.ipam);
  const ready = o.ready ?? ((): ReadyResponse => readiness({ dataplane: () => o.dataplane.status(), ipam: () => o.ipam }));
  const attachment = (ep: AttachedEndpoint): CniAttachment => {
    const routes: CniRoute[] = [{ dst: o.overlayRange }];
    for (const r of routesFor(ep.cidrs, o.overlayRange)) if (r !== o.overlayRange) routes.push({ dst: r });
    if (ep.gateway) routes.push({ dst: '0.0.0.0/0', gw: ep.gateway });
    const out: CniAttachment = {
      id: ep.id, ifname: ep.ifname, netns: ep.netns, mac: ep.mac, hostIfname: ep.hostIfname, hostMac: ep.hostMac ?? '', mtu: o.dataplane.mtu, cidrs: ep.cidrs, routes,
    };
    if (ep.gateway) out.gateway = ep.gateway;
    return out;
  };
  return {
    async add(req, { signal }) {
      if (!existsSync(req.netns)) throw new WeftError('not-found', `network namespace ${req.netns} does not exist (is the container gone?)`);
      const cidrs = (req.ips ?? []).map((ip) => (ip.includes('/') ? ip : `${ip}/${prefix}`));
      const names = req.names;
      const container = names?.pod ? (names.namespace ? `${names.namespace}/${names.pod}` : names.pod) : req.id.slice(0, 12);
      // An ADD does not wait for ever: the runtime gets "try again later" with the reason.
      const deadline = AbortSignal.timeout(waitMs);
      const both = signal ? AbortSignal.any([signal, deadline]) : deadline;
      try {
        const ep = await o.endpoints.attach({
          container, netns: req.netns, id: req.id, ifname: req.ifname, cidrs, origin: 'cni',
          ...(names ? { names } : {}),
          defaultRoute: req.defaultRoute ?? true, masquerade: req.masquerade ?? true, hairpin: true,
        }, { signal: both });
        return attachment(ep);
      } catch (err) {
        if (deadline.aborted && !signal?.aborted) {
          throw new WeftError('unavailable', `no address after ${Math.round(waitMs / 1000)} s: ${ipamNotReady() ?? 'the router is busy'}; try again later`, { cause: err });
        }
        // IPAM gave up waiting (fenced, the ring still forming): the runtime should come back.
        if (err instanceof WeftError && err.code === 'io' && cidrs.length === 0) {
          const why = ipamNotReady();
          if (why) throw new WeftError('unavailable', `${why} (${err.message}); try again later`, { cause: err });
        }
        throw err;
      }
    },
    async del(key, { signal }) {
      const gone = await o.endpoints.detachKey(key, signal ? { signal } : {});
      return { released: gone !== undefined };
    },
    async check(req) {
      const { ep, problems } = await o.endpoints.check(req, req.netns);
      if (problems.length > 0) throw new WeftError('mismatch', `${req.ifname} of container ${req.id} is not as weft made it: ${problems.join('; ')}`);
      return attachment(ep);
    },
    async gc(req, { signal }) {
      return { released: await o.endpoints.gc(req.keep, signal ? { signal } : {}) };
    },
    ready,
  };
}
