import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecords, encodeRecords, FLAG_GONE, RECORD_FORMAT, type PeerRecord } from './peer-record.js';
import { formatMac, parseIpv4, parseMac } from './addresses.js';

const NAME_MAX = (1n << 48n) - 1n;
const arbName = fc.bigInt({ min: 0n, max: NAME_MAX });
const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => formatMac(b));
const arbIp = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
const arbRecord: fc.Arbitrary<PeerRecord> = fc.record({
  name: arbName,
  version: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  gone: fc.boolean(),
  mtu: fc.nat(0xffff),
  addresses: fc.array(arbIp, { maxLength: 4 }),
  bridgeMac: arbMac,
  direct: fc.array(arbName, { maxLength: 4 }),
  relays: fc.array(fc.record({ dest: arbName, via: arbName }), { maxLength: 3 }),
  serving: fc.array(arbName, { maxLength: 3 }),
  endpoints: fc.array(fc.record({ mac: arbMac, ips: fc.array(arbIp, { maxLength: 3 }) }), { maxLength: 4 }),
});

const sample: PeerRecord = {
  name: 0x02_00_00_00_00_01n,
  version: 1_700_000_000_123n,
  gone: false,
  mtu: 1450,
  addresses: ['198.18.0.1', '198.18.1.1'],
  bridgeMac: '02:00:00:00:00:01',
  direct: [0x02_00_00_00_00_02n],
  relays: [{ dest: 0x02_00_00_00_00_03n, via: 0x02_00_00_00_00_02n }],
  serving: [0x02_00_00_00_00_04n],
  endpoints: [{ mac: '0a:58:0a:20:00:05', ips: ['10.32.0.5', '10.32.0.6'] }, { mac: '0a:58:0a:20:00:07', ips: [] }],
};

describe('peer record codec', () => {
  it('round-trips arbitrary records', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 5 }), (records) => {
        const d = decodeRecords(encodeRecords(records));
        expect(d).toEqual({ ok: true, value: records });
      }),
    );
  });

  it('lays out the header and the first record fields as documented', () => {
    const b = encodeRecords([{ ...sample, gone: true }]);
    expect(b[0]).toBe(RECORD_FORMAT);
    expect(b.readUInt16BE(1)).toBe(1);
    expect(b.subarray(3, 9).toString('hex')).toBe('020000000001');
    expect(b.readBigUInt64BE(9)).toBe(sample.version);
    expect(b[17]).toBe(FLAG_GONE);
    expect(b.readUInt16BE(18)).toBe(1450);
    expect(b[20]).toBe(2);
    expect([...b.subarray(21, 25)]).toEqual([198, 18, 0, 1]);
  });

  it('encodes an empty message as format and a zero count', () => {
    expect(encodeRecords([])).toEqual(Buffer.from([RECORD_FORMAT, 0, 0]));
    expect(decodeRecords(Buffer.from([RECORD_FORMAT, 0, 0]))).toEqual({ ok: true, value: [] });
  });

  it('ignores unknown flag bits but reads the tombstone bit', () => {
    const b = encodeRecords([sample]);
    b[17] = 0xfe;
    const d = decodeRecords(b);
    expect(d.ok && d.value[0]!.gone).toBe(false);
    b[17] = 0xff;
    const d2 = decodeRecords(b);
    expect(d2.ok && d2.value[0]!.gone).toBe(true);
  });

  it('rejects an empty buffer, an unknown format and a truncated count with reasons', () => {
    expect(decodeRecords(Buffer.alloc(0))).toEqual({ ok: false, reason: 'empty dataplane message' });
    expect(decodeRecords(Buffer.from([2, 0, 0]))).toEqual({ ok: false, reason: 'unknown dataplane record format 2' });
    expect(decodeRecords(Buffer.from([RECORD_FORMAT, 0]))).toEqual({ ok: false, reason: 'truncated record count' });
  });

  it('rejects trailing bytes', () => {
    const b = Buffer.concat([encodeRecords([sample]), Buffer.from([0])]);
    expect(decodeRecords(b)).toEqual({ ok: false, reason: '1 trailing bytes after 1 records' });
  });

  it('rejects every truncation of a valid message', () => {
    const b = encodeRecords([sample, { ...sample, name: 7n }]);
    for (let n = 0; n < b.length; n++) {
      const d = decodeRecords(b.subarray(0, n));
      expect(d.ok, `length ${n}`).toBe(false);
      if (!d.ok) expect(d.reason.length).toBeGreaterThan(0);
    }
  });

  it('rejects a count larger than the records present', () => {
    const b = encodeRecords([sample]);
    b.writeUInt16BE(2, 1);
    expect(decodeRecords(b)).toEqual({ ok: false, reason: 'truncated or malformed record 1 of 2' });
  });

  it('rejects an endpoint count beyond the bytes present', () => {
    const b = encodeRecords([{ ...sample, endpoints: [] }]);
    b.writeUInt32BE(0xffffffff, b.length - 4);
    const d = decodeRecords(b);
    expect(d.ok).toBe(false);
  });

  it('never throws on random bytes and always gives a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const d = decodeRecords(Buffer.from(bytes));
        if (!d.ok) expect(typeof d.reason).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on valid messages with bytes flipped, cut or appended', () => {
    fc.assert(
      fc.property(
        fc.array(arbRecord, { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.nat(255),
        fc.nat(),
        fc.uint8Array({ maxLength: 8 }),
        (records, at, value, cut, tail) => {
          const b = encodeRecords(records);
          b[at % b.length] = value;
          const mangled = Buffer.concat([b.subarray(0, cut % (b.length + 1)), tail]);
          const d = decodeRecords(mangled);
          if (!d.ok) expect(d.reason).not.toBe('');
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('MAC and IPv4 text', () => {
  it('parses and formats MACs', () => {
    expect(parseMac('0A:58:0a:20:00:05')).toEqual(Buffer.from([0x0a, 0x58, 0x0a, 0x20, 0, 5]));
    expect(formatMac(Buffer.from([0x0a, 0x58, 0x0a, 0x20, 0, 5]))).toBe('0a:58:0a:20:00:05');
    for (const bad of ['', '0a:58:0a:20:00', '0a:58:0a:20:00:05:01', '0a-58-0a-20-00-05', 'zz:58:0a:20:00:05']) expect(parseMac(bad)).toBeUndefined();
  });

  it('parses dotted quads only', () => {
    expect(parseIpv4('198.18.0.1')).toEqual(Buffer.from([198, 18, 0, 1]));
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.-1', '1.2.3.x', '1..2.3', '1234.1.1.1']) expect(parseIpv4(bad)).toBeUndefined();
  });
});
