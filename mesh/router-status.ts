// Builds what `weft status` shows from the router's state: a summary, every known peer with its
// connections, and every connection or attempt with its state and, for failures, the reason.
import { VERSION, PROTOCOL_NAME } from '../lib/constants.js';
import type { MeshRouter } from './router.js';
import type { LivenessPlan } from './liveness.js';
import { formatPeerName } from './peer-name.js';
import type { ConnectionStatus, PeerStatus, RouterStatus } from './status.js';

export class RouterStatusView {
  constructor(private readonly r: MeshRouter) {}

  status(): RouterStatus {
    const v = this.r.view;
    const conns = this.connections();
    const count = (s: ConnectionStatus['state']): number => conns.filter((c) => c.state === s).length;
    return {
      version: VERSION,
      protocol: PROTOCOL_NAME,
      protocolVersion: 2,
      name: formatPeerName(this.r.name),
      nickname: v.nickname,
      uid: this.r.uid.toString(),
      port: v.port,
      encryption: this.r.encrypted,
      peerDiscovery: v.discovery,
      peers: this.r.peers.size,
      reachable: this.reachable(),
      connections: {
        established: count('established'),
        pending: count('pending'),
        failed: count('failed'),
      },
      connLimit: v.connLimit,
      targets: v.targets,
      dropped: { ...v.dropped },
    };
  }

  private reachable(): number {
    const unicast = this.r.routes.unicast;
    let n = 0;
    for (const p of this.r.peers.all()) if (p.name !== this.r.name && unicast.has(p.name)) n++;
    return n;
  }

  peers(): PeerStatus[] {
    const routes = this.r.routes;
    const out: PeerStatus[] = [];
    for (const p of this.r.peers.all()) {
      const via = routes.unicast.get(p.name);
      out.push({
        name: formatPeerName(p.name),
        nickname: p.nickname,
        uid: p.uid.toString(),
        shortId: p.shortId ?? null,
        version: p.version.toString(),
        self: p.name === this.r.name,
        via: via === undefined ? null : formatPeerName(via),
        connections: p.connections.map((c) => ({
          name: formatPeerName(c.name),
          nickname: this.r.peers.get(c.name)?.nickname ?? '',
          address: c.remoteTcpAddr,
          outbound: c.outbound,
          established: c.established,
        })),
      });
    }
    // Ourselves first, then by name, so the output is stable.
    return out.sort((a, b) => (a.self !== b.self ? (a.self ? -1 : 1) : a.name.localeCompare(b.name)));
  }

  connections(): ConnectionStatus[] {
    const v = this.r.view;
    const out: ConnectionStatus[] = [];
    for (const c of v.conns.values()) {
      out.push({
        peer: formatPeerName(c.remote.name),
        nickname: c.remote.nickname,
        address: c.remoteAddr,
        outbound: c.outbound,
        state: c.established ? 'established' : 'pending',
        encrypted: c.encrypted,
        info: `mesh protocol ${c.version}${c.remote.weftVersion ? `, weft ${c.remote.weftVersion}` : ', not weft'}, ${livenessInfo(c.livenessPlan)}`,
      });
    }
    const listed = new Set(out.map((c) => c.address));
    for (const a of v.attempts) {
      listed.add(a.address);
      out.push({ peer: null, nickname: null, address: a.address, outbound: a.outbound, state: 'pending', encrypted: this.r.encrypted, info: a.state });
    }
    // Outbound targets that are waiting to retry, with the last reason.
    const failedTargets = new Set<string>();
    for (const t of v.targets) {
      if (t.state !== 'waiting' && t.state !== 'failed') continue;
      if (listed.has(t.address) || t.lastError === null) continue;
      failedTargets.add(t.address);
      out.push({
        peer: null,
        nickname: null,
        address: t.address,
        outbound: true,
        state: 'failed',
        encrypted: this.r.encrypted,
        info: t.state === 'failed' ? `${t.lastError}, retry: never` : `${t.lastError}, retry in ${Math.ceil((t.retryInMs ?? 0) / 1000)}s`,
      });
    }
    // Recent failures not covered above (inbound ones, or connections that broke).
    for (const f of v.failures) {
      if (listed.has(f.address) || failedTargets.has(f.address) || f.outbound) continue;
      out.push({
        peer: f.peer === undefined ? null : formatPeerName(f.peer),
        nickname: null,
        address: f.address,
        outbound: f.outbound,
        state: 'failed',
        encrypted: this.r.encrypted,
        info: f.reason,
      });
    }
    return out;
  }
}

/**
 * "heartbeat 30s, deadline 60s, link watched by the kernel (4s)" (weft ↔ weft over TCP),
 * "heartbeat 1s, deadline 4s" (weft ↔ weft, nothing watching the link) or "heartbeat 30s, deadline 60s" (mesh).
 */
function livenessInfo(p: LivenessPlan): string {
  const watch = p.linkWatchMs === undefined ? '' : `, link watched by the kernel (${p.linkWatchMs / 1000}s)`;
  return `heartbeat ${p.heartbeatMs / 1000}s, deadline ${p.readDeadlineMs / 1000}s${watch}`;
}
