// Path probes (router/probe-codec.ts): VXLAN datagrams on UDP 6784 from anyone on the underlay.
// The first two input bytes choose the path: even → the datagram is decapsulated first (as the
// kernel would for our VNI), odd → the rest is an inner Ethernet frame as the bridge delivers it.
import { decapsulate, decodeProbeFrame, encodeProbeDatagram, type Probe } from '../../../router/probe-codec.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

const VNI = 0x5eb1;
const MACS = { vni: VNI, dstMac: '02:00:00:00:00:02', srcMac: '02:00:00:00:00:01' };

function encodeFrame(p: Probe): Buffer {
  const frame = decapsulate(encodeProbeDatagram(p, MACS), VNI);
  if (frame === undefined) throw new Error('encodeProbeDatagram made a datagram decapsulate refuses');
  return frame;
}

// Built loosely (cast) so the committed seeds do not pin the Probe shape, which is still moving.
const sample = (kind: 'probe' | 'ack', mtu: number, received: number): Probe =>
  ({ kind, from: 0x020000000001n, to: 0x020000000002n, seq: 7, nonce: Buffer.alloc(16, 0xab), replyTo: '198.18.0.1', probed: '198.18.0.2', mtu, received }) as unknown as Probe;

export const probe: FuzzTarget = {
  name: 'probe',
  sources: ['router/probe-codec.ts'],
  seeds: () => [
    Buffer.concat([Buffer.from([0]), encodeProbeDatagram(sample("probe", 100, 0), MACS)]),
    Buffer.concat([Buffer.from([1]), encodeFrame(sample('ack', 1450, 1450))]),
  ],
  run: (data) => {
    let frame = data.subarray(1);
    if (((data[0] ?? 0) & 1) === 0) {
      const inner = decapsulate(frame, VNI);
      if (inner === undefined) return 'not our VXLAN';
      frame = inner;
    }
    return roundTrip(frame, 'decodeProbeFrame', decodeProbeFrame, encodeFrame);
  },
};
