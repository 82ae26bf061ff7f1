// The data plane as the local API sees it.
import { formatPeerName } from '../../mesh/peer-name.js';
import type { MeshRouter } from '../../mesh/router.js';
import type { Dataplane } from '../../router/dataplane.js';
import type { DataplaneControl, EndpointStatus } from '../../router/status.js';

export function dataplaneControl(dp: Dataplane, router: MeshRouter): DataplaneControl {
  const local = (container: string, mac: string, cidrs: string[]): EndpointStatus => ({
    peer: formatPeerName(router.name),
    nickname: router.peers.self.nickname,
    local: true,
    container,
    mac,
    ips: cidrs,
  });
  return {
    status: () => dp.status(),
    endpoints: () => dp.endpointStatus(),
    async attach(container, cidrs) {
      const ep = await dp.attach(container, cidrs);
      await dp.settled();
      return local(ep.container, ep.mac, ep.cidrs);
    },
    async detach(container) {
      const ep = await dp.detach(container);
      await dp.settled();
      return local(ep.container, ep.mac, ep.cidrs);
    },
    async expose(cidr) {
      await dp.expose(cidr);
      await dp.settled();
    },
    async hide(cidr) {
      const gone = await dp.hide(cidr);
      await dp.settled();
      return gone;
    },
    reset: () => dp.reset(),
  };
}
