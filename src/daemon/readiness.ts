// Whether the router is ready: the one answer behind the local API's /readyz (the CNI plugin's
// STATUS), the metrics listener's /readyz (a DaemonSet's readiness probe), `weft status` and the
// weft_ready gauge. Ready = the mesh listens, the data plane has been programmed and its last
// kernel update succeeded, and IPAM can give out addresses (or is not used).
import type { DataplaneStatus } from '../../router/status.js';
import type { IpamControl } from '../../ipam/status.js';
import { WAITING_FOR_FIRST_ALLOCATION } from '../../ipam/allocator.js';
import type { ReadyResponse } from '../api/protocol.js';

export interface ReadinessSources {
  /** The mesh port is bound (undefined: not asked, taken as listening). */
  meshListening?: () => boolean;
  /**
   * The data plane: 'none' with --no-dataplane (nothing can be attached: never ready), 'starting'
   * until its first programming of the kernel is done, then its status.
   */
  dataplane: () => 'none' | 'starting' | Pick<DataplaneStatus, 'lastError'>;
  /** Undefined: the router has no address management (every attach names its address). */
  ipam: (() => Pick<IpamControl, 'status'> | undefined) | undefined;
}

/** Why IPAM cannot give out an address now; undefined when it can (or is not used). */
export function ipamNotReady(ipam: Pick<IpamControl, 'status'> | undefined): string | undefined {
  const s = ipam?.status();
  if (!s) return undefined;
  // Before any allocation the ring is formed by the first one: an attach is what starts it.
  if (!s.ready && s.waiting !== WAITING_FOR_FIRST_ALLOCATION) return `the address ring is not formed yet (${s.waiting ?? 'waiting for the other peers'})`;
  if (s.fenced) return 'this host cannot reach a majority of the address ring\'s owners, so it gives out no new addresses until it can';
  if (s.waiting && s.waiting !== WAITING_FOR_FIRST_ALLOCATION) return `address allocation is waiting: ${s.waiting}`;
  return undefined;
}

export function readiness(s: ReadinessSources): ReadyResponse {
  const reasons: string[] = [];
  if (s.meshListening && !s.meshListening()) reasons.push('the mesh is not listening yet');
  const dp = s.dataplane();
  if (dp === 'none') reasons.push('the router runs without a data plane (--no-dataplane): it cannot attach containers');
  else if (dp === 'starting') reasons.push('the data plane is starting: the bridge and VXLAN device are not programmed yet');
  else if (dp.lastError) reasons.push(`the data plane's last kernel update failed: ${dp.lastError}`);
  const ipam = ipamNotReady(s.ipam?.());
  if (ipam) reasons.push(ipam);
  return { ready: reasons.length === 0, reasons };
}
