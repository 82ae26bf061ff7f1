// The router's settings, as the CLI parses them and the composition root consumes them.
import * as C from '../../lib/constants.js';
import type { EspCipher } from '../../crypto/esp-sa.js';

/** How the IPAM ring starts (docs/ipam.md). */
export type IpallocInit = { mode: 'consensus'; peers?: number } | { mode: 'seed'; seeds: string[] };

export interface DaemonOptions {
  /** Mesh listen address (TCP). '' = all addresses of this namespace. */
  host: string;
  port: number;
  /** Local HTTP API, "host:port". */
  httpAddr: string;
  /** Metrics, /healthz and /readyz, "host:port"; undefined = no metrics listener. */
  metricsAddr?: string;
  dataDir: string;
  /** Empty or undefined = no encryption. */
  password?: Buffer;
  /** Peer name override (MAC form); otherwise the one persisted in dataDir. */
  name?: string;
  nickname: string;
  connLimit: number;
  /**
   * How many connections discovery aims for; 0 = every peer learnt of (Weave's full mesh).
   * undefined: MESH_DEGREE without encryption, 0 with it (see meshDegree).
   */
  degree?: number;
  /** Initial connection targets, "host[:port]". */
  peers: string[];
  /** Dial peers learnt through topology gossip. */
  discovery: boolean;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** The kernel data plane (bridge, VXLAN); false = mesh only. */
  dataplane: boolean;
  vxlanPort: number;
  /** Overlay MTU; undefined = from the underlay. */
  mtu?: number;
  /** The overlay range (containers get a route to it, and addresses from it). */
  ipallocRange: string;
  /** undefined = consensus with the quorum from the number of launch peers. */
  ipallocInit?: IpallocInit;
  /** Space of a peer unreachable this long is reclaimed. */
  ipallocReclaimAfterMs: number;
  /** Append every ESP SA's keys here (debugging; off by default). */
  espKeylog?: string;
  /** ESP ciphers, preferred first. */
  espCiphers: EspCipher[];
  /** auto = the kernel's xfrm when it has ESP for one of espCiphers, else user space. */
  espEngine: 'auto' | 'kernel' | 'user';
  /** Write logs here instead of stdout (set by `weft launch`). */
  logFile?: string;
}

/** The discovery degree these options give (DaemonOptions.degree). */
export function meshDegree(o: Pick<DaemonOptions, 'degree' | 'password' | 'dataplane'>): number {
  if (o.degree !== undefined) return o.degree;
  return o.password !== undefined && o.password.length > 0 && o.dataplane ? 0 : C.MESH_DEGREE;
}

export function defaultOptions(): DaemonOptions {
  return {
    host: '',
    port: C.MESH_PORT,
    httpAddr: C.HTTP_ADDR,
    dataDir: C.DATA_DIR,
    nickname: '',
    connLimit: C.CONN_LIMIT,
    peers: [],
    discovery: true,
    logLevel: 'info',
    dataplane: true,
    vxlanPort: C.VXLAN_PORT,
    ipallocRange: C.IPALLOC_RANGE,
    ipallocReclaimAfterMs: C.IPALLOC_RECLAIM_AFTER_MS,
    espCiphers: [...C.ESP_CIPHERS],
    espEngine: 'auto',
  };
}

/**
 * The ports these options would make two sockets share, each as a sentence saying how to fix it
 * ([] when none). The mesh listens on TCP `port`; with a password the data plane's ESP takes UDP
 * `port` too (docs/encryption.md), and VXLAN takes UDP `vxlanPort`; the API and the metrics take TCP
 * on their addresses. A clash would not fail at start: the data plane would retry EADDRINUSE forever.
 */
export function portClashes(o: DaemonOptions, httpHost: string, httpPort: number, metrics?: { host: string; port: number }): string[] {
  const out: string[] = [];
  if (o.dataplane && o.vxlanPort === o.port) {
    out.push(
      o.password !== undefined
        ? `--vxlan-port ${o.vxlanPort} is the mesh port: with a password, encrypted traffic (ESP) uses UDP ${o.port}, so VXLAN cannot — leave --vxlan-port out for ${C.VXLAN_PORT}, or move the mesh with --port`
        : `--vxlan-port ${o.vxlanPort} is the mesh port: UDP ${o.port} is where encrypted traffic (ESP) goes once a password is set, so VXLAN must use another — leave --vxlan-port out for ${C.VXLAN_PORT}, or move the mesh with --port`,
    );
  }
  const wildcard = (h: string): boolean => h === '' || h === '0.0.0.0' || h === '::';
  if (httpPort === o.port && (wildcard(o.host) || wildcard(httpHost) || o.host === httpHost)) {
    out.push(`--http-addr port ${httpPort} is the mesh port: both are TCP on ${o.host === '' ? 'every address' : o.host} — give the API another port (default ${C.HTTP_ADDR}), or move the mesh with --port`);
  }
  if (metrics && metrics.port !== 0) {
    if (metrics.port === o.port && (wildcard(o.host) || wildcard(metrics.host) || o.host === metrics.host)) {
      out.push(`--metrics-addr port ${metrics.port} is the mesh port: both are TCP on ${o.host === '' ? 'every address' : o.host} — give metrics another port (default ${C.METRICS_PORT}), or move the mesh with --port`);
    }
    if (metrics.port === httpPort && (wildcard(httpHost) || wildcard(metrics.host) || httpHost === metrics.host)) {
      out.push(`--metrics-addr ${metrics.host}:${metrics.port} is the HTTP API's port — give metrics another port (default ${C.METRICS_PORT}), or --metrics-addr off`);
    }
  }
  return out;
}
