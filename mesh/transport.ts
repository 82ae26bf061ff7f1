// The stream-transport seam: TCP for the daemon, an in-memory network for tests, so the same
// mesh scenario runs either way.
import net from 'node:net';
import { Duplex } from 'node:stream';
import { LINK_PROBE_INTERVAL_MS } from '../lib/constants.js';
import { WeftError } from '../lib/errors.js';
import { loadNative } from '../lib/native.js';
import { LISTEN_BACKLOG } from './limits.js';

export interface Conn {
  /** The byte stream; `destroy()` closes it. */
  readonly stream: Duplex;
  /** "ip:port" of our end. */
  readonly localAddr: string;
  /** "ip:port" of the remote end. */
  readonly remoteAddr: string;
  /**
   * Asks the kernel to watch the link: probes while it is idle, and the connection fails once
   * nothing sent was acknowledged for deadlineMs. True if it will; absent or false, the
   * program's own heartbeats must do it (docs/mesh-protocol.md, "Liveness").
   */
  watchByKernel?(deadlineMs: number): boolean;
}

export interface Listener {
  /** The bound port (useful when asked for port 0). */
  readonly port: number;
  /** Stops accepting; existing connections stay up. Safe to call twice. */
  close(): Promise<void>;
}

export interface Transport {
  /** Accepts connections on host:port and hands each one to onConn. Rejects if the port is taken. */
  listen(host: string, port: number, onConn: (conn: Conn) => void): Promise<Listener>;
  /** Connects to host:port; rejects with the OS reason (ECONNREFUSED, …) or on abort. */
  dial(host: string, port: number, opts: { signal?: AbortSignal; timeoutMs?: number; localHost?: string }): Promise<Conn>;
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits "host:port", "[v6]:port" or "host" (port = defaultPort). Undefined if malformed. */
export function splitHostPort(addr: string, defaultPort: number): { host: string; port: number } | undefined {
  let host = addr.trim();
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (v6) {
    host = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else {
    const i = host.lastIndexOf(':');
    if (i >= 0) {
      if (host.indexOf(':') !== i) return undefined; // bare IPv6 without brackets is ambiguous
      const p = host.slice(i + 1);
      if (!/^\d+$/.test(p)) return undefined;
      port = Number(p);
      host = host.slice(0, i);
    }
  }
  if (host === '' || !/^[A-Za-z0-9.\-:_%]+$/.test(host)) return undefined;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/**
 * TCP keepalive every LINK_PROBE_INTERVAL_MS after as much silence, and TCP_USER_TIMEOUT: a peer whose host
 * died or whose link drops packets is noticed in deadlineMs by the kernel, which answers the other
 * side's probes too, so an idle connection costs the two programs nothing.
 */
function kernelWatch(socket: net.Socket, deadlineMs: number): boolean {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return false;
  try {
    const native = loadNative();
    if (typeof native.setTcpLiveness !== 'function') return false;
    const probeS = LINK_PROBE_INTERVAL_MS / 1000;
    native.setTcpLiveness(fd, probeS, probeS, Math.max(1, Math.ceil(deadlineMs / LINK_PROBE_INTERVAL_MS)), deadlineMs);
    return true;
  } catch {
    return false;
  }
}

function tcpConn(socket: net.Socket): Conn {
  return {
    stream: socket,
    localAddr: addrOf(socket.localAddress, socket.localPort),
    remoteAddr: addrOf(socket.remoteAddress, socket.remotePort),
    watchByKernel: (deadlineMs) => kernelWatch(socket, deadlineMs),
  };
}

function addrOf(address: string | undefined, port: number | undefined): string {
  return joinHostPort((address ?? '?').replace(/^::ffff:/, ''), port ?? 0);
}

export const tcpTransport: Transport = {
  listen(host, port, onConn) {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        // A reset before anyone reads the socket must not become an uncaught 'error'.
        socket.on('error', () => undefined);
        socket.setNoDelay(true);
        onConn(tcpConn(socket));
      });
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = joinHostPort(host || '0.0.0.0', port);
        reject(
          err.code === 'EADDRINUSE'
            ? new WeftError('io', `port ${where} is in use — another router (or program) holds it; stop it or pass --port`, { cause: err })
            : err.code === 'EADDRNOTAVAIL'
              ? new WeftError('io', `cannot listen on ${where}: the address is not on this host — check --host`, { cause: err })
              : new WeftError('io', `cannot listen on ${where}: ${err.message}`, { cause: err }),
        );
      });
      // A deep accept queue (the kernel caps it at net.core.somaxconn): under a connection flood
      // a full queue drops an honest peer's SYN, which then waits out TCP's 1 s, 3 s, 7 s
      // retransmissions; queued, it waits only for the router to take the flood off the queue.
      server.listen({ host: host || undefined, port, backlog: LISTEN_BACKLOG }, () => {
        server.removeAllListeners('error');
        server.on('error', () => undefined);
        let closed = false;
        resolve({
          port: (server.address() as net.AddressInfo).port,
          close: () =>
            closed
              ? Promise.resolve()
              : new Promise<void>((r) => {
                  closed = true;
                  server.close(() => r());
                }),
        });
      });
    });
  },

  dial(host, port, opts) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, localAddress: opts.localHost });
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: Error): void => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onAbort = (): void => fail(new WeftError('closed', 'dial aborted'));
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        socket.removeAllListeners('connect');
      };
      if (opts.timeoutMs) timer = setTimeout(() => fail(new WeftError('timeout', 'connection timed out')), opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (err: NodeJS.ErrnoException) => fail(new WeftError('io', describeDialError(err), { cause: err })));
      socket.once('connect', () => {
        cleanup();
        socket.setNoDelay(true);
        socket.on('error', () => undefined); // errors surface as 'close' to the reader
        resolve(tcpConn(socket));
      });
    });
  },
};

function describeDialError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ENOTFOUND':
      return 'host not found';
    default:
      return err.message;
  }
}
