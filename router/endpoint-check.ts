// CNI CHECK's comparison (router/endpoints.ts `check`): an attachment as weft made it against what
// the bridge and the container's namespace really have. Pure: the caller reads the kernel.
import type { ContainerInterface } from './kernel.js';
import type { AttachedEndpoint } from './endpoint-store.js';
import { BRIDGE } from './forwarding.js';
import { routesFor } from './endpoint-keys.js';

export interface Observed {
  /** The namespace the caller names. */
  netns: string;
  /** Whether the attachment's host veth is a port of the bridge. */
  onBridge: boolean;
  /** The interface inside netns, if there is one by the attachment's name. */
  inside: ContainerInterface | undefined;
}

/** Every difference, one phrase each; [] when they agree. */
export function attachmentProblems(ep: AttachedEndpoint, seen: Observed, expected: { mtu: number; overlayRange: string }): string[] {
  const problems: string[] = [];
  if (ep.netns !== seen.netns) problems.push(`attached in ${ep.netns || 'an unknown namespace'}, not ${seen.netns}`);
  if (!seen.onBridge) problems.push(`its veth ${ep.hostIfname} is not on bridge ${BRIDGE}`);
  const inside = seen.inside;
  if (!inside) return [...problems, `${seen.netns} has no interface ${ep.ifname}`];
  if (ep.mac && inside.mac !== ep.mac) problems.push(`${ep.ifname} has MAC ${inside.mac}, not ${ep.mac}`);
  if (inside.mtu !== expected.mtu) problems.push(`${ep.ifname} has MTU ${inside.mtu}, not ${expected.mtu}`);
  for (const c of ep.cidrs) if (!inside.addresses.includes(c)) problems.push(`${ep.ifname} lacks address ${c}`);
  const has = (dst: string, gw?: string): boolean => inside.routes.some((r) => r.dst === dst && r.gw === gw);
  for (const r of routesFor(ep.cidrs, expected.overlayRange)) if (!has(r)) problems.push(`no route to ${r} on ${ep.ifname}`);
  if (ep.gateway && !has('0.0.0.0/0', ep.gateway)) problems.push(`no default route via ${ep.gateway}`);
  return problems;
}
