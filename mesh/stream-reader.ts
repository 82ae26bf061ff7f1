// Pull-style reads of exact byte counts from a stream: the handshake reads 7, then 1, then 32
// bytes; the frame loop reads 4 then the frame. One read may be outstanding at a time.
//
// The reader holds at most `highWater` bytes beyond what the pending read asks for: past that it
// pauses the stream (the kernel's receive window then throttles the sender) and resumes only when
// a read wants more than is buffered. So a peer that sends faster than we read, or before the
// handshake asks for anything, costs us a bounded amount of memory, never what it chose to send.
import type { Duplex } from 'node:stream';
import { WeftError } from '../lib/errors.js';
import { READER_HIGH_WATER_BYTES } from './limits.js';

export class StreamReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private want: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;
  private paused = false;

  constructor(
    private readonly stream: Duplex,
    private readonly highWater = READER_HIGH_WATER_BYTES,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.satisfy();
      // A read still waiting needs more than is here: keep the data coming until it is satisfied.
      if (this.buffered >= this.highWater && !this.want && !this.paused && !this.ended) {
        this.paused = true;
        stream.pause();
      }
    });
    const end = (why: string) => () => this.fail(new WeftError('closed', why));
    stream.on('end', end('connection closed by peer'));
    stream.on('close', end('connection closed'));
    stream.on('error', (err: NodeJS.ErrnoException) =>
      this.fail(
        err.code === 'ETIMEDOUT'
          ? new WeftError('timeout', 'the peer\'s host acknowledged nothing within the kernel\'s deadline (keepalive, TCP_USER_TIMEOUT): the link or that host is down', { cause: err })
          : new WeftError('io', err.message, { cause: err }),
      ),
    );
  }

  /** Bytes received and not yet read. */
  get pending(): number {
    return this.buffered;
  }

  /** Resolves with exactly n bytes, or rejects once the stream ends first. */
  read(n: number): Promise<Buffer> {
    if (this.want) return Promise.reject(new Error('StreamReader: concurrent read'));
    if (this.buffered >= n) return Promise.resolve(this.take(n));
    if (this.ended) return Promise.reject(this.ended);
    this.resume();
    return new Promise((resolve, reject) => {
      this.want = { n, resolve, reject };
    });
  }

  /** Fails the pending and all later reads (used for deadlines and shutdown); drops the buffer. */
  fail(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    // Whatever is buffered will never be read: let it go now rather than with the socket.
    this.chunks = [];
    this.buffered = 0;
    const w = this.want;
    this.want = undefined;
    w?.reject(err);
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.stream.resume();
  }

  private satisfy(): void {
    const w = this.want;
    if (w && this.buffered >= w.n) {
      this.want = undefined;
      w.resolve(this.take(w.n));
    }
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
