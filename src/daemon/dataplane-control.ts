// The data plane as the local API sees it: the data plane's status and the endpoints owner's
// operations (router/endpoints.ts decides; this only adapts shapes and orders reset).
import { formatPeerName } from '../../mesh/peer-name.js';
import type { MeshRouter } from '../../mesh/router.js';
import type { Dataplane } from '../../router/dataplane.js';
import type { Endpoints } from '../../router/endpoints.js';
import type { AttachedEndpoint } from '../../router/endpoint-store.js';
import { resolveNetns } from '../../router/netns.js';
import type { DataplaneControl, EndpointStatus } from '../../router/status.js';

export function dataplaneControl(dp: Dataplane, eps: Endpoints, router: MeshRouter): DataplaneControl {
  const local = (ep: Pick<AttachedEndpoint, 'container' | 'mac' | 'cidrs'>): EndpointStatus => ({
    peer: formatPeerName(router.name),
    nickname: router.peers.self.nickname,
    local: true,
    container: ep.container,
    mac: ep.mac,
    ips: ep.cidrs,
  });
  return {
    status: () => dp.status(),
    endpoints: () => [...eps.list().map(local), ...dp.endpointStatus()],
    async attach(container, cidrs, opts = {}) {
      return local(await eps.attach({ container, netns: resolveNetns(container), cidrs }, opts));
    },
    async detach(container, opts = {}) {
      const gone = await eps.detach(container, opts);
      // Already gone is not an error (a runtime's DEL is retried); the answer says nothing was attached.
      return local(gone[0] ?? { container, mac: '', cidrs: [] });
    },
    expose: (cidr) => eps.expose(cidr).then(() => dp.settled()),
    async hide(cidr) {
      const gone = await eps.hide(cidr);
      await dp.settled();
      return gone;
    },
    async reset() {
      await eps.reset();
      await dp.reset();
    },
  };
}
