// Address syntax shared by the CLI and the local API: peer targets ("host[:port]") and the
// API's own listen address ("host:port"). Parsers return a reason instead of throwing, so each
// caller words the error for its audience (a 400 body, a usage message). IPv4 literals are read
// by the one strict parser, lib/ip.ts.
import { isIPv6 } from 'node:net';
import { parseIpv4 } from '../../lib/ip.js';
import type { Result } from '../../lib/result.js';

export interface HostPort {
  /** IPv4 literal, IPv6 literal without brackets, or a hostname. */
  host: string;
  /** undefined when the text had no port. */
  port: number | undefined;
}

const HOSTNAME_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;

/** A hostname per RFC 1123, lenient about underscores (container names use them). */
export function isHostname(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const labels = (text.endsWith('.') ? text.slice(0, -1) : text).split('.');
  if (!labels.every((l) => HOSTNAME_LABEL.test(l))) return false;
  // "1.2.3.256" passes the label rule but is a mistyped address, not a name.
  return !/^[0-9]+$/.test(labels[labels.length - 1]!);
}

/** Parses a port number written in decimal; 0 only when allowZero (the API's "any port"). */
export function parsePort(text: string, allowZero = false): Result<number> {
  if (!/^[0-9]{1,5}$/.test(text)) return { ok: false, reason: `port "${text}" is not a number from 1 to 65535` };
  const port = Number(text);
  if (port > 65535 || (port === 0 && !allowZero)) return { ok: false, reason: `port ${port} is out of range (1–65535)` };
  return { ok: true, value: port };
}

function checkHost(host: string): string | undefined {
  if (host.length === 0) return 'the host is missing';
  if (parseIpv4(host).ok || isHostname(host)) return undefined;
  if (host.includes(':')) return `"${host}" is not an IPv6 address`;
  return `"${host}" is neither an IP address nor a hostname`;
}

/**
 * Parses "host[:port]": IPv4, hostname, "[IPv6]" or "[IPv6]:port", and also a bare IPv6 literal
 * (which cannot carry a port), as mesh accepts.
 */
export function parseHostPort(input: string, opts: { requirePort?: boolean; allowPortZero?: boolean } = {}): Result<HostPort> {
  const text = input.trim();
  if (text.length === 0) return { ok: false, reason: 'the address is empty' };
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { ok: false, reason: `"${text}" opens "[" without closing it` };
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!isIPv6(host)) return { ok: false, reason: `"${host}" in brackets is not an IPv6 address` };
    if (rest !== '') {
      if (!rest.startsWith(':')) return { ok: false, reason: `unexpected "${rest}" after "]"` };
      portText = rest.slice(1);
    }
  } else if (isIPv6(text)) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') !== colon) {
      return { ok: false, reason: `"${text}" is not an address; write IPv6 with a port as [addr]:port` };
    }
    host = colon >= 0 ? text.slice(0, colon) : text;
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
    const bad = checkHost(host);
    if (bad !== undefined) return { ok: false, reason: bad };
  }
  let port: number | undefined;
  if (portText !== undefined) {
    const p = parsePort(portText, opts.allowPortZero);
    if (!p.ok) return p;
    port = p.value;
  } else if (opts.requirePort) {
    return { ok: false, reason: `"${text}" has no port` };
  }
  return { ok: true, value: { host, port } };
}

/** "host", "host:port", "[v6]" or "[v6]:port": the canonical text of a parsed address. */
export function formatHostPort(a: HostPort): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return a.port === undefined ? host : `${host}:${a.port}`;
}

/**
 * Validates connection targets and returns them in canonical form (trimmed, IPv6 bracketed),
 * or the first problem, naming the offending entry.
 */
export function parsePeerAddresses(inputs: readonly string[]): Result<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const r = parseHostPort(input);
    if (!r.ok) return { ok: false, reason: `peer address "${input}" is not host[:port]: ${r.reason}` };
    out.push(formatHostPort(r.value));
  }
  return { ok: true, value: out };
}
