// TUN devices and batched UDP for the user-space ESP engine: whole IPv4 packets in and out of the
// kernel, many per call, in one reusable slab with headroom in front of every packet.
//
//   slab: | slot 0: offset … packet 0 … | slot 1: offset … packet 1 … | …     lengths[i] = its length
//
// The native side (native/weft_native.c) does only the syscalls (open + TUNSETIFF, read/write loops,
// sendmmsg/recvmmsg); what to read, where to send and what to drop is decided here and above.
import { WeftError } from '../lib/errors.js';
import { loadNative, type NativeAddon, type WatchHandle } from '../lib/native.js';

/** The TUN and batched-UDP primitives of the addon. Errors as in NativeAddon (`.code` = errno name). */
export interface TunAddon {
  /** Opens (creating if needed) TUN `name` with IFF_TUN | IFF_NO_PI, non-blocking, in netnsPath's namespace. */
  openTun(name: string, netnsPath: string | null, opts: { persist?: boolean; multiQueue?: boolean }): number;
  setTunPersist(fd: number, on: boolean): void;
  /** Reads packets into consecutive slots until EAGAIN or the batch is full; returns how many. */
  readBatch(fd: number, slab: Buffer, slotSize: number, offset: number, lengths: Int32Array): number;
  /** Writes `count` packets; rejected ones get lengths[i] = -errno; a result < count means EAGAIN at that index. */
  writeBatch(fd: number, slab: Buffer, slotSize: number, offset: number, lengths: Int32Array, count: number): number;
  /** UDP_ENCAP (2 = ESP in UDP): the kernel's xfrm takes the ESP datagrams arriving on the socket. */
  setUdpEncap(fd: number, type: number): void;
  /** SO_MARK (CAP_NET_ADMIN). */
  setMark(fd: number, mark: number): void;
  /** A non-blocking UDP socket bound to address:port with send/receive buffers of bufferBytes. */
  openUdp(address: string, port: number, netnsPath: string | null, bufferBytes: number): number;
  /**
   * sendmmsg: datagram i to addrs[i]:port; rejected ones get lengths[i] = -errno; a result < count
   * means EAGAIN. With gso, runs to one address with one length leave as UDP_SEGMENT messages.
   */
  sendBatch(fd: number, slab: Buffer, slotSize: number, offset: number, lengths: Int32Array, count: number, addrs: Uint32Array, port: number, gso?: boolean): number;
  /** recvmmsg without waiting: count received, sources in addrs/ports; a truncated one has lengths[i] = -EMSGSIZE. */
  recvBatch(fd: number, slab: Buffer, slotSize: number, offset: number, lengths: Int32Array, addrs: Uint32Array, ports: Uint32Array): number;
}

export function loadTunAddon(): NativeAddon & TunAddon {
  const native = loadNative() as NativeAddon & Partial<TunAddon>;
  if (typeof native.openTun !== 'function') throw new WeftError('io', 'the weft native addon predates TUN support: run make build');
  return native as NativeAddon & TunAddon;
}

/** Enough for a 1500-byte underlay packet, ESP growth and headroom; a power of two keeps slots aligned. */
export const DEFAULT_SLOT_BYTES = 2048;
export const DEFAULT_BATCH = 64;
/** The addon moves at most this many packets per call. */
export const MAX_BATCH = 256;

/** A reusable batch of packets: one slab, fixed-size slots, `offset` bytes of headroom in each. */
export class PacketBatch {
  readonly slab: Buffer;
  readonly lengths: Int32Array;
  /** Valid packets after a read/receive. */
  count = 0;
  /** Source address (host-order IPv4) and port of each received datagram; destination of each sent one. */
  readonly addrs: Uint32Array;
  readonly ports: Uint32Array;

  constructor(
    readonly capacity = DEFAULT_BATCH,
    readonly slotSize = DEFAULT_SLOT_BYTES,
    readonly offset = 0,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_BATCH) throw new RangeError(`batch capacity must be 1..${MAX_BATCH}`);
    if (!Number.isInteger(offset) || offset < 0 || offset >= slotSize) throw new RangeError('offset must lie inside a slot');
    this.slab = Buffer.alloc(capacity * slotSize);
    this.lengths = new Int32Array(capacity);
    this.addrs = new Uint32Array(capacity);
    this.ports = new Uint32Array(capacity);
  }

  /** Where slot i starts in the slab (its headroom included). */
  slotStart(i: number): number {
    return i * this.slotSize;
  }

  /** Packet i as a view (no copy) of lengths[i] bytes at `offset` in its slot; empty if it was rejected. */
  packet(i: number, offset = this.offset): Buffer {
    const start = i * this.slotSize + offset;
    return this.slab.subarray(start, start + Math.max(0, this.lengths[i]!));
  }

  /** The whole slot i, headroom included, for building a packet in place. */
  slot(i: number): Buffer {
    return this.slab.subarray(i * this.slotSize, (i + 1) * this.slotSize);
  }
}

/** A TUN device's queue as weft uses it: whole IPv4 packets, batched, readiness on the event loop. */
export interface TunDevice {
  readonly name: string;
  /** Fills `batch` (from slot 0, each packet at `offset`, default batch.offset) with queued packets; returns batch.count. Never waits. */
  read(batch: PacketBatch, offset?: number): number;
  /**
   * Writes batch packets 0..count-1 to the kernel, which routes them as if received on the device.
   * Returns how many it took; rejected ones are counted in the result and marked lengths[i] < 0.
   */
  write(batch: PacketBatch, count: number, offset?: number): number;
  /** Calls onReadable whenever packets are queued, until close(). One listener. */
  onReadable(onReadable: () => void): void;
  /**
   * Closes this queue. A persistent device stays (with no reader it drops what is routed to it);
   * with `{ remove: true }` persistence is cleared first, so the device disappears with its last fd.
   */
  close(opts?: { remove?: boolean }): void;
}

export interface TunOptions {
  name: string;
  /** /run/netns/NAME or /proc/PID/ns/net; default: the caller's namespace. */
  netns?: string;
  /** Keep the device (and the routes through it) after the process exits. */
  persist?: boolean;
  multiQueue?: boolean;
}

export function openTun(opts: TunOptions): TunDevice {
  const native = loadTunAddon();
  const fd = native.openTun(opts.name, opts.netns ?? null, { persist: opts.persist ?? false, multiQueue: opts.multiQueue ?? false });
  let closed = false;
  let watch: WatchHandle | undefined;
  const live = (): void => {
    if (closed) throw new WeftError('closed', `TUN ${opts.name} is closed`);
  };
  return {
    name: opts.name,
    read(batch, offset = batch.offset) {
      live();
      batch.count = native.readBatch(fd, batch.slab, batch.slotSize, offset, batch.lengths);
      return batch.count;
    },
    write(batch, count, offset = batch.offset) {
      live();
      return native.writeBatch(fd, batch.slab, batch.slotSize, offset, batch.lengths, count);
    },
    onReadable(cb) {
      live();
      if (watch) throw new WeftError('usage', `TUN ${opts.name} already has a reader`);
      watch = native.watch(fd, cb);
    },
    close(closeOpts = {}) {
      if (closed) return;
      closed = true;
      if (watch) native.unwatch(watch);
      if (closeOpts.remove) native.setTunPersist(fd, false);
      native.close(fd);
    },
  };
}

/** A UDP socket moving batches with sendmmsg/recvmmsg. */
export interface BatchUdp {
  /** Receives queued datagrams into `batch` (sources in batch.addrs/ports); returns batch.count. Never waits. */
  receive(batch: PacketBatch, offset?: number): number;
  /**
   * Sends batch datagrams 0..count-1 (each at `offset` in its slot), datagram i to batch.addrs[i]:port.
   * Returns how many the socket took. `gso`: consecutive equal-size datagrams to one address go
   * through the stack as one UDP GSO message (same datagrams on the wire, a fraction of the cost).
   */
  send(batch: PacketBatch, count: number, port: number, offset?: number, gso?: boolean): number;
  onReadable(onReadable: () => void): void;
  close(): void;
}

/** port 0 = any free port; `mark` sets SO_MARK on everything the socket sends. */
export function openBatchUdp(opts: { address: string; port: number; netns?: string; bufferBytes?: number; mark?: number }): BatchUdp {
  const native = loadTunAddon();
  const fd = native.openUdp(opts.address, opts.port, opts.netns ?? null, opts.bufferBytes ?? 4 << 20);
  if (opts.mark !== undefined) {
    try {
      native.setMark(fd, opts.mark);
    } catch (err) {
      native.close(fd);
      throw err;
    }
  }
  let closed = false;
  let watch: WatchHandle | undefined;
  const live = (): void => {
    if (closed) throw new WeftError('closed', 'UDP socket is closed');
  };
  return {
    receive(batch, offset = batch.offset) {
      live();
      batch.count = native.recvBatch(fd, batch.slab, batch.slotSize, offset, batch.lengths, batch.addrs, batch.ports);
      return batch.count;
    },
    send(batch, count, port, offset = batch.offset, gso = false) {
      live();
      return native.sendBatch(fd, batch.slab, batch.slotSize, offset, batch.lengths, count, batch.addrs, port, gso);
    },
    onReadable(cb) {
      live();
      if (watch) throw new WeftError('usage', 'UDP socket already has a reader');
      watch = native.watch(fd, cb);
    },
    close() {
      if (closed) return;
      closed = true;
      if (watch) native.unwatch(watch);
      native.close(fd);
    },
  };
}

/** Host-order number of a dotted IPv4 address, as the batch address arrays hold it. */
export function ipv4Number(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`bad IPv4 address "${ip}"`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function ipv4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
