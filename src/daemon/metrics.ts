// Wires the metrics (src/metrics/) to the owners of the state they show: every source is a
// function read at scrape time, so a part that is not running yet (the data plane while it
// starts, IPAM before its allocator exists) shows as absent, never as a stale copy.
import { VERSION } from '../../lib/constants.js';
import type { Logger } from '../../lib/log.js';
import { formatPeerName } from '../../mesh/peer-name.js';
import type { MeshRouter } from '../../mesh/router.js';
import type { Allocator } from '../../ipam/allocator.js';
import type { Dataplane } from '../../router/dataplane.js';
import type { DataplaneControl } from '../../router/status.js';
import type { ReadyResponse } from '../api/protocol.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';

/** The parts the metrics read; filled in by the composition root as they start. */
export interface MetricsParts {
  ipam?: Allocator;
  dataplane?: Dataplane;
  control?: DataplaneControl;
}

export async function startMetrics(o: { addr: string; router: MeshRouter; parts: MetricsParts; dataplane: boolean; ready: () => ReadyResponse; log: Logger }): Promise<{ metrics: Metrics; server: MetricsServer }> {
  const { router, parts } = o;
  const metrics = createMetrics({
    version: VERSION,
    mesh: {
      connections: () => router.connectionStatus(),
      encrypted: () => router.encrypted,
      peers: () => router.peers.size,
      reachable: () => router.routes.unicast.size,
      traffic: () => router.traffic,
      dropped: () => router.view.dropped,
    },
    ipam: () => parts.ipam && { status: parts.ipam.status(), self: formatPeerName(router.name), ...parts.ipam.counters() },
    dataplane: () => parts.dataplane?.status(),
    endpoints() {
      const all = parts.control?.endpoints();
      if (!all) return undefined;
      const local = all.filter((e) => e.local).length;
      return { local, remote: all.length - local };
    },
    ready: o.ready,
  }, { dataplane: o.dataplane });
  // Only established connections emit it: a failed attempt is not a termination.
  router.on('connection-down', () => metrics.sink.connectionTerminated());
  const started = Date.now();
  const server = await startMetricsServer({
    addr: o.addr,
    metrics: { text: () => metrics.text(), contentType: metrics.registry.contentType },
    ready: o.ready,
    health: () => ({ version: VERSION, name: formatPeerName(router.name), uptimeSeconds: Math.round((Date.now() - started) / 1000) }),
    log: o.log,
  });
  return { metrics, server };
}
