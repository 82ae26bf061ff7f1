// Loader and types for weft's N-API addon (native/weft_native.c): kernel socket primitives and
// batched AEAD with no policy. Its users are the socket wrappers (router/netlink/socket.ts,
// router/packet-socket.ts, router/tun.ts) and the AEAD binding (crypto/esp-native.ts).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { WeftError } from './errors.js';
import { projectRoot } from './paths.js';

/** Opaque readability-watch handle from watch(). */
export type WatchHandle = object;

/**
 * The addon's functions. Failing calls throw an Error with `.code` = errno name ('EPERM', 'ENOBUFS', …),
 * `.errno` = the number and `.syscall`; the message is "<syscall> failed: <strerror>".
 */
export interface NativeAddon {
  /**
   * A non-blocking, close-on-exec AF_NETLINK socket bound with a kernel-assigned port id, joined to
   * `groups`, with the receive buffer set to `rcvbuf` (forced when privileged) and extended acks and
   * strict dump checking enabled. With `netnsPath` the socket is created in that namespace; the calling
   * thread is always returned to its own namespace.
   */
  openNetlink(protocol: number, groups: number[], netnsPath: string | null, rcvbuf: number): number;
  /** A non-blocking AF_PACKET SOCK_RAW socket (frames include the Ethernet header) bound to ifindex and ethertype. */
  openPacket(ifindex: number, ethertype: number, netnsPath: string | null): number;
  /** Sends one datagram (netlink: to the kernel); returns the bytes sent. */
  send(fd: number, buf: Buffer): number;
  /** Reads one datagram into buf: its full length (> buf.length means truncated), or -1 when none is queued. */
  recv(fd: number, buf: Buffer): number;
  close(fd: number): void;
  /** Calls callback (no arguments) whenever fd is readable; keeps the event loop alive until unwatch(). */
  watch(fd: number, callback: () => void): WatchHandle;
  /** Stops the watch: no callback runs afterwards. Safe to repeat. */
  unwatch(handle: WatchHandle): void;
  /**
   * Keepalive probes after idleS of silence, every intervalS; the connection fails once nothing
   * sent was acknowledged for userTimeoutMs. Absent in an addon built before it existed.
   */
  setTcpLiveness?(fd: number, idleS: number, intervalS: number, count: number, userTimeoutMs: number): void;
}

export const NATIVE_ADDON_PATH = resolve(projectRoot(import.meta.url), 'native/build/weft_native.node');

let addon: NativeAddon | undefined;

/** The loaded addon; throws WeftError('io') when it has not been built. */
export function loadNative(): NativeAddon {
  if (addon) return addon;
  if (!existsSync(NATIVE_ADDON_PATH)) throw new WeftError('io', 'weft native addon not built: run make build');
  try {
    addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon;
  } catch (err) {
    throw new WeftError('io', `weft native addon at ${NATIVE_ADDON_PATH} failed to load: run make build`, { cause: err });
  }
  return addon;
}
