// The data plane as the local API sees it.
import { formatPeerName } from '../../mesh/peer-name.js';
import type { MeshRouter } from '../../mesh/router.js';
import { resolveNetns, type Dataplane } from '../../router/dataplane.js';
import type { Allocator } from '../../ipam/allocator.js';
import { WeftError } from '../errors.js';
import { contains, parseCidr, parseIp } from '../../ipam/space.js';
import type { DataplaneControl, EndpointStatus } from '../../router/status.js';

/**
 * Containers attached without an address get one from IPAM (keyed by their namespace, so a
 * repeated attach returns the same one); explicit addresses are claimed so IPAM never hands them
 * out again; detach releases.
 */
export function dataplaneControl(dp: Dataplane, router: MeshRouter, ipam: Allocator | undefined, rangeText: string): DataplaneControl {
  const prefix = rangeText.split('/')[1]!;
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
      const key = resolveNetns(container);
      const range = parseCidr(rangeText);
      const inRange = (c: string): boolean => range !== undefined && contains([range], parseIp(c.split('/')[0]!) ?? -1);
      if (ipam && cidrs.filter(inRange).length > 1) {
        throw new WeftError('usage', `a container gets one address inside ${rangeText}, not ${cidrs.filter(inRange).join(' and ')}: give one (addresses outside the range are not limited)`);
      }
      // Whatever IPAM gave or reserved in this call is given back if the container ends up unattached.
      const had = ipam?.lookup(key);
      const undo = async (): Promise<void> => {
        if (ipam && had === undefined && !dp.endpoints().some((e) => e.netns === key)) await ipam.release(key);
      };
      let given = cidrs;
      try {
        if (cidrs.length === 0) {
          if (!ipam) throw new WeftError('usage', 'this router has no address management: give the address, e.g. weft attach 10.32.0.5/12 NETNS');
          given = [`${await ipam.allocate(key)}/${prefix}`];
        } else if (ipam) {
          for (const c of cidrs) await ipam.claim(key, c.split('/')[0]!);
        }
        const managed = ipam !== undefined && given.every(inRange);
        const ep = await dp.attach(container, given, { managed });
        await dp.settled();
        return local(ep.container, ep.mac, ep.cidrs);
      } catch (err) {
        await undo();
        throw err;
      }
    },
    async detach(container) {
      const ep = await dp.detach(container);
      await ipam?.release(ep.netns);
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
    async reset() {
      // Our address space goes to a reachable peer before we leave (docs/ipam.md). With no one
      // to take it, the space stays ours, but the containers reset removes free their addresses.
      const heir = await ipam?.handoff();
      if (ipam && heir === undefined) for (const a of ipam.allocations()) await ipam.release(a.container);
      await dp.reset();
    },
  };
}
