// Adapts the mesh router to the narrow view the data plane needs.
import { isIPv4 } from 'node:net';
import type { MeshRouter } from '../mesh/router.js';
import type { MeshView } from './dataplane.js';

export function meshView(router: MeshRouter): MeshView {
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
    onRoutes: (cb) => {
      router.on('routes', () => cb());
    },
    onConnectionUp: (cb) => {
      router.on('connection-up', (c) => cb(c.peer));
    },
    onConnectionDown: (cb) => {
      router.on('connection-down', (c) => cb(c.peer));
    },
  };
}
