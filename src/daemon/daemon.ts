// The composition root: the only place that builds and wires components. `weft router` runs
// this in the foreground; `weft launch` runs it in a background child.
import { realClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/log.js';
import { startApiServer } from '../api/server.js';
import { MeshRouter } from '../../mesh/router.js';
import { formatPeerName } from '../../mesh/peer-name.js';
import { tcpTransport } from '../../mesh/transport.js';
import { loadIdentity, newUid } from './identity.js';
import { meshDegree, type DaemonOptions } from './options.js';
import * as C from '../../lib/constants.js';
import { Dataplane } from '../../router/dataplane.js';
import { meshView } from '../../router/mesh-view.js';
import { NetlinkKernel } from '../../router/netlink-kernel.js';
import { openProbeTransport } from '../../router/probe-transport.js';
import { dataplaneControl } from './dataplane-control.js';
import { cniControl } from './cni-control.js';
import { Endpoints, type LocalEndpoint } from '../../router/endpoints.js';
import { checkContainerNetns } from '../../router/netns.js';
import { hostCidrProblem, inNetwork } from '../../lib/ip.js';
import { ipamAddresses } from './ipam.js';
import type { Allocator } from '../../ipam/allocator.js';
import { startAllocator } from './ipam.js';
import { removeEncryptionLeftovers, startEncryption } from './encryption.js';
import { NftHostNat } from '../../router/host-nat.js';
import { readiness } from './readiness.js';
import { startMetrics, type MetricsParts } from './metrics.js';

/** Runs the router until signal aborts or the API is asked to stop; rejects if it cannot start. */
export async function runDaemon(opts: DaemonOptions, signal: AbortSignal): Promise<void> {
  const log = createLogger({ level: opts.logLevel });
  const identity = await loadIdentity(opts.dataDir, { name: opts.name });
  if (identity.created) log.info({ name: formatPeerName(identity.name), dataDir: opts.dataDir }, 'generated a new peer name');

  const router = new MeshRouter({
    name: identity.name,
    nickname: opts.nickname,
    uid: newUid(),
    host: opts.host,
    port: opts.port,
    password: opts.password,
    connLimit: opts.connLimit,
    discovery: opts.discovery,
    degree: meshDegree(opts),
    transport: tcpTransport,
    clock: realClock,
    log: log.child({ component: 'mesh' }),
  });

  const stopped = new AbortController();
  const stop = (): void => stopped.abort();
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop();

  // With a password the ESP engine and its guard come first: no connection's keys are missed,
  // and no VXLAN packet leaves before the guard is in place.
  const encryption = opts.password && opts.dataplane ? await startEncryption(opts, router, realClock, log.child({ component: 'esp' })) : undefined;
  if (!encryption && opts.dataplane) await removeEncryptionLeftovers(opts, log.child({ component: 'esp' }));
  // Listen on the mesh port first: if it is taken, fail before claiming the API address.
  try {
    await router.start(opts.peers);
  } catch (err) {
    encryption?.stop();
    throw err;
  }
  let api;
  let dataplane: Dataplane | undefined;
  let endpoints: Endpoints | undefined;
  let kernel: NetlinkKernel | undefined;
  let ipam: Allocator | undefined;
  let programmed = false;
  // One answer for the API's /readyz, the metrics' /readyz, `weft status` and weft_ready.
  const ready = () => readiness({ dataplane: () => (!opts.dataplane ? 'none' : dataplane && programmed ? dataplane.status() : 'starting'), ipam: () => ipam });
  const parts: MetricsParts = {};
  let metrics: Awaited<ReturnType<typeof startMetrics>> | undefined;
  try {
    // Right after the mesh port: /healthz answers while the rest starts (a probe must not kill a slow start).
    if (opts.metricsAddr !== undefined) metrics = await startMetrics({ addr: opts.metricsAddr, router, parts, dataplane: opts.dataplane, ready, log });
    ipam = await startAllocator(opts, router, realClock, log.child({ component: 'ipam' }));
    parts.ipam = ipam;
    if (opts.dataplane) {
      kernel = new NetlinkKernel({ log: log.child({ component: 'netlink' }) });
      const dp: Dataplane = new Dataplane({
        mesh: meshView(router),
        kernel,
        openProbeTransport: (bridgeIndex) => openProbeTransport({ bridgeIndex }),
        clock: realClock,
        log: log.child({ component: 'dataplane' }),
        dataDir: opts.dataDir,
        vni: C.VXLAN_VNI,
        port: opts.vxlanPort,
        mtu: opts.mtu,
        underlayHints: opts.peers.map((p) => p.replace(/:\d+$/, '')),
        overlayRange: opts.ipallocRange,
        probeIntervalMs: C.PROBE_INTERVAL_MS,
        probeFailAfterMs: C.PROBE_FAIL_AFTER_MS,
        probeIdleRate: C.PROBE_IDLE_RATE,
        probeBudget: C.PROBE_BUDGET,
        activityPollMs: C.PROBE_ACTIVITY_POLL_MS,
        activeMs: C.PROBE_ACTIVE_MS,
        pathSettleMs: C.PATH_SETTLE_MS,
        peerGraceMs: C.PEER_GRACE_MS,
        adoptMs: C.ADOPT_MS,
        refreshMs: C.BRIDGE_REFRESH_MS,
        ...(encryption ? { encryption } : {}),
        ...(metrics ? { metrics: metrics.metrics.sink } : {}),
        local: { announced: (): LocalEndpoint[] => eps.announced(), exposedCidrs: (): string[] => eps.exposedCidrs() },
      });
      dataplane = dp;
      const eps: Endpoints = new Endpoints({
        kernel,
        dataplane: dp,
        ipam: ipam && ipamAddresses(ipam),
        nat: new NftHostNat(),
        overlayRange: opts.ipallocRange,
        dataDir: opts.dataDir,
        clock: realClock,
        log: log.child({ component: 'endpoints' }),
        refreshMs: C.BRIDGE_REFRESH_MS,
        checkNetns: (p) => {
          const r = checkContainerNetns(p);
          return r.ok ? undefined : r.reason;
        },
        checkCidr: hostCidrProblem,
        inRange: inNetwork(opts.ipallocRange),
      });
      endpoints = eps;
      // The store is checked against the kernel before the data plane's first record goes out.
      await eps.load();
      await dp.start();
      await eps.start();
      parts.dataplane = dp;
      parts.control = dataplaneControl(dp, eps, router);
      programmed = true;
    }
    api = await startApiServer({
      control: router.control(),
      dataplane: parts.control,
      ipam,
      ...(dataplane && endpoints ? { cni: cniControl({ endpoints, dataplane, ipam, overlayRange: opts.ipallocRange, ready }) } : { ready }),
      addr: opts.httpAddr,
      log,
      onStop: stop,
    });
  } catch (err) {
    await endpoints?.stop();
    ipam?.stop();
    await dataplane?.stop();
    encryption?.stop();
    kernel?.close();
    await router.stop();
    await metrics?.server.close();
    throw err;
  }
  log.info({ api: api.address, peers: opts.peers, ...(metrics ? { metrics: metrics.server.address } : {}) }, 'weft is running');

  if (!stopped.signal.aborted) await new Promise<void>((resolve) => stopped.signal.addEventListener('abort', () => resolve(), { once: true }));
  signal.removeEventListener('abort', stop);
  log.info('shutting down');
  // The mesh port is released before the API goes quiet: `weft stop` returns when the API stops
  // answering, and an immediate `weft launch` must find port 6783 free.
  // The kernel state stays: containers keep talking while the router is down or restarting.
  await endpoints?.stop();
  ipam?.stop();
  await dataplane?.stop();
  encryption?.stop();
  kernel?.close();
  await router.stop();
  await metrics?.server.close();
  await api.close();
  log.flush();
}
