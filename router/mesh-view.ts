// Adapts the mesh router to the narrow view the data plane needs.
import { isIPv4 } from 'node:net';
import type { MeshRouter } from '../mesh/router.js';
import type { MeshView } from './dataplane.js';

/** MeshView plus the routes event (MeshView in dataplane.ts gains onRoutes when it switches over). */
export type RoutedMeshView = MeshView & {
  /** Called after routes were recomputed and a next hop changed (a peer became reachable, unreachable or moved). */
  onRoutes(cb: () => void): void;
};

export function meshView(router: MeshRouter): RoutedMeshView {
  return {
    name: router.name,
    nickname: (n) => router.peers.get(n)?.nickname,
    nextHop: (n) => router.routes.unicastAll.get(n),
    known: (n) => router.peers.get(n) !== undefined,
    localAddresses() {
      const out = new Set<string>();
      for (const c of router.view.conns.values()) {
        const host = c.localAddr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
        if (isIPv4(host) && !host.startsWith('127.')) out.add(host);
      }
      return [...out].sort();
    },
    newGossip: (name, g) => router.newGossip(name, g),
    onTopology: (cb) => {
      router.on('topology', cb);
    },
    onRoutes: (cb) => {
      router.on('routes', () => cb());
    },
    onConnectionUp: (cb) => {
      router.on('connection-up', () => cb());
    },
  };
}
