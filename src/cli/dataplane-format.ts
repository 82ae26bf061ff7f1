// Human-readable output of the data-plane reports: `weft status connections`, `weft status
// endpoints`, `weft ps`. Pure functions of the API's JSON.
import type { ConnectionStatus } from '../../mesh/status.js';
import type { DataplaneStatus, EndpointStatus } from '../../router/status.js';
import type { IpamStatusJson } from '../../ipam/status.js';
import { formatConnections, formatDuration, peerLabel, table } from './format.js';

/** Per peer: the data path, its MTU and why; then the control connections. */
export function formatPaths(dp: DataplaneStatus, control: readonly ConnectionStatus[]): string {
  const enc = dp.encryption;
  const rows = [['PEER', 'PATH', 'ADDRESS', 'MTU', 'RTT', 'REASON', ...(enc ? ['ENCRYPTION'] : [])]];
  for (const p of dp.peers) {
    const e = p.encryption;
    const crypt = !e ? [] : [e.cipher ? `${e.cipher} in ${e.spiIn} out ${e.spiOut}, key ${formatDuration(e.keyAgeMs ?? 0)} old, ${e.replayDrops} replays dropped${e.state === 'established' ? '' : ` (${e.state})`}` : e.state];
    rows.push([peerLabel(p.peer, p.nickname ?? ''), p.path, p.address ?? '-', String(p.mtu), p.rttMs === null ? '-' : `${p.rttMs}ms`, p.reason, ...crypt]);
  }
  let out = `data plane: bridge ${dp.bridge}, ${dp.vxlan} (VNI ${dp.vni}, UDP ${dp.port}), MTU ${dp.mtu}, underlay ${dp.addresses.join(', ') || 'unknown yet'}\n`;
  if (enc) {
    const clear = enc.cleartextDropped ? `${enc.cleartextDropped.inbound} in, ${enc.cleartextDropped.outbound} out` : 'unknown';
    out += `encryption: ESP, ${enc.engine === 'kernel' ? 'kernel engine' : `user-space engine (TUN ${enc.tun})`}; cleartext VXLAN dropped: ${clear}${enc.lastError ? `; error: ${enc.lastError}` : ''}\n`;
  }
  if (dp.relaying.length > 0) out += `relaying for: ${dp.relaying.join(', ')}\n`;
  if (dp.lastError) out += `last kernel error: ${dp.lastError}\n`;
  for (const c of dp.conflicts ?? []) out += `ADDRESS CONFLICT: ${c.ip} is in use on ${c.peers.join(' and ')}; detach one of the containers\n`;
  out += dp.peers.length === 0 ? '(no remote peers yet)\n' : table(rows);
  if (control.length > 0) out += `\ncontrol connections:\n${formatConnections(control)}`;
  return out;
}

export function formatEndpoints(eps: readonly EndpointStatus[]): string {
  const rows = [['PEER', 'WHERE', 'MAC', 'IPS']];
  for (const e of eps) rows.push([peerLabel(e.peer, e.nickname), e.local ? (e.container ?? 'local (bridge)') : 'remote', e.mac, e.ips.join(',') || '-']);
  return table(rows);
}

/** `weft ps`: the local endpoints, as `weave ps` lists containers. */
export function formatPs(eps: readonly EndpointStatus[]): string {
  return table(eps.filter((e) => e.local).map((e) => [e.container ?? '-', e.mac, e.ips.join(' ')]));
}

/** `weft status ipam`: the range, then each peer's share. */
export function formatIpam(s: IpamStatusJson): string {
  const out = `range ${s.range}: ${s.ready ? 'ready' : 'no ring yet'}${s.fenced ? ', FENCED (cannot reach a majority of the IPAM peers; no new allocations)' : ''}${s.waiting ? `, waiting for ${s.waiting}` : ''}, ${s.allocations} allocation${s.allocations === 1 ? '' : 's'} here\n`;
  const rows = [['PEER', 'OWNED', 'USED', 'FREE', 'REACHABLE', 'RECLAIM']];
  for (const p of s.peers) {
    const reclaim = p.reachable ? '-' : p.reclaimInMs === null ? (p.note ?? 'never') : `in ${formatDuration(p.reclaimInMs)}`;
    rows.push([peerLabel(p.name, p.nickname), String(p.owned), String(p.used), String(p.free), p.reachable ? 'yes' : 'no', reclaim]);
  }
  let tail = '';
  if (s.refused) tail += `refused a ring from another peer: ${s.refused}\n`;
  for (const c of s.conflicts ?? []) tail += `ADDRESS CONFLICT: ${c.ip} is used by ${c.holders.join(' and ')}; detach and re-attach one of the containers\n`;
  for (const h of s.held ?? []) tail += `held: ${h.count} address${h.count === 1 ? '' : 'es'} in our space for the containers of ${peerLabel(h.peer, h.nickname)}${h.reachable ? '' : ` (unreachable${h.note ? `: ${h.note}` : ''})`}\n`;
  for (const f of s.foreign ?? []) tail += `foreign: ${f.container} keeps ${f.ip}, now in the space of ${f.owner} (held for it there)\n`;
  // An older daemon's status.
  for (const l of s.lost ?? []) tail += `lost: ${l.container} ${l.ip} (its range now belongs to another peer)\n`;
  return out + table(rows) + tail;
}
