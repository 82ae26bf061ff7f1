// The probes' seam to the OS: send a UDP datagram to a peer's VXLAN port, receive the probe
// frames the local bridge passes up. Real: a UDP socket plus an AF_PACKET socket on the bridge.
// In memory: MemoryProbeNetwork, which does what the kernels in between would (VNI and MAC
// checks, blocked paths) so path selection is tested deterministically.
import dgram from 'node:dgram';
import { openPacketSocket, type PacketSocket } from './packet-socket.js';
import { decapsulate, PROBE_ETHERTYPE } from './probe-codec.js';
import { formatMac } from './addresses.js';

export interface ProbeTransport {
  /** Sends one datagram to addr:port; failures are silent (a probe that is not answered is the signal). */
  send(addr: string, port: number, datagram: Buffer): void;
  /** Registers the receiver of probe frames (Ethernet header included). */
  receive(onFrame: (frame: Buffer) => void): void;
  close(): void;
}

export function openProbeTransport(o: { bridgeIndex: number }): ProbeTransport {
  const udp = dgram.createSocket({ type: 'udp4' });
  udp.on('error', () => undefined);
  udp.bind(0);
  udp.unref();
  let pkt: PacketSocket | undefined = openPacketSocket({ ifindex: o.bridgeIndex, ethertype: PROBE_ETHERTYPE });
  return {
    send(addr, port, datagram) {
      udp.send(datagram, port, addr, () => undefined);
    },
    receive(onFrame) {
      pkt?.receive(onFrame);
    },
    close() {
      pkt?.close();
      pkt = undefined;
      try {
        udp.close();
      } catch {
        // already closed
      }
    },
  };
}

/** Hosts by underlay address; datagrams are delivered synchronously unless the path is blocked. */
export class MemoryProbeNetwork {
  private readonly hosts = new Map<string, { vni: number; port: number; mac: string; rx?: (f: Buffer) => void }>();
  private readonly blocked = new Set<string>();

  host(addr: string, o: { vni: number; port: number; mac: string }): ProbeTransport {
    const h: { vni: number; port: number; mac: string; rx?: (f: Buffer) => void } = { ...o };
    this.hosts.set(addr, h);
    return {
      send: (dst, port, datagram) => {
        const to = this.hosts.get(dst);
        if (!to?.rx || port !== to.port || this.blocked.has(`${addr}>${dst}`)) return;
        const frame = decapsulate(datagram, to.vni);
        if (!frame || formatMac(frame.subarray(0, 6)) !== to.mac) return;
        to.rx(Buffer.from(frame));
      },
      receive: (onFrame) => {
        h.rx = onFrame;
      },
      close: () => {
        delete h.rx;
      },
    };
  }

  /** Drops datagrams between a and b in both directions (as `nft … udp dport 6784 drop` would). */
  block(a: string, b: string): void {
    this.blocked.add(`${a}>${b}`);
    this.blocked.add(`${b}>${a}`);
  }

  unblock(a: string, b: string): void {
    this.blocked.delete(`${a}>${b}`);
    this.blocked.delete(`${b}>${a}`);
  }
}
