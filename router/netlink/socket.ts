// A netlink socket on the event loop: whole datagrams out, whole datagrams in, in arrival order.
// Message framing and meaning belong to the codec; this file only moves bytes.
import { WeftError } from '../../lib/errors.js';
import { loadNative, type WatchHandle } from '../../lib/native.js';

export interface NetlinkSocket {
  /** Sends one datagram (it may hold several netlink messages). Throws a NodeJS.ErrnoException. */
  send(datagram: Buffer): void;
  /** Registers the receiver: every datagram in arrival order; onError for receive errors (code 'ENOBUFS' = overflow, the socket stays usable). */
  receive(onDatagram: (d: Buffer) => void, onError: (err: NodeJS.ErrnoException) => void): void;
  /** Stops delivery and closes the socket; no callback runs afterwards. Safe to repeat. */
  close(): void;
}

export interface NetlinkSocketOptions {
  /** NETLINK_ROUTE = 0, … */
  protocol: number;
  /** Multicast groups to join (group numbers, e.g. RTNLGRP_LINK = 1). */
  groups?: number[];
  /** Network namespace path (/run/netns/NAME or /proc/PID/ns/net); default: the caller's. */
  netns?: string;
  /** Receive buffer bytes; default 4 MiB so event bursts rarely overflow. */
  rcvbuf?: number;
}

export const DEFAULT_NETLINK_RCVBUF = 4 << 20;
/**
 * The kernel caps a dump datagram at about 32 KiB (it grows to the reader's buffer up to that), and a
 * single message larger than that is rare; 64 KiB leaves room, and anything bigger is reported as
 * EMSGSIZE rather than delivered cut short.
 */
const RECV_BUFFER_BYTES = 64 << 10;
/** Datagrams read per readability wakeup before yielding to the event loop. */
const MAX_DATAGRAMS_PER_WAKEUP = 256;

export function openNetlinkSocket(opts: NetlinkSocketOptions): NetlinkSocket {
  const native = loadNative();
  const fd = native.openNetlink(opts.protocol, opts.groups ?? [], opts.netns ?? null, opts.rcvbuf ?? DEFAULT_NETLINK_RCVBUF);
  const buf = Buffer.allocUnsafe(RECV_BUFFER_BYTES);
  let closed = false;
  let watch: WatchHandle | undefined;

  const drain = (onDatagram: (d: Buffer) => void, onError: (err: NodeJS.ErrnoException) => void): void => {
    for (let i = 0; i < MAX_DATAGRAMS_PER_WAKEUP && !closed; i++) {
      let n: number;
      try {
        n = native.recv(fd, buf);
      } catch (err) {
        onError(err as NodeJS.ErrnoException);
        // ENOBUFS only reports lost messages; whatever is still queued is readable.
        if ((err as NodeJS.ErrnoException).code === 'ENOBUFS') continue;
        return;
      }
      if (n < 0) return;
      if (n > buf.length) {
        onError(truncated(n));
        continue;
      }
      onDatagram(Buffer.from(buf.subarray(0, n)));
    }
  };

  return {
    send(datagram) {
      if (closed) throw new WeftError('closed', 'netlink socket is closed');
      native.send(fd, datagram);
    },
    receive(onDatagram, onError) {
      if (closed) throw new WeftError('closed', 'netlink socket is closed');
      if (watch) throw new WeftError('usage', 'netlink socket already has a receiver');
      watch = native.watch(fd, () => drain(onDatagram, onError));
    },
    close() {
      if (closed) return;
      closed = true;
      if (watch) native.unwatch(watch);
      native.close(fd);
    },
  };
}

function truncated(length: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`netlink datagram of ${length} bytes exceeds the ${RECV_BUFFER_BYTES}-byte receive buffer`);
  err.code = 'EMSGSIZE';
  err.syscall = 'recv';
  return err;
}
