// Micro-benchmark of ESP sealing and opening on one core: the reference codec (crypto/esp.ts, one
// node:crypto cipher object per packet) against the addon's batches (crypto/esp-native.ts, one
// OpenSSL context per SA, 64 packets per call). Both include the SA bookkeeping (sequence numbers,
// replay window). Prints ns per packet; `node dist/bench/esp-aead.js`. About 10 s.
import { performance } from 'node:perf_hooks';
import { ESP_PAYLOAD_OFFSET, espSealedLength, openEsp, sealEsp } from '../crypto/esp.js';
import { ESP_CIPHERS, InboundSa, OutboundSa, type EspCipher, type EspSaKeys } from '../crypto/esp-sa.js';
import { NativeEspContext, SLOTS_IN_ORDER, nativeEspAvailable, openBatch, sealBatch } from '../crypto/esp-native.js';
import { PacketBatch } from '../router/tun.js';

const BATCH = 64;
const SLOT = 2048;
/** Where the payload sits when sealing (the engine's TUN read leaves the UDP header here). */
const PAYLOAD_AT = 64;
const ESP_AT = PAYLOAD_AT - ESP_PAYLOAD_OFFSET;
/** Distinct sealed packets to open, so the replay window accepts every one within a pass. */
const POOL_BATCHES = 16;

export interface EspAeadRow {
  cipher: EspCipher;
  payload: number;
  op: 'seal' | 'open';
  jsNs: number;
  nativeNs: number | undefined;
}

function keysFor(cipher: EspCipher): EspSaKeys {
  return { cipher, key: Buffer.alloc(32, 0x42), salt: Buffer.from('01020304', 'hex') };
}

/** Runs `round` (which moves `perRound` packets and returns the ms it measured) until `budgetMs` of measured time; ns per packet. */
function measure(budgetMs: number, perRound: number, round: () => number): number {
  for (let i = 0; i < 20; i++) round(); // warm-up: JIT, caches, OpenSSL's first-use setup
  let spent = 0;
  let packets = 0;
  while (spent < budgetMs) {
    spent += round();
    packets += perRound;
  }
  return (spent * 1e6) / packets;
}

function sealJs(cipher: EspCipher, payload: number, budgetMs: number): number {
  const sa = new OutboundSa(0x1000, keysFor(cipher));
  const batch = new PacketBatch(BATCH, SLOT);
  return measure(budgetMs, BATCH, () => {
    const t = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const slot = batch.slot(i);
      sealEsp(sa, slot.subarray(PAYLOAD_AT, PAYLOAD_AT + payload), 17, slot, ESP_AT);
    }
    return performance.now() - t;
  });
}

function sealNative(cipher: EspCipher, payload: number, budgetMs: number): number {
  const sa = new OutboundSa(0x1000, keysFor(cipher));
  const ctx = NativeEspContext.forOutbound(sa);
  const batch = new PacketBatch(BATCH, SLOT);
  try {
    return measure(budgetMs, BATCH, () => {
      batch.lengths.fill(payload);
      const t = performance.now();
      sealBatch(ctx, sa, batch, SLOTS_IN_ORDER, BATCH, PAYLOAD_AT);
      return performance.now() - t;
    });
  } finally {
    ctx.free();
  }
}

/** POOL_BATCHES batches of sealed packets with consecutive sequence numbers. */
function sealedPool(cipher: EspCipher, payload: number): Buffer[] {
  const sa = new OutboundSa(0x1000, keysFor(cipher));
  const pool: Buffer[] = [];
  for (let i = 0; i < POOL_BATCHES * BATCH; i++) {
    const p = Buffer.alloc(espSealedLength(payload));
    sealEsp(sa, Buffer.alloc(payload, i), 17, p);
    pool.push(p);
  }
  return pool;
}

function openJs(cipher: EspCipher, payload: number, pool: Buffer[], budgetMs: number): number {
  let sa = new InboundSa(0x1000, keysFor(cipher));
  const lookup = (): InboundSa => sa;
  const out = Buffer.alloc(SLOT);
  let next = 0;
  return measure(budgetMs, BATCH, () => {
    if (next === pool.length) {
      sa = new InboundSa(0x1000, keysFor(cipher));
      next = 0;
    }
    const t = performance.now();
    for (let i = 0; i < BATCH; i++) openEsp(pool[next++]!, lookup, out);
    return performance.now() - t;
  });
}

function openNative(cipher: EspCipher, payload: number, pool: Buffer[], budgetMs: number): number {
  let sa = new InboundSa(0x1000, keysFor(cipher));
  const ctx = NativeEspContext.forInbound(sa);
  const batch = new PacketBatch(BATCH, SLOT);
  const nextHeaders = new Uint8Array(BATCH);
  let next = 0;
  try {
    return measure(budgetMs, BATCH, () => {
      if (next === pool.length) {
        sa = new InboundSa(0x1000, keysFor(cipher));
        next = 0;
      }
      // opening works in place, so each round copies fresh ciphertext in first (not timed)
      for (let i = 0; i < BATCH; i++) {
        const p = pool[next++]!;
        batch.slot(i).set(p, ESP_AT);
        batch.lengths[i] = p.length;
      }
      const t = performance.now();
      const delivered = openBatch(ctx, sa, batch, SLOTS_IN_ORDER, BATCH, ESP_AT, nextHeaders);
      const spent = performance.now() - t;
      if (delivered !== BATCH) throw new Error(`native open delivered ${delivered} of ${BATCH}`);
      return spent;
    });
  } finally {
    ctx.free();
  }
}

export function runEspAeadBench(opts: { budgetMs?: number; payloads?: number[] } = {}): EspAeadRow[] {
  const budget = opts.budgetMs ?? 500;
  const native = nativeEspAvailable();
  const rows: EspAeadRow[] = [];
  for (const cipher of ESP_CIPHERS) {
    for (const payload of opts.payloads ?? [64, 1400]) {
      rows.push({ cipher, payload, op: 'seal', jsNs: sealJs(cipher, payload, budget), nativeNs: native ? sealNative(cipher, payload, budget) : undefined });
      const pool = sealedPool(cipher, payload);
      rows.push({
        cipher,
        payload,
        op: 'open',
        jsNs: openJs(cipher, payload, pool, budget),
        nativeNs: native ? openNative(cipher, payload, pool, budget) : undefined,
      });
    }
  }
  return rows;
}

export function formatEspAead(rows: EspAeadRow[]): string {
  const lines = [
    `ESP AEAD per packet, one core: node:crypto per packet (sealEsp/openEsp) vs the addon, ${BATCH} packets per call`,
    'cipher              payload  op     JS ns/pkt   native ns/pkt   speed-up   native Gbit/s (payload)',
  ];
  for (const r of rows) {
    const nat = r.nativeNs === undefined ? 'not built' : r.nativeNs.toFixed(0);
    const speedUp = r.nativeNs === undefined ? '-' : `${(r.jsNs / r.nativeNs).toFixed(1)}×`;
    const gbit = r.nativeNs === undefined ? '-' : ((r.payload * 8) / r.nativeNs).toFixed(1);
    lines.push(
      `${r.cipher.padEnd(20)}${String(r.payload).padEnd(9)}${r.op.padEnd(7)}${r.jsNs.toFixed(0).padStart(9)}   ${nat.padStart(13)}   ${speedUp.padStart(8)}   ${gbit.padStart(8)}`,
    );
  }
  return lines.join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) console.log(formatEspAead(runEspAeadBench()));
