// UDP endpoints inside network namespaces for the xfrm probe: one datagram at a time, awaited with
// a deadline. Plain sockets come from the native addon; an ESP-in-UDP socket (UDP_ENCAP) comes
// from the addon when it has setUdpEncap, else from a perl process holding one in the namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { openBatchUdp, PacketBatch, ipv4Number, ipv4Text, type BatchUdp } from '../../router/tun.js';
import { loadNative } from '../../lib/native.js';
import { UDP_ENCAP_ESPINUDP } from '../../router/netlink/xfrm.js';

export interface Datagram {
  data: Buffer;
  from: string;
  port: number;
}

/** A bound UDP socket in a namespace. */
export class NsUdp {
  private readonly sock: BatchUdp;
  private readonly rx = new PacketBatch(16, 2048);
  private readonly tx = new PacketBatch(1, 2048);
  private readonly queue: Datagram[] = [];
  private waiter: (() => void) | undefined;

  constructor(netns: string, address: string, port: number) {
    this.sock = openBatchUdp({ address, port, netns, bufferBytes: 1 << 20 });
    this.sock.onReadable(() => {
      const n = this.sock.receive(this.rx);
      for (let i = 0; i < n; i++) {
        const len = this.rx.lengths[i]!;
        if (len < 0) continue;
        const at = i * this.rx.slotSize;
        this.queue.push({ data: Buffer.from(this.rx.slab.subarray(at, at + len)), from: ipv4Text(this.rx.addrs[i]!), port: this.rx.ports[i]! });
      }
      this.waiter?.();
    });
  }

  send(data: Buffer, to: string, port: number): void {
    data.copy(this.tx.slab, 0);
    this.tx.lengths[0] = data.length;
    this.tx.addrs[0] = ipv4Number(to);
    if (this.sock.send(this.tx, 1, port) !== 1 || this.tx.lengths[0]! < 0) throw new Error(`sending to ${to}:${port} failed (${this.tx.lengths[0]})`);
  }

  /** The next datagram; rejects after timeoutMs. */
  async next(timeoutMs: number): Promise<Datagram> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no datagram within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** Datagrams received and not yet taken. */
  pending(): Datagram[] {
    return [...this.queue];
  }

  close(): void {
    this.sock.close();
  }
}

/** Anything holding an ESP-in-UDP socket open. */
export interface EncapSocket {
  close(): Promise<void>;
}

type EncapAddon = { setUdpEncap?: (fd: number, type: number) => void; openUdp: (a: string, p: number, ns: string | null, b: number) => number; close: (fd: number) => void };

const PERL_ENCAP = [
  'use Socket;',
  'socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";',
  // SOL_UDP = 17, UDP_ENCAP = 100 (<linux/udp.h>).
  `setsockopt($s, 17, 100, pack("i", ${UDP_ENCAP_ESPINUDP})) or die "UDP_ENCAP: $!";`,
  'bind($s, pack_sockaddr_in($ARGV[0], INADDR_ANY)) or die "bind: $!";',
  '$| = 1; print "ready\\n"; sleep;',
].join(' ');

/**
 * A UDP socket on `port` with UDP_ENCAP_ESPINUDP: the kernel hands ESP arriving on it to xfrm.
 * Without one, ESP-in-UDP is delivered to whatever plain socket holds the port (or refused).
 */
export async function openEncapSocket(netnsName: string, port: number): Promise<EncapSocket & { via: 'addon' | 'perl' }> {
  const native = loadNative() as unknown as EncapAddon;
  if (typeof native.setUdpEncap === 'function') {
    const fd = native.openUdp('0.0.0.0', port, `/run/netns/${netnsName}`, 0);
    native.setUdpEncap(fd, UDP_ENCAP_ESPINUDP);
    return { via: 'addon', close: async () => native.close(fd) };
  }
  const child: ChildProcess = spawn('ip', ['netns', 'exec', netnsName, 'perl', '-e', PERL_ENCAP, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('ready\n')) resolve();
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.once('error', reject);
    child.once('close', (code) => reject(new Error(`perl encap socket in ${netnsName} exited ${code}: ${err.trim()}`)));
  });
  return {
    via: 'perl',
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
