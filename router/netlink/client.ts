// Request/response over one netlink socket.
//
//   request()/dump()/batch() → queue → pump: up to `maxPerDatagram` messages (≤ maxDatagramBytes) per
//   send, at most `window` unanswered → kernel → datagrams → parseMessages → entry by seq
//   → NLMSG_ERROR (ACK or errno) / NLMSG_DONE / reply data
//
// Every message gets its own sequence number; replies are matched by it, so answers to other or
// timed-out requests are dropped. The window keeps the kernel's answers within the receive buffer.
import { getSystemErrorMap } from 'node:util';
import { realClock, type Clock, type Timer } from '../../lib/clock.js';
import { WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { messageSize, parseDone, parseError, parseMessages, writeMessage, type NlMessage, type NlRequest } from './codec.js';
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP_INTR, NLM_F_REQUEST } from './constants.js';
import type { NetlinkSocket } from './socket.js';

export interface NetlinkClientOptions {
  clock?: Clock;
  log?: Logger;
  /** Per-message timeout, counted from the send and restarted by every reply part. */
  timeoutMs?: number;
  /** Messages sent and not yet answered, at most. */
  window?: number;
  maxPerDatagram?: number;
  maxDatagramBytes?: number;
  firstSeq?: number;
}

export const NETLINK_TIMEOUT_MS = 5_000;
export const NETLINK_WINDOW = 256;
export const NETLINK_MAX_PER_DATAGRAM = 64;
export const NETLINK_MAX_DATAGRAM_BYTES = 32 << 10;

/** The kernel refused a request: errno and its name (`code`, e.g. 'EEXIST'), plus the ext-ack text. */
export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly extack?: string;
  constructor(errno: number, extack: string | undefined, what: string) {
    const [libuvName, text] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, `errno ${errno}`];
    // 95 is both ENOTSUP and EOPNOTSUPP on Linux; the kernel's netlink code means the latter.
    const name = libuvName === 'ENOTSUP' ? 'EOPNOTSUPP' : libuvName;
    super(`${what}: ${name} (${text})${extack ? `: ${extack}` : ''}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.code = name;
    if (extack) this.extack = extack;
  }
}

/** The error's errno name ('EEXIST', …), or undefined for anything that is not a NetlinkError. */
export const errnoCode = (err: unknown): string | undefined => (err instanceof NetlinkError ? err.code : undefined);

interface Entry {
  req: NlRequest;
  dump: boolean;
  seq: number;
  replies: NlMessage[];
  interrupted: boolean;
  activity: number;
  settle: (err: Error | undefined, replies: NlMessage[]) => void;
}

export class NetlinkClient {
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly timeoutMs: number;
  private readonly window: number;
  private readonly maxPerDatagram: number;
  private readonly maxDatagramBytes: number;
  private seq: number;
  private queue: Entry[] = [];
  private queueHead = 0;
  private readonly inflight = new Map<number, Entry>();
  private readonly timers = new Set<Timer>();
  private closed = false;
  private dumpsInFlight = 0;
  /** Messages that matched no request (late answers, garbage); for tests and logs. */
  dropped = 0;

  constructor(private readonly socket: NetlinkSocket, opts: NetlinkClientOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.log;
    this.timeoutMs = opts.timeoutMs ?? NETLINK_TIMEOUT_MS;
    this.window = Math.max(1, opts.window ?? NETLINK_WINDOW);
    this.maxPerDatagram = Math.max(1, opts.maxPerDatagram ?? NETLINK_MAX_PER_DATAGRAM);
    this.maxDatagramBytes = opts.maxDatagramBytes ?? NETLINK_MAX_DATAGRAM_BYTES;
    this.seq = (opts.firstSeq ?? 1) >>> 0;
    socket.receive((d) => this.onDatagram(d), (err) => this.onSocketError(err));
  }

  /** Sends msg with NLM_F_ACK; resolves with the replies that came before the ACK (a GET's answer). */
  request(msg: NlRequest): Promise<NlMessage[]> {
    return new Promise((resolve, reject) => {
      this.enqueue(msg, false, (err, replies) => (err ? reject(err) : resolve(replies)));
      this.pump();
    });
  }

  /** Sends a dump request (msg.flags should hold NLM_F_DUMP); resolves with every part up to NLMSG_DONE. */
  dump(msg: NlRequest): Promise<NlMessage[]> {
    return new Promise((resolve, reject) => {
      this.enqueue(msg, true, (err, replies) => (err ? reject(err) : resolve(replies)));
      this.pump();
    });
  }

  /** Sends every message with NLM_F_ACK, many per datagram; one result per message (undefined = ACKed). Never rejects. */
  batch(msgs: NlRequest[]): Promise<(Error | undefined)[]> {
    const results: (Error | undefined)[] = new Array(msgs.length);
    let left = msgs.length;
    if (left === 0) return Promise.resolve(results);
    return new Promise((resolve) => {
      msgs.forEach((m, i) =>
        this.enqueue(m, false, (err) => {
          results[i] = err;
          if (--left === 0) resolve(results);
        }),
      );
      this.pump();
    });
  }

  /** Rejects everything pending with code 'closed' and closes the socket. Safe to repeat. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    const err = new WeftError('closed', 'netlink client closed');
    const pending = [...this.inflight.values(), ...this.queue.slice(this.queueHead)];
    this.inflight.clear();
    this.dumpsInFlight = 0;
    this.queue = [];
    this.queueHead = 0;
    for (const e of pending) e.settle(err, []);
    this.socket.close();
  }

  private enqueue(req: NlRequest, dump: boolean, settle: Entry['settle']): void {
    if (this.closed) {
      settle(new WeftError('closed', 'netlink client closed'), []);
      return;
    }
    this.queue.push({ req, dump, seq: 0, replies: [], interrupted: false, activity: 0, settle });
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) >>> 0 || 1;
    return s;
  }

  // The kernel runs one dump per socket at a time (a second one fails EBUSY), so a dump waits
  // until the previous one is done; everything behind it waits too, to keep the order.
  private pump(): void {
    while (!this.closed && this.queueHead < this.queue.length && this.inflight.size < this.window) {
      const group: Entry[] = [];
      let bytes = 0;
      let dumps = this.dumpsInFlight;
      while (this.queueHead < this.queue.length && group.length < this.maxPerDatagram && this.inflight.size + group.length < this.window) {
        const e = this.queue[this.queueHead]!;
        const size = messageSize(e.req.payload.length);
        if (group.length > 0 && bytes + size > this.maxDatagramBytes) break;
        if (e.dump && dumps > 0) break;
        if (e.dump) dumps++;
        group.push(e);
        bytes += size;
        this.queueHead++;
      }
      if (this.queueHead === this.queue.length) {
        this.queue = [];
        this.queueHead = 0;
      }
      if (group.length === 0) return;
      this.send(group, bytes);
    }
  }

  private send(group: Entry[], bytes: number): void {
    const buf = Buffer.alloc(bytes);
    let off = 0;
    const now = this.clock.now();
    for (const e of group) {
      e.seq = this.nextSeq();
      e.activity = now;
      const flags = e.req.flags | NLM_F_REQUEST | (e.dump ? 0 : NLM_F_ACK);
      off = writeMessage(buf, off, { type: e.req.type, flags, seq: e.seq, payload: e.req.payload });
    }
    try {
      this.socket.send(buf);
    } catch (err) {
      for (const e of group) e.settle(err as Error, []);
      return;
    }
    for (const e of group) {
      this.inflight.set(e.seq, e);
      if (e.dump) this.dumpsInFlight++;
    }
    this.arm(group, this.timeoutMs);
  }

  private arm(group: Entry[], ms: number): void {
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      const now = this.clock.now();
      const waiting: Entry[] = [];
      let oldest = now;
      for (const e of group) {
        if (this.inflight.get(e.seq) !== e) continue;
        if (now - e.activity >= this.timeoutMs) {
          this.forget(e);
          e.settle(new WeftError('timeout', `netlink message type ${e.req.type} (seq ${e.seq}) got no answer within ${this.timeoutMs} ms`), e.replies);
        } else {
          waiting.push(e);
          oldest = Math.min(oldest, e.activity);
        }
      }
      if (waiting.length > 0) this.arm(waiting, this.timeoutMs - (now - oldest));
      this.pump();
    }, ms);
    this.timers.add(timer);
  }

  private forget(e: Entry): void {
    this.inflight.delete(e.seq);
    if (e.dump) this.dumpsInFlight--;
  }

  private onDatagram(d: Buffer): void {
    if (this.closed) return;
    const parsed = parseMessages(d);
    if (!parsed.ok) {
      this.dropped++;
      this.log?.warn({ reason: parsed.reason }, 'netlink: dropped a malformed datagram');
      return;
    }
    for (const m of parsed.value) this.onMessage(m);
    this.pump();
  }

  private onMessage(m: NlMessage): void {
    const e = this.inflight.get(m.seq);
    if (!e) {
      this.dropped++;
      this.log?.debug({ type: m.type, seq: m.seq }, 'netlink: message for no pending request');
      return;
    }
    e.activity = this.clock.now();
    if (m.type === NLMSG_ERROR) {
      const r = parseError(m.payload, m.flags);
      this.forget(e);
      if (!r.ok) e.settle(new WeftError('protocol', `netlink: ${r.reason}`), e.replies);
      else if (r.value.errno !== 0) e.settle(new NetlinkError(r.value.errno, r.value.message, describe(e.req.type)), e.replies);
      else e.settle(undefined, e.replies);
      return;
    }
    if (m.type === NLMSG_DONE && e.dump) {
      const r = parseDone(m.payload, m.flags);
      this.forget(e);
      if (r.errno !== 0) e.settle(new NetlinkError(r.errno, r.message, describe(e.req.type)), e.replies);
      else if (e.interrupted) e.settle(new NetlinkError(4 /* EINTR */, 'dump interrupted by a concurrent change; retry', describe(e.req.type)), e.replies);
      else e.settle(undefined, e.replies);
      return;
    }
    if (m.flags & NLM_F_DUMP_INTR) e.interrupted = true;
    e.replies.push(m);
  }

  /** A lost datagram may have held any answer, so everything in flight fails with the socket's error. */
  private onSocketError(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    this.log?.warn({ code: err.code, inflight: this.inflight.size }, 'netlink: receive error, failing requests in flight');
    const pending = [...this.inflight.values()];
    this.inflight.clear();
    this.dumpsInFlight = 0;
    for (const e of pending) e.settle(err, e.replies);
    this.pump();
  }
}

const TYPE_NAMES: Record<number, string> = {
  16: 'RTM_NEWLINK', 17: 'RTM_DELLINK', 18: 'RTM_GETLINK', 19: 'RTM_SETLINK', 20: 'RTM_NEWADDR', 21: 'RTM_DELADDR',
  22: 'RTM_GETADDR', 24: 'RTM_NEWROUTE', 25: 'RTM_DELROUTE', 26: 'RTM_GETROUTE', 28: 'RTM_NEWNEIGH', 29: 'RTM_DELNEIGH', 30: 'RTM_GETNEIGH',
};

const describe = (type: number): string => TYPE_NAMES[type] ?? `netlink message type ${type}`;
