import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ESP_CIPHERS, type EspCipher } from '../crypto/esp-sa.js';
import { ESP_CHANNEL, decodeEspMessage, encodeEspMessage, type EspMessage } from './esp-messages.js';

const SALT = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

/** A message built byte by byte from the layout in esp-messages.ts. */
function raw(type: number, body: number[] | Buffer, opts: { version?: number; uid?: bigint; epoch?: number } = {}): Buffer {
  const head = Buffer.alloc(14);
  head[0] = opts.version ?? 1;
  head[1] = type;
  head.writeBigUInt64BE(opts.uid ?? 7n, 2);
  head.writeUInt32BE(opts.epoch ?? 3, 10);
  return Buffer.concat([head, Buffer.from(body)]);
}

/** SPI (4) and salt (16) of an offer or answer body. */
function spiSalt(spi: number): number[] {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(spi);
  return [...b, ...SALT];
}

function reason(b: Buffer): string {
  const d = decodeEspMessage(b);
  if (d.ok) throw new Error(`decoded ${JSON.stringify(d.value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return d.reason;
}

const messageArb: fc.Arbitrary<EspMessage> = fc.oneof(
  fc.record({
    type: fc.constant('offer' as const),
    uid: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    epoch: fc.nat({ max: 0xffff_ffff }),
    spi: fc.integer({ min: 256, max: 0xffff_ffff }),
    salt: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
    ciphers: fc.array(fc.constantFrom(...ESP_CIPHERS), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    type: fc.constant('answer' as const),
    uid: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    epoch: fc.nat({ max: 0xffff_ffff }),
    spi: fc.integer({ min: 256, max: 0xffff_ffff }),
    salt: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
    cipher: fc.constantFrom(...ESP_CIPHERS),
  }),
  fc.record({ type: fc.constantFrom('confirm' as const, 'rekey' as const), uid: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), epoch: fc.nat({ max: 0xffff_ffff }) }),
);

describe('ESP key-exchange messages', () => {
  it('travel on the weft-esp gossip channel', () => {
    expect(ESP_CHANNEL).toBe('weft-esp');
  });

  it('encode an offer with the documented layout', () => {
    const m: EspMessage = { type: 'offer', uid: 0x0102030405060708n, epoch: 0x0a0b0c0d, spi: 0xdeadbeef, salt: SALT, ciphers: ['chacha20-poly1305', 'aes-256-gcm'] };
    expect(encodeEspMessage(m).toString('hex')).toBe('0101' + '0102030405060708' + '0a0b0c0d' + 'deadbeef' + SALT.toString('hex') + '02' + '0201');
  });

  it('encode answer, confirm and rekey with the documented layout', () => {
    const answer: EspMessage = { type: 'answer', uid: 1n, epoch: 2, spi: 0x100, salt: SALT, cipher: 'aes-256-gcm' };
    expect(encodeEspMessage(answer).toString('hex')).toBe('0102' + '0000000000000001' + '00000002' + '00000100' + SALT.toString('hex') + '01');
    expect(encodeEspMessage({ type: 'confirm', uid: 1n, epoch: 2 }).toString('hex')).toBe('0103' + '0000000000000001' + '00000002');
    expect(encodeEspMessage({ type: 'rekey', uid: 2n ** 64n - 1n, epoch: 0xffff_ffff }).toString('hex')).toBe('0104' + 'ff'.repeat(8) + 'ffffffff');
  });

  it.each<EspMessage>([
    { type: 'offer', uid: 0n, epoch: 1, spi: 256, salt: SALT, ciphers: ['aes-256-gcm'] },
    { type: 'offer', uid: 2n ** 64n - 1n, epoch: 0xffff_ffff, spi: 0xffff_ffff, salt: SALT, ciphers: ['chacha20-poly1305', 'aes-256-gcm'] },
    { type: 'answer', uid: 99n, epoch: 5, spi: 0x12345678, salt: SALT, cipher: 'chacha20-poly1305' },
    { type: 'confirm', uid: 99n, epoch: 5 },
    { type: 'rekey', uid: 99n, epoch: 6 },
  ])('round-trip: $type', (m) => {
    expect(decodeEspMessage(encodeEspMessage(m))).toEqual({ ok: true, value: m });
  });

  it('round-trip any message (property)', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(decodeEspMessage(encodeEspMessage(m))).toEqual({ ok: true, value: m });
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('decodes a salt that does not share memory with the received buffer', () => {
    const b = encodeEspMessage({ type: 'answer', uid: 1n, epoch: 1, spi: 0x1000, salt: SALT, cipher: 'aes-256-gcm' });
    const d = decodeEspMessage(b);
    b.fill(0);
    expect(d.ok && d.value.type === 'answer' && d.value.salt.equals(SALT)).toBe(true);
  });

  it('skips cipher ids it does not know in an offer, keeping the order of the rest', () => {
    const d = decodeEspMessage(raw(1, [...spiSalt(0x1000), 3, 9, 2, 1]));
    expect(d.ok && d.value.type === 'offer' && d.value.ciphers).toEqual(['chacha20-poly1305', 'aes-256-gcm']);
    const none = decodeEspMessage(raw(1, [...spiSalt(0x1000), 2, 0, 200]));
    expect(none.ok && none.value.type === 'offer' && none.value.ciphers).toEqual([]);
  });

  it.each<[string, Buffer, RegExp]>([
    ['empty', Buffer.alloc(0), /0 bytes/],
    ['a header cut short', raw(3, []).subarray(0, 13), /13 bytes/],
    ['version 0', raw(3, [], { version: 0 }), /version 0/],
    ['version 2', raw(3, [], { version: 2 }), /version 2/],
    ['type 0', raw(0, []), /unknown type 0/],
    ['type 5', raw(5, []), /unknown type 5/],
    ['type 255', raw(255, []), /unknown type 255/],
    ['a confirm with a trailing byte', raw(3, [0]), /confirm: 1 trailing/],
    ['a rekey with trailing bytes', raw(4, [1, 2]), /rekey: 2 trailing/],
    ['an offer without a body', raw(1, []), /offer: body too short/],
    ['an offer without its cipher count', raw(1, spiSalt(0x1000)), /offer: body too short/],
    ['an answer cut inside the salt', raw(2, spiSalt(0x1000).slice(0, 19)), /answer: body too short/],
    ['an answer without its cipher', raw(2, spiSalt(0x1000)), /answer: body too short/],
    ['an offer with SPI 0', raw(1, [...spiSalt(0), 1, 1]), /reserved SPI 0/],
    ['an answer with SPI 255', raw(2, [...spiSalt(255), 1]), /reserved SPI 255/],
    ['an answer with two bytes after the salt', raw(2, [...spiSalt(0x1000), 1, 1]), /2 bytes after the salt/],
    ['an answer with cipher id 0', raw(2, [...spiSalt(0x1000), 0]), /unknown cipher 0/],
    ['an answer with cipher id 3', raw(2, [...spiSalt(0x1000), 3]), /unknown cipher 3/],
    ['an offer listing no ciphers', raw(1, [...spiSalt(0x1000), 0]), /cipher list of 0/],
    ['an offer listing more ciphers than it carries', raw(1, [...spiSalt(0x1000), 2, 1]), /cipher list of 2 in 1/],
    ['an offer with bytes after its cipher list', raw(1, [...spiSalt(0x1000), 1, 1, 2]), /cipher list of 1 in 2/],
  ])('rejects %s with a reason', (_, b, want) => {
    expect(reason(b)).toMatch(want);
  });

  it('never throws on random bytes, and what it accepts re-encodes to the same message (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (u) => {
        const d = decodeEspMessage(Buffer.from(u));
        if (d.ok) expect(decodeEspMessage(encodeEspMessage(d.value))).toEqual(d);
        else expect(d.reason).toMatch(/^esp /);
      }),
      { seed: 11, numRuns: 2000 },
    );
  });

  it('never throws on valid messages with a byte changed, cut or appended (property)', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'cut', 'append'), (m, at, byte, how) => {
        let b = encodeEspMessage(m);
        const i = at % b.length;
        if (how === 'flip') b[i] = byte;
        else if (how === 'cut') b = b.subarray(0, i);
        else b = Buffer.concat([b, Buffer.from([byte])]);
        const d = decodeEspMessage(b);
        expect(typeof d.ok).toBe('boolean');
        if (how === 'cut') expect(d.ok).toBe(false);
      }),
      { seed: 13, numRuns: 2000 },
    );
  });

  it('decodes only the cipher ids it encodes', () => {
    const ids = new Map<number, EspCipher>();
    for (const c of ESP_CIPHERS) {
      const b = encodeEspMessage({ type: 'answer', uid: 1n, epoch: 1, spi: 0x1000, salt: SALT, cipher: c });
      ids.set(b[b.length - 1]!, c);
    }
    expect(ids.size).toBe(ESP_CIPHERS.length);
    for (let id = 0; id < 256; id++) {
      const d = decodeEspMessage(raw(2, [...spiSalt(0x1000), id]));
      expect(d.ok ? d.value.type === 'answer' && d.value.cipher : undefined).toBe(ids.get(id));
    }
  });
});
