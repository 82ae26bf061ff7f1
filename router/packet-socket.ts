// A raw Ethernet socket on one interface for one ethertype: whole frames (with the Ethernet
// header) in and out. Used for weft's own frames on the bridge; nothing else arrives here.
import { WeftError } from '../lib/errors.js';
import { loadNative, type WatchHandle } from '../lib/native.js';

export interface PacketSocket {
  /** Registers the receiver: every frame of the ethertype seen on the interface, in order. Truncated frames are dropped. */
  receive(onFrame: (frame: Buffer) => void): void;
  /** Sends one whole Ethernet frame out of the interface. Throws a NodeJS.ErrnoException. */
  send(frame: Buffer): void;
  /** Stops delivery and closes the socket; no callback runs afterwards. Safe to repeat. */
  close(): void;
}

export interface PacketSocketOptions {
  ifindex: number;
  ethertype: number;
  /** Network namespace path the interface lives in; default: the caller's. */
  netns?: string;
}

/** Ethernet MTU-sized frames with ample room for jumbo frames and GRO-merged bursts. */
const RECV_BUFFER_BYTES = 64 << 10;
const MAX_FRAMES_PER_WAKEUP = 256;

export function openPacketSocket(opts: PacketSocketOptions): PacketSocket {
  const native = loadNative();
  const fd = native.openPacket(opts.ifindex, opts.ethertype, opts.netns ?? null);
  const buf = Buffer.allocUnsafe(RECV_BUFFER_BYTES);
  let closed = false;
  let watch: WatchHandle | undefined;

  const drain = (onFrame: (frame: Buffer) => void): void => {
    for (let i = 0; i < MAX_FRAMES_PER_WAKEUP && !closed; i++) {
      let n: number;
      try {
        n = native.recv(fd, buf);
      } catch {
        // Errors such as ENETDOWN are consumed by the read; frames still queued come next wakeup.
        return;
      }
      if (n < 0) return;
      if (n > buf.length) continue;
      onFrame(Buffer.from(buf.subarray(0, n)));
    }
  };

  return {
    receive(onFrame) {
      if (closed) throw new WeftError('closed', 'packet socket is closed');
      if (watch) throw new WeftError('usage', 'packet socket already has a receiver');
      watch = native.watch(fd, () => drain(onFrame));
    },
    send(frame) {
      if (closed) throw new WeftError('closed', 'packet socket is closed');
      native.send(fd, frame);
    },
    close() {
      if (closed) return;
      closed = true;
      if (watch) native.unwatch(watch);
      native.close(fd);
    },
  };
}
