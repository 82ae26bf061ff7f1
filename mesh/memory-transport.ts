// In-memory twin of the TCP transport: a network of named hosts whose connections are pairs of
// linked Duplex streams. Dialling a port nobody listens on fails like TCP ("connection refused").
// blackhole(a, b) silently drops what a and b write to each other, as an nftables drop rule does:
// no error, no close, only silence.
import { Duplex } from 'node:stream';
import { WeftError } from '../lib/errors.js';
import { joinHostPort, type Conn, type Listener, type Transport } from './transport.js';

function linkedPair(dropped: () => boolean): [Duplex, Duplex] {
  const make = (): Duplex & { peer?: Duplex } => {
    const d: Duplex & { peer?: Duplex } = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        if (!dropped()) d.peer?.push(Buffer.from(chunk));
        cb();
      },
      final(cb) {
        d.peer?.push(null);
        cb();
      },
      destroy(err, cb) {
        const p = d.peer;
        d.peer = undefined;
        if (p && !p.destroyed) p.destroy();
        cb(err);
      },
    });
    return d;
  };
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export class MemoryNetwork {
  private readonly listeners = new Map<string, (conn: Conn) => void>();
  private readonly blocked = new Set<string>();
  private nextPort = 40000;

  /** From now on, bytes between hosts a and b (either way, every connection) vanish. */
  blackhole(a: string, b: string): void {
    this.blocked.add(pairKey(a, b));
  }

  /** Undoes blackhole(a, b); bytes dropped meanwhile stay lost (the connections are broken). */
  restore(a: string, b: string): void {
    this.blocked.delete(pairKey(a, b));
  }

  /** A transport bound to one host address of this network. */
  host(address: string): Transport {
    return {
      listen: async (_host, port, onConn): Promise<Listener> => {
        const key = joinHostPort(address, port);
        if (this.listeners.has(key)) throw new WeftError('io', `port ${key} is in use`);
        this.listeners.set(key, onConn);
        let closed = false;
        return {
          port,
          close: async () => {
            if (!closed) this.listeners.delete(key);
            closed = true;
          },
        };
      },
      dial: async (host, port): Promise<Conn> => {
        await Promise.resolve();
        const onConn = this.listeners.get(joinHostPort(host, port));
        if (!onConn) throw new WeftError('io', 'connection refused');
        const key = pairKey(address, host);
        const [ours, theirs] = linkedPair(() => this.blocked.has(key));
        const local = joinHostPort(address, this.nextPort++);
        const remote = joinHostPort(host, port);
        onConn({ stream: theirs, localAddr: remote, remoteAddr: local });
        return { stream: ours, localAddr: local, remoteAddr: remote };
      },
    };
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a} ${b}` : `${b} ${a}`;
}
