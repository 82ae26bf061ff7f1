// The native batched ESP against the reference codec (crypto/esp.ts): same bytes when sealing, same
// verdicts and counters when opening, in place inside the slots of a PacketBatch.
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ESP_MIN_BYTES, ESP_PAYLOAD_OFFSET, espSealedLength, openEsp, sealEsp } from './esp.js';
import { ESP_CIPHERS, ESP_MAX_SEQUENCE, InboundSa, OutboundSa, type EspCipher, type EspSaKeys } from './esp-sa.js';
import {
  NativeEspContext,
  OPEN_AUTH_FAILED,
  OPEN_BAD_PADDING,
  OPEN_OUT_OF_SLOT,
  OPEN_REPLAY,
  OPEN_SHORT,
  OPEN_TOO_OLD,
  SEAL_EXHAUSTED,
  SEAL_TOO_SMALL,
  SLOTS_IN_ORDER,
  nativeEspAvailable,
  openBatch,
  openCodeReason,
  sealBatch,
  type EspAddon,
} from './esp-native.js';
import { loadNative, type NativeAddon } from '../lib/native.js';
import { PacketBatch } from '../router/tun.js';

const SPI = 0x0a0b0c0d;
const SLOT = 2048;

function keysFor(cipher: EspCipher, fill = 0x5a, salt = 'c0ffee01'): EspSaKeys {
  return { cipher, key: Buffer.alloc(32, fill), salt: Buffer.from(salt, 'hex') };
}

const cipherArb = fc.constantFrom(...ESP_CIPHERS);
const keysArb = fc.record({
  cipher: cipherArb,
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
  salt: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b)),
});

/** A batch whose slots hold `payloads` at `payloadAt`, listed in `order`. */
function loaded(payloads: Uint8Array[], payloadAt: number, slotSize = SLOT): PacketBatch {
  const batch = new PacketBatch(Math.max(1, payloads.length), slotSize);
  payloads.forEach((p, i) => {
    batch.slab.set(p, i * slotSize + payloadAt);
    batch.lengths[i] = p.length;
  });
  return batch;
}

function slotsOf(order: number[]): Int32Array {
  return Int32Array.from(order);
}

/** ESP with a chosen (possibly malformed) trailer, sealed by hand from the RFCs. */
function handSeal(keys: EspSaKeys, seq: number, plain: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(SPI, 0);
  header.writeUInt32BE(seq, 4);
  header.writeUInt32BE(seq, 12);
  const c = createCipheriv(keys.cipher as 'aes-256-gcm', keys.key, Buffer.concat([keys.salt, header.subarray(8)]), { authTagLength: 16 });
  c.setAAD(header.subarray(0, 8));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([header, ct, c.getAuthTag()]);
}

/** A batch holding `packets` at espAt, slot i = packet i. */
function received(packets: Uint8Array[], espAt = 0, slotSize = SLOT): PacketBatch {
  return loaded(packets, espAt, slotSize);
}

describe('native ESP availability', () => {
  it('is built into the addon (make build)', () => {
    expect(nativeEspAvailable()).toBe(true);
  });
});

describe('sealing a batch', () => {
  it('writes the bytes sealEsp writes, in place, for both ciphers and payloads of 0..1500 bytes', () => {
    fc.assert(
      fc.property(
        keysArb,
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 1500 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 16, max: 80 }),
        fc.integer({ min: 256, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_0000 }),
        fc.integer({ min: 0, max: 255 }),
        fc.infiniteStream(fc.nat()),
        (keys, payloads, payloadAt, spi, last, nextHeader, rnd) => {
          // a random order of the slots: sequence numbers follow the list, not the slot index
          const order = payloads.map((_, i) => i);
          for (let i = order.length - 1; i > 0; i--) {
            const j = rnd.next().value % (i + 1);
            [order[i], order[j]] = [order[j]!, order[i]!];
          }
          const native = loaded(payloads, payloadAt);
          const reference = loaded(payloads, payloadAt);
          const ctx = new NativeEspContext(keys, 'seal');
          const sealed = ctx.sealRaw(native, slotsOf(order), order.length, payloadAt, spi, last + 1, nextHeader);
          ctx.free();
          expect(sealed).toBe(payloads.length);

          const sa = new OutboundSa(spi, keys, { lastSequence: last });
          for (const s of order) {
            const slot = reference.slot(s);
            const r = sealEsp(sa, slot.subarray(payloadAt, payloadAt + payloads[s]!.length), nextHeader, slot, payloadAt - ESP_PAYLOAD_OFFSET);
            expect(r.ok).toBe(true);
            if (r.ok) reference.lengths[s] = r.length;
          }
          expect([...native.lengths]).toEqual([...reference.lengths]);
          expect(native.slab.equals(reference.slab)).toBe(true); // nothing outside the packets moved either
        },
      ),
      { numRuns: 200 },
    );
  });

  it('marks a packet that does not fit its slot and skips its sequence number', () => {
    const keys = keysFor('aes-256-gcm');
    const batch = loaded([Buffer.alloc(100, 1), Buffer.alloc(200, 2), Buffer.alloc(100, 3)], 16, 256);
    batch.lengths[1] = 256 - 16; // the payload fits, the sealed packet would not
    const ctx = new NativeEspContext(keys, 'seal');
    expect(ctx.sealRaw(batch, SLOTS_IN_ORDER, 3, 16, SPI, 1)).toBe(2);
    expect(batch.lengths[1]).toBe(SEAL_TOO_SMALL);
    expect(batch.slab.readUInt32BE(2 * 256 + 4)).toBe(3);
    batch.lengths[0] = -5;
    expect(ctx.sealRaw(batch, SLOTS_IN_ORDER, 1, 16, SPI, 4)).toBe(0);
    expect(batch.lengths[0]).toBe(SEAL_TOO_SMALL);
    // a slot of exactly espSealedLength bytes is enough
    const exact = loaded([Buffer.alloc(37, 9)], 16, espSealedLength(37));
    expect(ctx.sealRaw(exact, SLOTS_IN_ORDER, 1, 16, SPI, 5)).toBe(1);
    expect(exact.lengths[0]).toBe(espSealedLength(37));
  });

  it('reserves sequence numbers from the SA and never seals past its last one', () => {
    const keys = keysFor('chacha20-poly1305');
    const sa = new OutboundSa(SPI, keys, { lastSequence: ESP_MAX_SEQUENCE - 2 });
    const ctx = NativeEspContext.forOutbound(sa);
    const batch = loaded([1, 2, 3, 4, 5].map((n) => Buffer.alloc(n * 10, n)), 16);
    const r = sealBatch(ctx, sa, batch, SLOTS_IN_ORDER, 5, 16);
    expect(r).toEqual({ sealed: 2, exhausted: true });
    expect([...batch.lengths]).toEqual([espSealedLength(10), espSealedLength(20), SEAL_EXHAUSTED, SEAL_EXHAUSTED, SEAL_EXHAUSTED]);
    expect(batch.slab.readUInt32BE(SLOT + 4)).toBe(ESP_MAX_SEQUENCE);
    expect(sa.remaining).toBe(0);
    batch.lengths.set([10, 10, 10, 10, 10]);
    expect(sealBatch(ctx, sa, batch, SLOTS_IN_ORDER, 2, 16)).toEqual({ sealed: 0, exhausted: true });
    expect([...batch.lengths.subarray(0, 2)]).toEqual([SEAL_EXHAUSTED, SEAL_EXHAUSTED]);
    expect(sealBatch(ctx, sa, batch, SLOTS_IN_ORDER, 0, 16)).toEqual({ sealed: 0, exhausted: false });
  });

  it('is opened by openEsp', () => {
    fc.assert(
      fc.property(cipherArb, fc.array(fc.uint8Array({ maxLength: 1500 }), { minLength: 1, maxLength: 8 }), (cipher, payloads) => {
        const out = new OutboundSa(SPI, keysFor(cipher));
        const inb = new InboundSa(SPI, keysFor(cipher));
        const batch = loaded(payloads, 40);
        const ctx = NativeEspContext.forOutbound(out);
        expect(sealBatch(ctx, out, batch, SLOTS_IN_ORDER, payloads.length, 40).sealed).toBe(payloads.length);
        payloads.forEach((p, i) => {
          const plain = Buffer.alloc(SLOT);
          const r = openEsp(batch.packet(i, 24), (spi) => (spi === SPI ? inb : undefined), plain);
          expect(r.ok && r.seq === i + 1 && r.nextHeader === 17 && plain.subarray(0, r.length).equals(p)).toBe(true);
        });
      }),
      { numRuns: 100 },
    );
  });
});

describe('opening a batch', () => {
  it('opens sealEsp output in place, leaving the header as received', () => {
    fc.assert(
      fc.property(
        keysArb,
        fc.array(fc.uint8Array({ maxLength: 1500 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 255 }),
        (keys, payloads, espAt, nextHeader) => {
          const sa = new OutboundSa(SPI, keys);
          const packets = payloads.map((p) => {
            const buf = Buffer.alloc(espSealedLength(p.length));
            const r = sealEsp(sa, p, nextHeader, buf);
            expect(r.ok).toBe(true);
            return buf;
          });
          const batch = received(packets, espAt);
          const ctx = new NativeEspContext(keys, 'open');
          const nextHeaders = new Uint8Array(batch.capacity);
          expect(ctx.openRaw(batch, SLOTS_IN_ORDER, packets.length, espAt, nextHeaders)).toBe(packets.length);
          payloads.forEach((p, i) => {
            expect(batch.lengths[i]).toBe(p.length);
            expect(nextHeaders[i]).toBe(nextHeader);
            expect(batch.packet(i, espAt + ESP_PAYLOAD_OFFSET).equals(Buffer.from(p))).toBe(true);
            expect(batch.slot(i).subarray(espAt, espAt + ESP_PAYLOAD_OFFSET).equals(packets[i]!.subarray(0, ESP_PAYLOAD_OFFSET))).toBe(true);
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rejects any single changed byte as an authentication failure', () => {
    fc.assert(
      fc.property(cipherArb, fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (cipher, payload, at, flip) => {
        const sa = new OutboundSa(SPI, keysFor(cipher));
        const packet = Buffer.alloc(espSealedLength(payload.length));
        sealEsp(sa, payload, 17, packet);
        packet[at % packet.length]! ^= flip;
        const batch = received([packet]);
        const ctx = new NativeEspContext(keysFor(cipher), 'open');
        expect(ctx.openRaw(batch, SLOTS_IN_ORDER, 1, 0, new Uint8Array(1))).toBe(0);
        expect(batch.lengths[0]).toBe(OPEN_AUTH_FAILED);
      }),
    );
  });

  it('rejects a wrong key, a wrong salt and the other cipher', () => {
    for (const cipher of ESP_CIPHERS) {
      const packet = Buffer.alloc(espSealedLength(64));
      sealEsp(new OutboundSa(SPI, keysFor(cipher)), Buffer.alloc(64, 7), 17, packet);
      const other: EspCipher = cipher === 'aes-256-gcm' ? 'chacha20-poly1305' : 'aes-256-gcm';
      for (const keys of [keysFor(cipher, 0x5b), keysFor(cipher, 0x5a, 'c0ffee02'), keysFor(other)]) {
        const batch = received([packet]);
        expect(new NativeEspContext(keys, 'open').openRaw(batch, SLOTS_IN_ORDER, 1, 0, new Uint8Array(1))).toBe(0);
        expect(batch.lengths[0]).toBe(OPEN_AUTH_FAILED);
      }
      const batch = received([packet]);
      expect(new NativeEspContext(keysFor(cipher), 'open').openRaw(batch, SLOTS_IN_ORDER, 1, 0, new Uint8Array(1))).toBe(1);
    }
  });

  it('checks the padding of authentic packets: bytes 1, 2, 3 … and a pad length that fits', () => {
    for (const cipher of ESP_CIPHERS) {
      const keys = keysFor(cipher);
      const cases: [string, Buffer, number][] = [
        ['good, 3 pad bytes', Buffer.from([9, 9, 9, 1, 2, 3, 3, 17]), 3],
        ['good, no padding', Buffer.from([9, 9, 0, 17]), 2],
        ['pad bytes out of order', Buffer.from([9, 9, 9, 1, 3, 2, 3, 17]), OPEN_BAD_PADDING],
        ['pad byte zero', Buffer.from([9, 9, 9, 9, 9, 0, 1, 17]), OPEN_BAD_PADDING],
        ['pad length past the payload', Buffer.from([1, 2, 3, 4, 17]), OPEN_BAD_PADDING],
        ['pad length 255', Buffer.from([1, 2, 255, 17]), OPEN_BAD_PADDING],
        // openEsp does not insist on 4-byte alignment or a pad length below 4: neither does the addon
        ['unaligned', Buffer.from([9, 0, 17]), 1],
        ['long padding', Buffer.from([1, 2, 3, 4, 5, 5, 4]), 0],
      ];
      const batch = received(cases.map(([, plain], i) => handSeal(keys, i + 1, plain)));
      const nextHeaders = new Uint8Array(batch.capacity);
      new NativeEspContext(keys, 'open').openRaw(batch, SLOTS_IN_ORDER, cases.length, 0, nextHeaders);
      expect(cases.map(([what], i) => [what, batch.lengths[i]])).toEqual(cases.map(([what, , want]) => [what, want]));
      expect(nextHeaders[0]).toBe(17);
      expect(nextHeaders[7]).toBe(4);
      // the reference agrees
      const inb = new InboundSa(SPI, keys);
      const verdicts = cases.map(([, plain], i) => {
        const r = openEsp(handSeal(keys, i + 1, plain), () => inb, Buffer.alloc(64));
        return r.ok ? r.length : r.reason;
      });
      expect(verdicts).toEqual(cases.map(([, , want]) => (want === OPEN_BAD_PADDING ? 'bad-padding' : want)));
    }
  });

  it('reports short and out-of-slot packets without reading past the slot', () => {
    const ctx = new NativeEspContext(keysFor('aes-256-gcm'), 'open');
    const batch = new PacketBatch(8, 128);
    batch.slab.fill(0xee);
    batch.lengths.set([0, 1, ESP_MIN_BYTES - 1, -90, 128 - 8 + 1, 128 - 8, ESP_MIN_BYTES, 2 ** 31 - 1]);
    expect(ctx.openRaw(batch, SLOTS_IN_ORDER, 8, 8, new Uint8Array(8))).toBe(0);
    expect([...batch.lengths]).toEqual([OPEN_SHORT, OPEN_SHORT, OPEN_SHORT, OPEN_SHORT, OPEN_OUT_OF_SLOT, OPEN_AUTH_FAILED, OPEN_AUTH_FAILED, OPEN_OUT_OF_SLOT]);
    expect(openCodeReason(OPEN_OUT_OF_SLOT)).toBe('buffer-too-small');
  });

  it('never crashes on random bytes and lengths', () => {
    const ctxs = ESP_CIPHERS.map((c) => new NativeEspContext(keysFor(c), 'open'));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: -100, max: 400 })), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 299 }),
        fc.boolean(),
        (packets, espAt, chacha) => {
          const batch = new PacketBatch(packets.length, 300);
          packets.forEach(([bytes, len], i) => {
            batch.slot(i).set(bytes.subarray(0, 300 - espAt), espAt);
            batch.lengths[i] = len;
          });
          const opened = ctxs[chacha ? 1 : 0]!.openRaw(batch, SLOTS_IN_ORDER, packets.length, espAt, new Uint8Array(packets.length));
          expect(opened).toBe(0);
          for (const l of batch.lengths) expect([OPEN_SHORT, OPEN_AUTH_FAILED, OPEN_OUT_OF_SLOT]).toContain(l);
        },
      ),
    );
  });
});

describe('openBatch with an inbound SA', () => {
  type Step = { kind: 'fresh' } | { kind: 'again'; back: number } | { kind: 'tamper' } | { kind: 'skip'; by: number } | { kind: 'truncate' };
  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    { weight: 5, arbitrary: fc.constant({ kind: 'fresh' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('again' as const), back: fc.nat(40) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'tamper' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('skip' as const), by: fc.integer({ min: 1, max: 80 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'truncate' as const }) },
  );

  it('drops, counts and delivers exactly as openEsp does packet by packet', () => {
    fc.assert(
      fc.property(cipherArb, fc.array(stepArb, { minLength: 1, maxLength: 120 }), fc.integer({ min: 1, max: 16 }), (cipher, steps, batchSize) => {
        // a stream with replays (within and across batches), gaps, forgeries and truncation
        const keys = keysFor(cipher);
        const out = new OutboundSa(SPI, keys);
        const sent: Buffer[] = [];
        const stream: Buffer[] = [];
        for (const step of steps) {
          if (step.kind === 'again' && sent.length > 0) stream.push(sent[Math.max(0, sent.length - 1 - step.back)]!);
          if (step.kind === 'skip') for (let i = 0; i < step.by; i++) out.advance();
          if (step.kind === 'fresh' || step.kind === 'tamper' || step.kind === 'truncate' || step.kind === 'skip') {
            const p = Buffer.alloc(espSealedLength(sent.length % 50));
            sealEsp(out, Buffer.alloc(sent.length % 50, sent.length), 17, p);
            sent.push(p);
            if (step.kind === 'tamper') stream.push(Buffer.from(p).fill(0, 20, 21));
            else if (step.kind === 'truncate') stream.push(p.subarray(0, 20));
            else stream.push(p);
          }
        }
        const reference = new InboundSa(SPI, keys, { replayWindow: 32 });
        const want = stream.map((p) => {
          const plain = Buffer.alloc(SLOT);
          const r = openEsp(p, () => reference, plain);
          return r.ok ? plain.subarray(0, r.length).toString('hex') : r.reason;
        });

        const inb = new InboundSa(SPI, keys, { replayWindow: 32 });
        const ctx = NativeEspContext.forInbound(inb);
        const batch = new PacketBatch(batchSize, SLOT);
        const nextHeaders = new Uint8Array(batchSize);
        const got: string[] = [];
        let delivered = 0;
        for (let i = 0; i < stream.length; i += batchSize) {
          const chunk = stream.slice(i, i + batchSize);
          chunk.forEach((p, k) => {
            batch.slot(k).set(p, 8);
            batch.lengths[k] = p.length;
          });
          delivered += openBatch(ctx, inb, batch, SLOTS_IN_ORDER, chunk.length, 8, nextHeaders);
          chunk.forEach((_, k) => {
            const l = batch.lengths[k]!;
            got.push(l >= 0 ? batch.packet(k, 8 + ESP_PAYLOAD_OFFSET).toString('hex') : openCodeReason(l));
          });
        }
        ctx.free();
        expect(got).toEqual(want);
        expect(inb.drops).toEqual(reference.drops);
        expect(inb.received).toBe(reference.received);
        expect(delivered).toBe(reference.received);
        expect(inb.window.check(out.sequence + 1)).toBe('fresh');
      }),
      { numRuns: 150 },
    );
  });

  it('moves the window for authentic bad padding but not for forgeries', () => {
    const keys = keysFor('aes-256-gcm');
    const inb = new InboundSa(SPI, keys);
    const ctx = NativeEspContext.forInbound(inb);
    const badPad = handSeal(keys, 5, Buffer.from([1, 3, 17]));
    const forged = Buffer.from(handSeal(keys, 6, Buffer.from([0, 17])));
    forged[forged.length - 1]! ^= 1;
    const batch = received([badPad, forged, badPad]);
    expect(openBatch(ctx, inb, batch, SLOTS_IN_ORDER, 3, 0, new Uint8Array(3))).toBe(0);
    expect([...batch.lengths]).toEqual([OPEN_BAD_PADDING, OPEN_AUTH_FAILED, OPEN_REPLAY]);
    expect(inb.window.check(5)).toBe('replay');
    expect(inb.window.check(6)).toBe('fresh');
    expect(inb.drops['bad-padding'] + inb.drops['auth-failed'] + inb.drops.replay).toBe(3);
  });

  it('marks packets behind the window too old', () => {
    const keys = keysFor('chacha20-poly1305');
    const inb = new InboundSa(SPI, keys, { replayWindow: 32 });
    const ctx = NativeEspContext.forInbound(inb);
    const batch = received([handSeal(keys, 100, Buffer.from([0, 17])), handSeal(keys, 50, Buffer.from([0, 17]))]);
    expect(openBatch(ctx, inb, batch, SLOTS_IN_ORDER, 2, 0, new Uint8Array(2))).toBe(1);
    expect([...batch.lengths]).toEqual([0, OPEN_TOO_OLD]);
  });
});

describe('one context for many batches', () => {
  it('keeps sealing and opening correctly across batches, failures in between', () => {
    for (const cipher of ESP_CIPHERS) {
      const keys = keysFor(cipher);
      const out = new OutboundSa(SPI, keys);
      const inb = new InboundSa(SPI, keys, { replayWindow: 4096 });
      const reference = new InboundSa(SPI, keys, { replayWindow: 4096 });
      const sealer = NativeEspContext.forOutbound(out);
      const opener = NativeEspContext.forInbound(inb);
      const batch = new PacketBatch(32, SLOT);
      const nextHeaders = new Uint8Array(32);
      for (let round = 0; round < 40; round++) {
        const sizes = Array.from({ length: 32 }, (_, i) => (round * 37 + i * 101) % 1450);
        sizes.forEach((n, i) => {
          batch.slot(i).fill(round ^ i, 36, 36 + n);
          batch.lengths[i] = n;
        });
        expect(sealBatch(sealer, out, batch, SLOTS_IN_ORDER, 32, 36).sealed).toBe(32);
        // every packet also opens with the reference, so each batch's bytes are checked, not only round trips
        for (let i = 0; i < 32; i += 7) expect(openEsp(Buffer.from(batch.packet(i, 20)), () => reference, Buffer.alloc(SLOT)).ok).toBe(true);
        if (round % 3 === 0) batch.slab[5 * SLOT + 20 + 30]! ^= 0x40; // one forgery per third batch
        expect(openBatch(opener, inb, batch, SLOTS_IN_ORDER, 32, 20, nextHeaders)).toBe(round % 3 === 0 ? 31 : 32);
        sizes.forEach((n, i) => {
          if (round % 3 === 0 && i === 5) return expect(batch.lengths[i]).toBe(OPEN_AUTH_FAILED);
          expect(batch.lengths[i]).toBe(n);
          expect(batch.packet(i, 36).every((b) => b === ((round ^ i) & 0xff))).toBe(true);
        });
      }
      expect(inb.received).toBe(40 * 32 - 14);
      expect(out.sequence).toBe(40 * 32);
      sealer.free();
      opener.free();
    }
  });
});

describe('misuse is refused before any byte is touched', () => {
  const keys = keysFor('aes-256-gcm');

  it('refuses a freed context, the wrong direction and bad keys', () => {
    const ctx = new NativeEspContext(keys, 'seal');
    const batch = loaded([Buffer.alloc(10)], 16);
    expect(() => ctx.openRaw(batch, SLOTS_IN_ORDER, 1, 0, new Uint8Array(1))).toThrow(/seal, not open/);
    ctx.free();
    ctx.free();
    expect(ctx.freed).toBe(true);
    expect(() => ctx.sealRaw(batch, SLOTS_IN_ORDER, 1, 16, SPI, 1)).toThrow(/freed/);
    expect(() => new NativeEspContext({ ...keys, key: Buffer.alloc(16) }, 'seal')).toThrow(RangeError);
    expect(() => new NativeEspContext({ ...keys, salt: Buffer.alloc(3) }, 'open')).toThrow(RangeError);
    expect(() => sealBatch(new NativeEspContext(keys, 'seal'), new OutboundSa(SPI, keysFor('chacha20-poly1305')), batch, SLOTS_IN_ORDER, 1, 16)).toThrow(/ciphers/);
    expect(batch.lengths[0]).toBe(10);
  });

  it('refuses bad slot lists, offsets and sequence ranges in the addon itself', () => {
    const native = loadNative() as NativeAddon & EspAddon;
    const seal = native.espContext('aes-256-gcm', keys.key, keys.salt, true);
    const open = native.espContext('chacha20-poly1305', keys.key, keys.salt, false);
    const batch = loaded([Buffer.alloc(10, 1), Buffer.alloc(10, 2)], 16, 256);
    const before = Buffer.from(batch.slab);
    const call = (slots: number[], n = slots.length, at = 16, first = 1, ctx = seal): number =>
      native.espSealBatch(ctx, batch.slab, 256, at, batch.lengths, Int32Array.from(slots), n, SPI, first, 17);
    expect(() => call([0, 0])).toThrow(RangeError);
    expect(() => call([2])).toThrow(RangeError);
    expect(() => call([-1])).toThrow(RangeError);
    expect(() => call([0], 2)).toThrow(TypeError);
    expect(() => call([0], 1, 15)).toThrow(TypeError);
    expect(() => call([0], 1, 257)).toThrow(TypeError);
    expect(() => call([0, 1], 2, 16, ESP_MAX_SEQUENCE)).toThrow(TypeError);
    expect(() => call([0], 1, 16, 1, open)).toThrow(/cannot seal/);
    expect(() => call([0], 1, 16, 1, {})).toThrow(TypeError);
    expect(() => call([0], 1, 16, 1, native.watch as unknown as object)).toThrow(TypeError);
    expect(() => native.espOpenBatch(open, batch.slab, 256, 0, batch.lengths, Int32Array.from([1]), 1, new Uint8Array(1))).toThrow(RangeError);
    expect(() => native.espContext('aes-128-gcm' as EspCipher, keys.key, keys.salt, true)).toThrow(TypeError);
    expect(() => native.espContextFree({})).toThrow(TypeError);
    expect(batch.slab.equals(before)).toBe(true);
    expect([...batch.lengths]).toEqual([10, 10]);
    expect(call([0, 1], 2, 16, ESP_MAX_SEQUENCE - 1)).toBe(2);
    native.espContextFree(seal);
    native.espContextFree(seal);
    expect(() => call([0])).toThrow(expect.objectContaining({ code: 'ERR_WEFT_ESP_FREED' }));
  });
});
