// Human-readable `weft status` output, laid out as Weave's `weave status` is, so operators
// recognise it. Pure functions of the API's JSON.
import type { ConnectionStatus, PeerStatus, RouterStatus, TargetStatus } from '../../mesh/status.js';
import type { ReadyResponse } from '../api/protocol.js';

/** The summary block of `weft status`. */
export function formatStatus(s: RouterStatus): string {
  const c = s.connections;
  const counts: [number, string][] = [
    [c.established, 'established'],
    [c.pending, 'pending'],
    [c.failed, 'failed'],
  ];
  const total = counts.reduce((n, [k]) => n + k, 0);
  const detail = counts.filter(([k]) => k > 0).map(([k, what]) => `${k} ${what}`).join(', ');
  const line = (label: string, value: string): string => `${`${label}:`.padStart(16)} ${value}\n`;
  // Known peers this router has no route to: shown only when there are any.
  const unreachable = Math.max(0, s.peers - 1 - s.reachable);
  return (
    line('Version', s.version) +
    '\n' +
    line('Service', 'router') +
    line('Protocol', `${s.protocol} ${s.protocolVersion}`) +
    line('Name', peerLabel(s.name, s.nickname)) +
    line('Encryption', s.encryption ? 'enabled' : 'disabled') +
    line('PeerDiscovery', s.peerDiscovery ? 'enabled' : 'disabled') +
    line('Targets', String(s.targets.length)) +
    line('Connections', detail === '' ? String(total) : `${total} (${detail})`) +
    line('Peers', unreachable > 0 ? `${s.peers} (${unreachable} unreachable)` : String(s.peers)) +
    line('TrustedSubnets', 'none')
  );
}

/** The readiness line under `weft status` (the same answer as GET /readyz): "yes", or "no" and why. */
export function formatReadiness(r: ReadyResponse): string {
  const line = (label: string, value: string): string => `${`${label}:`.padStart(16)} ${value}\n`;
  if (r.ready) return line('Ready', 'yes');
  return line('Ready', `no — ${r.reasons[0] ?? 'no reason given'}`) + r.reasons.slice(1).map((x) => line('', `   ${x}`)).join('');
}

/** `weft status peers`: each peer (this one first), then its connections as it reports them. */
export function formatPeers(peers: readonly PeerStatus[]): string {
  const sorted = [...peers].sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name));
  const blocks = sorted.map((p) => ({
    head: peerLabel(p.name, p.nickname),
    rows: p.connections.map((c) => [
      c.outbound ? '->' : '<-',
      c.address,
      peerLabel(c.name, c.nickname),
      c.established ? 'established' : 'pending',
    ]),
  }));
  const widths = columnWidths(blocks.flatMap((b) => b.rows));
  return blocks.map((b) => `${b.head}\n${b.rows.map((r) => `   ${alignRow(r, widths)}\n`).join('')}`).join('');
}

/** `weft status connections`: direction, address, state, encryption, peer, info. */
export function formatConnections(conns: readonly ConnectionStatus[]): string {
  const rows = conns.map((c) => [
    c.outbound ? '->' : '<-',
    c.address,
    c.state,
    c.encrypted ? 'encrypted' : 'unencrypted',
    c.peer === null ? '-' : peerLabel(c.peer, c.nickname ?? ''),
    c.info,
  ]);
  return table(rows);
}

/** `weft status targets`: the addresses weft keeps connecting to, and how that goes. */
export function formatTargets(targets: readonly TargetStatus[]): string {
  const rows = targets.map((t) => {
    const notes: string[] = [];
    if (t.retryInMs !== null) notes.push(`retry in ${formatDuration(t.retryInMs)}`);
    if (t.lastError !== null) notes.push(`last error: ${t.lastError}`);
    return [t.address, t.state, notes.join('; ')];
  });
  return table(rows);
}

export function peerLabel(name: string, nickname: string): string {
  return nickname === '' ? name : `${name}(${nickname})`;
}

/** 950 → "<1s", 42_000 → "42s", 125_000 → "2m05s", 3_720_000 → "1h02m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return '<1s';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function table(rows: string[][]): string {
  const widths = columnWidths(rows);
  return rows.map((r) => `${alignRow(r, widths)}\n`).join('');
}

function columnWidths(rows: string[][]): number[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return widths;
}

function alignRow(row: string[], widths: number[]): string {
  return row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
}
