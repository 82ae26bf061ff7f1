// Who may use the local API: programs on this host that talk to it on purpose (the CLI, the CNI
// plugin and its native forwarder, scripts with curl), never a web page that a browser on this
// host happens to show. A page can reach 127.0.0.1 two ways, and each leaves a mark a CLI never
// leaves:
//   - a cross-site request (form post, fetch no-cors): the browser adds Origin (and
//     Sec-Fetch-Site: cross-site), and without a CORS preflight it cannot send
//     Content-Type: application/json — so POSTs must carry that type (body.ts, 415);
//   - DNS rebinding (evil.example first resolves to the attacker, then to 127.0.0.1): the page
//     is then "same-origin", but the browser still sends Host: evil.example:6784.
// So a request must name the API's own address in Host and carry no Origin. tailscaled's
// LocalAPI applies the same rules.
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { formatHostPort, parseHostPort } from './address.js';

/** The Host values that name the API bound at host:port (lower case). */
export function ownHostNames(host: string, port: number): Set<string> {
  const names = new Set<string>();
  const add = (h: string): void => {
    names.add(formatHostPort({ host: h, port }).toLowerCase());
    // Clients leave out the port when it is HTTP's default.
    if (port === 80) names.add(formatHostPort({ host: h, port: undefined }).toLowerCase());
  };
  add(host);
  const loopbackV4 = /^127\./.test(host);
  if (loopbackV4 || host === '::1' || host.toLowerCase() === 'localhost') add('localhost');
  if (host.toLowerCase() === 'localhost') {
    add('127.0.0.1');
    add('::1');
  }
  return names;
}

/**
 * Why this request does not come from a local program, or undefined if it may be served.
 * `wildcard` (the API bound to 0.0.0.0 or ::) also accepts any IP literal with the port: an IP
 * literal cannot be rebound, only a name can.
 */
export function foreignRequest(headers: IncomingHttpHeaders, own: Set<string>, port: number, wildcard: boolean): string | undefined {
  if (headers.origin !== undefined) {
    return `requests with an Origin header (${headers.origin}) are refused: a web page cannot use weft's local API; use the weft CLI`;
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'none' && site !== 'same-origin') {
    return `requests a browser marks Sec-Fetch-Site: ${site} are refused: a web page cannot use weft's local API; use the weft CLI`;
  }
  const host = headers.host;
  if (host === undefined || host === '') return `a request must name the API's address in its Host header (${[...own][0]})`;
  if (own.has(host.toLowerCase())) return undefined;
  if (wildcard) {
    const p = parseHostPort(host);
    if (p.ok && isIP(p.value.host) !== 0 && (p.value.port ?? 80) === port) return undefined;
  }
  return `Host "${host}" is not this API's address (${[...own].join(', ')}): requests for other names are refused (DNS rebinding); connect to the address weft listens on`;
}
