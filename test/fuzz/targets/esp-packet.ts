// ESP packets (crypto/esp.ts) on UDP 6783/6784 from anyone on the underlay, and the replay window
// (crypto/replay-window.ts) they move. The first input byte picks the mode:
//   0 — the rest is a packet, opened against an SA that claims every SPI: never throws, refuses
//       with a reason, moves the window only for a packet that authenticated;
//   1 — the rest is a payload: seal then open gives it back (the round trip);
//   2 — the rest is a list of u32 sequence numbers checked/accepted against a simple model.
import { openEsp, sealEspPacket } from '../../../crypto/esp.js';
import { InboundSa, OutboundSa, type EspSaKeys } from '../../../crypto/esp-sa.js';
import { ReplayWindow } from '../../../crypto/replay-window.js';
import { fail } from '../check.js';
import type { FuzzTarget } from '../target.js';

const SPI = 0x0a0b0c0d;
const KEYS: EspSaKeys[] = [
  { cipher: 'aes-256-gcm', key: Buffer.alloc(32, 0x5a), salt: Buffer.from('c0ffee01', 'hex') },
  { cipher: 'chacha20-poly1305', key: Buffer.alloc(32, 0xa5), salt: Buffer.from('c0ffee02', 'hex') },
];

function open(packet: Buffer, keys: EspSaKeys): string {
  const sa = new InboundSa(SPI, keys, { replayWindow: 64 });
  const out = Buffer.alloc(packet.length + 4);
  const r = openEsp(packet, () => sa, out, 2);
  if (r.ok) {
    if (r.length < 0 || r.length > packet.length || sa.window.highest !== r.seq || sa.received !== 1) fail(`openEsp accepted inconsistently: ${JSON.stringify({ length: r.length, seq: r.seq })}`);
    return 'ok';
  }
  if (typeof r.reason !== 'string') fail('openEsp refused without a reason');
  const counted = Object.values(sa.drops).reduce((a, b) => a + b, 0);
  if (r.reason !== 'short' && counted !== 1) fail(`openEsp dropped (${r.reason}) but counted ${counted} drops`);
  if (r.reason !== 'bad-padding' && r.reason !== 'buffer-too-small' && sa.window.highest !== 0) fail(`a ${r.reason} packet moved the replay window`);
  return r.reason;
}

function roundTrip(payload: Buffer, keys: EspSaKeys, nextHeader: number): string {
  const outSa = new OutboundSa(SPI, keys);
  const packet = sealEspPacket(outSa, payload, nextHeader);
  const sa = new InboundSa(SPI, keys);
  const out = Buffer.alloc(payload.length);
  const r = openEsp(packet, (spi) => (spi === SPI ? sa : undefined), out);
  if (!r.ok) fail(`a sealed packet did not open: ${r.reason}`);
  if (r.nextHeader !== nextHeader || !out.subarray(0, r.length).equals(payload)) fail('seal → open changed the payload');
  return 'sealed and opened';
}

function replay(data: Buffer): string {
  const w = new ReplayWindow(64);
  const seen = new Set<number>();
  let top = 0;
  for (let off = 0; off + 4 <= data.length; off += 4) {
    // Low 8 bits from the input, high bits mostly near the current top so the window is exercised.
    const raw = data.readUInt32BE(off);
    const seq = (raw & 0x80000000) !== 0 ? raw >>> 0 : Math.max(0, top - 80 + (raw % 160));
    const want = seq > top ? 'fresh' : seq === 0 || top - seq >= 64 ? 'too-old' : seen.has(seq) ? 'replay' : 'fresh';
    const got = w.check(seq);
    if (got !== want) fail(`replay window: seq ${seq} (top ${top}) gave ${got}, expected ${want}`);
    if (got === 'fresh') {
      w.accept(seq);
      seen.add(seq);
      top = Math.max(top, seq);
    }
    if (w.highest !== top) fail(`replay window: highest ${w.highest}, expected ${top}`);
  }
  return 'replay model';
}

export const espPacket: FuzzTarget = {
  name: 'esp-packet',
  sources: ['crypto/esp.ts', 'crypto/replay-window.ts'],
  seeds: () => {
    const sealed = KEYS.map((k) => sealEspPacket(new OutboundSa(SPI, k), Buffer.from('a UDP payload of some length'), 17));
    const seqs = Buffer.alloc(32);
    for (let i = 0; i < 8; i++) seqs.writeUInt32BE([1, 3, 2, 2, 0x80000070, 5, 0x80000005, 9][i]!, i * 4);
    return [
      Buffer.concat([Buffer.from([0, 0]), sealed[0]!]),
      Buffer.concat([Buffer.from([0, 1]), sealed[1]!]),
      Buffer.concat([Buffer.from([1, 0, 17]), Buffer.from('hello')]),
      Buffer.concat([Buffer.from([2]), seqs]),
    ];
  },
  run: (data) => {
    const mode = (data[0] ?? 0) % 3;
    const keys = KEYS[(data[1] ?? 0) & 1]!;
    if (mode === 0) return open(data.subarray(2), keys);
    if (mode === 1) return roundTrip(data.subarray(3, 3 + 2048), keys, data[2] ?? 0);
    return replay(data.subarray(1));
  },
};
