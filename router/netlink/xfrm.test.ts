// XFRM messages byte for byte. Three independent references: (1) hex written by hand from the
// struct layouts in <linux/xfrm.h>, (2) a C program that fills the same structs with the header
// installed on this machine (when a C compiler is present), (3) replies captured from Debian's
// 6.1 kernel by test/vm/xfrm-probe.ts. Then decode(encode(x)) as a property, random bytes, and
// the kernel of this machine in a throwaway namespace (policies only: it has no ESP).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetlinkClient } from './client.js';
import { openNetlinkSocket } from './socket.js';
import {
  IPSEC_PROTO_ANY, NETLINK_XFRM, UDP_ENCAP_ESPINUDP, USERPOLICY_ID_LEN, USERPOLICY_INFO_LEN, USERSA_ID_LEN, USERSA_INFO_LEN,
  USER_EXPIRE_LEN, XFRMA_REPLAY_ESN_VAL, XFRM_MSG_DELPOLICY, XFRM_MSG_DELSA, XFRM_MSG_FLUSHPOLICY, XFRM_MSG_FLUSHSA,
  XFRM_MSG_GETPOLICY, XFRM_MSG_GETSA, XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA, XFRM_MSG_UPDPOLICY, XFRM_MSG_UPDSA, aeadFor,
  decodeExpire, decodePolicy, decodeSa, deletePolicy, deleteSa, dumpPolicies, dumpSas, espKeysOf, flushPolicies, flushSas,
  getPolicy, getSa, newPolicy, newSa, updatePolicy, updateSa, xfrmMessageName, type XfrmPolicy, type XfrmSa,
} from './xfrm.js';
import { NLM_F_DUMP } from './constants.js';
import { canUseNetns } from '../../test/harness/privileges.js';

const hex = (b: Buffer): string => b.toString('hex');
const zeros = (n: number): string => '00'.repeat(n);
const INF = 'ff'.repeat(8);
const KEY = Buffer.from(Array.from({ length: 36 }, (_, i) => i));

const sel = { src: '198.18.0.1/32', dst: '198.18.0.2/32', proto: 17, dport: 6784 };
const sa: XfrmSa = {
  src: '198.18.0.1', dst: '198.18.0.2', spi: 0x0100_0001, mode: 'transport', reqid: 7, selector: sel,
  aead: { name: 'rfc4106(gcm(aes))', key: KEY, icvBits: 128 },
  encap: { type: UDP_ENCAP_ESPINUDP, sport: 6783, dport: 6783 },
  replayWindow: 32, lifetime: { hardPackets: 0xf000_0000, softAddSeconds: 3600 },
};
const outPolicy: XfrmPolicy = {
  selector: sel, dir: 'out', priority: 100, templates: [{ src: '198.18.0.1', dst: '198.18.0.2', mode: 'transport', reqid: 7 }],
};

// xfrm_selector: daddr, saddr (16 each), dport 6784 be + mask, sport + mask 0, family AF_INET, /32 /32, UDP, pad, ifindex, user.
const SELECTOR_HEX = 'c6120002' + zeros(12) + 'c6120001' + zeros(12) + '1a80ffff' + '00000000' + '0200' + '20' + '20' + '11' + zeros(3) + zeros(4) + zeros(4);

describe('xfrm requests, from the <linux/xfrm.h> layouts', () => {
  it('ip xfrm state add … proto esp mode transport reqid 7 replay-window 32 aead rfc4106(gcm(aes)) … 128 encap espinudp 6783 6783 sel …', () => {
    const r = newSa(sa);
    expect([r.type, r.flags]).toEqual([XFRM_MSG_NEWSA, 0]);
    expect(hex(r.payload)).toBe(
      SELECTOR_HEX +
        'c6120002' + zeros(12) + '01000001' + '32' + zeros(3) + // xfrm_id: daddr, SPI big-endian, IPPROTO_ESP
        'c6120001' + zeros(12) + // saddr
        INF + INF + INF + '000000f000000000' + '100e000000000000' + zeros(8) + zeros(8) + zeros(8) + // lft: packets 0xf0000000, soft add 3600 s; no time limit = 0
        zeros(32) + zeros(12) + // curlft, stats
        '00000000' + '07000000' + '0200' + '00' + '20' + '00' + zeros(7) + // seq, reqid, family, transport, window 32, flags, pad to 224
        '7000' + '1200' + Buffer.from('rfc4106(gcm(aes))').toString('hex') + zeros(64 - 17) + '20010000' + '80000000' + hex(KEY) + // XFRMA_ALG_AEAD: 288-bit key, 128-bit ICV
        '1c00' + '0400' + '0200' + '1a7f' + '1a7f' + '0000' + zeros(16), // XFRMA_ENCAP: ESPINUDP, 6783 → 6783, no original address
    );
    expect(r.payload.length).toBe(USERSA_INFO_LEN + 112 + 28);
  });

  it('a window above 32 goes in XFRMA_REPLAY_ESN_VAL (bitmap, no ESN flag) and the legacy byte is 0', () => {
    const p = newSa({ ...sa, replayWindow: 64, encap: undefined, lifetime: undefined }).payload;
    expect(p[215]).toBe(0);
    expect(hex(p.subarray(USERSA_INFO_LEN + 112))).toBe('2400' + '1700' + '02000000' + zeros(16) + '40000000' + zeros(8)); // bmp_len 2, window 64, bmp[2]
    expect(XFRMA_REPLAY_ESN_VAL).toBe(0x17);
    expect(() => newSa({ ...sa, replayWindow: 4097 })).toThrow(RangeError);
    expect(() => newSa({ ...sa, src: 'fe80::1' })).toThrow();
  });

  it('no limits: XFRM_INF for bytes and packets, 0 for seconds (INF seconds would expire the SA at once)', () => {
    const p = newSa({ ...sa, lifetime: undefined }).payload;
    expect(hex(p.subarray(96, 160))).toBe(INF.repeat(4) + zeros(32));
  });

  it('xfrm_usersa_id for delete and get, with the source narrowing a delete', () => {
    const d = deleteSa({ dst: '198.18.0.2', spi: 0x0100_0001, src: '198.18.0.1' });
    expect(d.type).toBe(XFRM_MSG_DELSA);
    expect(hex(d.payload)).toBe('c6120002' + zeros(12) + '01000001' + '0200' + '32' + '00' + '1400' + '0d00' + 'c6120001' + zeros(12)); // + XFRMA_SRCADDR
    const g = getSa({ dst: '198.18.0.2', spi: 0x0100_0001 });
    expect([g.type, g.payload.length]).toEqual([XFRM_MSG_GETSA, USERSA_ID_LEN]);
    expect(updateSa(sa)).toEqual({ ...newSa(sa), type: XFRM_MSG_UPDSA });
  });

  it('ip xfrm policy add … dir out priority 100 tmpl src … dst … proto esp reqid 7 mode transport', () => {
    const r = newPolicy(outPolicy);
    expect([r.type, r.flags]).toEqual([XFRM_MSG_NEWPOLICY, 0]);
    expect(hex(r.payload)).toBe(
      SELECTOR_HEX +
        INF + INF + INF + INF + zeros(32) + zeros(32) + // lft, curlft
        '64000000' + '00000000' + '01' + '00' + '00' + '00' + zeros(4) + // priority 100, index, dir out, allow, flags, share, pad to 168
        '4400' + '0500' + // XFRMA_TMPL with one xfrm_user_tmpl (64)
        'c6120002' + zeros(12) + '00000000' + '32' + zeros(3) + '0200' + '0000' + 'c6120001' + zeros(12) + '07000000' + '00' + '00' + '00' + '00' +
        'ffffffff'.repeat(3), // every algorithm allowed: the inbound check tests the SA's algorithm against these
    );
    expect(updatePolicy(outPolicy).type).toBe(XFRM_MSG_UPDPOLICY);
  });

  it('xfrm_userpolicy_id for delete and get; dumps and flushes', () => {
    const d = deletePolicy({ selector: sel, dir: 'in' });
    expect([d.type, hex(d.payload)]).toEqual([XFRM_MSG_DELPOLICY, SELECTOR_HEX + '00000000' + '00' + zeros(3)]);
    expect(getPolicy({ selector: sel, dir: 'fwd', index: 9 }).payload.subarray(56)).toEqual(Buffer.from('0900000002000000', 'hex'));
    expect(getPolicy({ selector: sel, dir: 'out' })).toMatchObject({ type: XFRM_MSG_GETPOLICY });
    expect(dumpSas()).toEqual({ type: XFRM_MSG_GETSA, flags: NLM_F_DUMP, payload: Buffer.alloc(0) });
    expect(hex(dumpSas(50).payload)).toBe('05001900' + '32000000'); // XFRMA_PROTO u8 ESP, padded
    expect(dumpPolicies()).toEqual({ type: XFRM_MSG_GETPOLICY, flags: NLM_F_DUMP, payload: Buffer.alloc(0) });
    expect(flushSas()).toEqual({ type: XFRM_MSG_FLUSHSA, flags: 0, payload: Buffer.from([IPSEC_PROTO_ANY]) });
    expect(flushPolicies()).toEqual({ type: XFRM_MSG_FLUSHPOLICY, flags: 0, payload: Buffer.alloc(0) });
    expect(xfrmMessageName(XFRM_MSG_NEWSA)).toBe('XFRM_MSG_NEWSA');
  });

  it("weft's ciphers map to the kernel's AEAD names with key ‖ salt and a 128-bit ICV, and back", () => {
    const key = Buffer.alloc(32, 0xab);
    const salt = Buffer.from('01020304', 'hex');
    expect(aeadFor({ cipher: 'aes-256-gcm', key, salt })).toEqual({ name: 'rfc4106(gcm(aes))', key: Buffer.concat([key, salt]), icvBits: 128 });
    const cc = aeadFor({ cipher: 'chacha20-poly1305', key, salt });
    expect(cc.name).toBe('rfc7539esp(chacha20,poly1305)');
    expect(espKeysOf(cc)).toEqual({ cipher: 'chacha20-poly1305', key, salt });
    expect(espKeysOf({ ...cc, icvBits: 96 })).toBeUndefined();
    expect(espKeysOf({ name: 'rfc4106(gcm(aes))', key: Buffer.alloc(20), icvBits: 128 })).toBeUndefined();
  });
});

// Replies of Debian's linux-image-6.1.0-56-amd64 to GETSA and a policy dump, captured by
// `WEFT_XFRM_PROBE_RAW=1 node dist/test/vm/xfrm-probe.js` in the VM (random test keys). After the
// probe's traffic: 4 packets in, one replay, one out of window, one bad ICV, highest sequence 101.
const KERNEL_GETSA_AES =
  'c6120002000000000000000000000000c61200010000000000000000000000001a80ffff0000000002002020110000000000000000000000' +
  'c61200020000000000000000000000000100000132000000c6120001000000000000000000000000ffffffffffffffffffffffffffffffff' +
  'ffffffffffffffffffffffffffffffff00000000000000000000000000000000000000000000000000000000000000009800000000000000' +
  '04000000000000006a69066b000000006a69066b000000000100000001000000010000000000000007000000020000000000000000000000' +
  '70001200726663343130362867636d2861657329290000000000000000000000000000000000000000000000000000000000000000000000' +
  '0000000000000000000000002001000080000000f43abc5c64d551ec646648ca36a0d2c065d05c062b7446e4b94a74a0af046eff26bb8608' +
  '1c00040002001a7f1a7f00000000000000000000000000000000000024001700020000000000000065000000000000000000000040000000' +
  '0000000010000000';
const KERNEL_GETSA_CHACHA =
  'c6120002000000000000000000000000c61200010000000000000000000000001a80ffff0000000002002020110000000000000000000000' +
  'c61200020000000000000000000000000100001132000000c6120001000000000000000000000000ffffffffffffffffffffffffffffffff' +
  'ffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000000000000000000000000b000000000000000' +
  '04000000000000006c69066b000000006c69066b000000000100000001000000010000000000000007000000020000200000000000000000' +
  '70001200726663373533396573702863686163686132302c706f6c7931333035290000000000000000000000000000000000000000000000' +
  '0000000000000000000000002001000080000000befb2d4dde49af99931084d7d0df266d9349a80278f3fc133ff298b88faca2ef0585aec6' +
  '1c00040002001a7f1a7f00000000000000000000000000000000000010000a00000000006500000001000000';
const KERNEL_POLICY =
  'c6120001000000000000000000000000c61200020000000000000000000000001a80ffff0000000002002020110000000000000000000000' +
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff000000000000000000000000000000000000000000000000' +
  '0000000000000000000000000000000000000000000000006a69066b000000006a69066b0000000064000000090000000100000000000000' +
  '44000500c6120001000000000000000000000000000000003200000002000000c61200020000000000000000000000000700000000000000' +
  'ffffffffffffffffffffffff0a0010000000000000000000';

describe('xfrm replies from a real kernel', () => {
  it('GETSA with a bitmap replay state (AES-GCM, window 64)', () => {
    const r = decodeSa(Buffer.from(KERNEL_GETSA_AES, 'hex'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { aead, ...rest } = r.value;
    expect(rest).toEqual({
      family: 2, src: '198.18.0.1', dst: '198.18.0.2', spi: 0x0100_0001, proto: 50, mode: 'transport', reqid: 7,
      selector: { src: '198.18.0.1/32', dst: '198.18.0.2/32', proto: 17, dport: 6784 },
      replayWindow: 64, flags: 0, lifetime: {},
      current: { bytes: 152, packets: 4, addTime: 0x6b06696a, useTime: 0x6b06696a },
      stats: { replayWindow: 1, replay: 1, integrityFailed: 1 },
      encap: { type: UDP_ENCAP_ESPINUDP, sport: 6783, dport: 6783 },
      replay: { outbound: 0, inbound: 101 },
    });
    expect(aead?.name).toBe('rfc4106(gcm(aes))');
    expect([aead?.key.length, aead?.icvBits]).toEqual([36, 128]);
    expect(espKeysOf(aead!)?.cipher).toBe('aes-256-gcm');
  });

  it('GETSA with the legacy replay state (ChaCha20-Poly1305, window 32)', () => {
    const r = decodeSa(Buffer.from(KERNEL_GETSA_CHACHA, 'hex'));
    expect(r.ok && r.value).toMatchObject({
      spi: 0x0100_0011, replayWindow: 32, replay: { outbound: 0, inbound: 101 }, current: { bytes: 176, packets: 4 },
      aead: { name: 'rfc7539esp(chacha20,poly1305)', icvBits: 128 },
    });
  });

  it('a policy from a dump', () => {
    expect(decodePolicy(Buffer.from(KERNEL_POLICY, 'hex'))).toEqual({
      ok: true,
      value: {
        family: 2, selector: { src: '198.18.0.2/32', dst: '198.18.0.1/32', proto: 17, dport: 6784 }, dir: 'out', action: 'allow',
        priority: 100, index: 9, current: { bytes: 0, packets: 0, addTime: 0x6b06696a, useTime: 0x6b06696a },
        templates: [{ src: '198.18.0.2', dst: '198.18.0.1', proto: 50, spi: 0, mode: 'transport', reqid: 7 }],
      },
    });
  });

  it('an expire event is the SA plus the hard flag', () => {
    const body = Buffer.alloc(USER_EXPIRE_LEN);
    Buffer.from(KERNEL_GETSA_AES, 'hex').copy(body, 0, 0, USERSA_INFO_LEN);
    body[USERSA_INFO_LEN] = 1;
    expect(decodeExpire(body)).toMatchObject({ ok: true, value: { hard: true, sa: { spi: 0x0100_0001 } } });
    expect(decodeExpire(body.subarray(0, USERSA_INFO_LEN))).toMatchObject({ ok: false });
  });
});

describe('xfrm codec properties', () => {
  const ip = fc.ipV4();
  const port = fc.integer({ min: 0, max: 0xffff });
  const selector = fc.record(
    { src: fc.tuple(ip, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`), dst: fc.tuple(ip, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`), proto: fc.integer({ min: 1, max: 255 }), sport: port, dport: port },
    { requiredKeys: ['src', 'dst'] },
  );
  const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
  const count = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
  const lifetime = fc.record({ softBytes: count, hardBytes: count, softPackets: count, hardPackets: count, softAddSeconds: count, hardAddSeconds: count, softUseSeconds: count, hardUseSeconds: count }, { requiredKeys: [] });
  const arbSa: fc.Arbitrary<XfrmSa> = fc.record(
    {
      src: ip, dst: ip, spi: u32, proto: fc.constantFrom(50, 51), mode: fc.constantFrom('transport' as const, 'tunnel' as const), reqid: u32,
      selector,
      aead: fc.record({ name: fc.constantFrom('rfc4106(gcm(aes))', 'rfc7539esp(chacha20,poly1305)'), key: fc.uint8Array({ minLength: 0, maxLength: 40 }).map((k) => Buffer.from(k)), icvBits: fc.constantFrom(64, 96, 128) }),
      encap: fc.record({ type: fc.integer({ min: 0, max: 0xffff }), sport: port, dport: port }),
      replayWindow: fc.integer({ min: 0, max: 4096 }), flags: fc.integer({ min: 0, max: 255 }), lifetime,
      mark: fc.record({ value: u32, mask: u32 }), ifId: u32,
    },
    { requiredKeys: ['src', 'dst', 'spi', 'proto', 'mode', 'reqid', 'selector', 'aead', 'replayWindow', 'flags', 'lifetime'] },
  );

  it('decodeSa(newSa(sa)) = sa, with zero counters', () => {
    fc.assert(
      fc.property(arbSa, (s) => {
        const r = decodeSa(newSa(s).payload);
        expect(r).toEqual({
          ok: true,
          value: { ...s, family: 2, current: { bytes: 0, packets: 0, addTime: 0, useTime: 0 }, stats: { replayWindow: 0, replay: 0, integrityFailed: 0 }, ...((s.replayWindow ?? 0) > 32 ? { replay: { outbound: 0, inbound: 0 } } : {}) },
        });
      }),
    );
  });

  it('decodePolicy(newPolicy(p)) = p', () => {
    const tmpl = fc.record(
      { src: ip, dst: ip, proto: fc.constantFrom(50, 51), spi: u32, mode: fc.constantFrom('transport' as const, 'tunnel' as const), reqid: u32, optional: fc.constant(true) },
      { requiredKeys: ['src', 'dst', 'proto', 'spi', 'mode', 'reqid'] },
    );
    const policy = fc.record(
      { selector, dir: fc.constantFrom('in' as const, 'out' as const, 'fwd' as const), action: fc.constantFrom('allow' as const, 'block' as const), priority: u32, index: u32, templates: fc.array(tmpl, { maxLength: 4 }), mark: fc.record({ value: u32, mask: u32 }), ifId: u32 },
      { requiredKeys: ['selector', 'dir', 'action', 'priority', 'index', 'templates'] },
    );
    fc.assert(
      fc.property(policy, (p) => {
        expect(decodePolicy(newPolicy(p).payload)).toEqual({ ok: true, value: { ...p, family: 2, current: { bytes: 0, packets: 0, addTime: 0, useTime: 0 } } });
      }),
    );
  });

  it('random bytes never throw; short or inconsistent messages give a reason', () => {
    const bytes = fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b));
    fc.assert(fc.property(bytes, (b) => void (decodeSa(b), decodePolicy(b), decodeExpire(b))));
    expect(decodeSa(Buffer.alloc(USERSA_INFO_LEN - 1))).toMatchObject({ ok: false });
    expect(decodePolicy(Buffer.alloc(USERPOLICY_INFO_LEN - 1))).toMatchObject({ ok: false });
    const badMode = Buffer.from(newSa(sa).payload);
    badMode[214] = 9;
    expect(decodeSa(badMode)).toMatchObject({ ok: false, reason: expect.stringContaining('mode 9') });
    const shortKey = Buffer.from(newSa(sa).payload);
    shortKey.writeUInt32LE(4096, USERSA_INFO_LEN + 4 + 64);
    expect(decodeSa(shortKey)).toMatchObject({ ok: false, reason: expect.stringContaining('XFRMA_ALG_AEAD') });
    const badTmpl = Buffer.from(newPolicy(outPolicy).payload);
    badTmpl.writeUInt16LE(4 + 63, USERPOLICY_INFO_LEN);
    expect(decodePolicy(badTmpl)).toMatchObject({ ok: false });
  });
});

// The same structs filled by C against the installed header: catches a layout drift in either direction.
const C_LAYOUT = String.raw`
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/xfrm.h>
static void dump(const char *name, const void *p, size_t n) {
  printf("%s ", name);
  for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
  printf("\n");
}
static void selector(struct xfrm_selector *s) {
  inet_pton(AF_INET, "198.18.0.2", &s->daddr.a4);
  inet_pton(AF_INET, "198.18.0.1", &s->saddr.a4);
  s->dport = htons(6784); s->dport_mask = 0xffff; s->family = AF_INET; s->prefixlen_d = 32; s->prefixlen_s = 32; s->proto = 17;
}
int main(void) {
  struct xfrm_usersa_info sa; memset(&sa, 0, sizeof sa);
  selector(&sa.sel);
  inet_pton(AF_INET, "198.18.0.2", &sa.id.daddr.a4); sa.id.spi = htonl(0x01000001); sa.id.proto = 50;
  inet_pton(AF_INET, "198.18.0.1", &sa.saddr.a4);
  sa.lft.soft_byte_limit = sa.lft.hard_byte_limit = sa.lft.soft_packet_limit = XFRM_INF;
  sa.lft.hard_packet_limit = 0xf0000000u; sa.lft.soft_add_expires_seconds = 3600;
  sa.reqid = 7; sa.family = AF_INET; sa.mode = XFRM_MODE_TRANSPORT; sa.replay_window = 32;
  dump("usersa_info", &sa, sizeof sa);
  struct { struct xfrm_algo_aead a; char key[36]; } aead; memset(&aead, 0, sizeof aead);
  strcpy(aead.a.alg_name, "rfc4106(gcm(aes))"); aead.a.alg_key_len = 288; aead.a.alg_icv_len = 128;
  for (int i = 0; i < 36; i++) aead.key[i] = (char)i;
  dump("algo_aead", &aead, sizeof aead.a + 36);
  struct xfrm_encap_tmpl e; memset(&e, 0, sizeof e);
  e.encap_type = 2; e.encap_sport = htons(6783); e.encap_dport = htons(6783);
  dump("encap_tmpl", &e, sizeof e);
  struct xfrm_userpolicy_info p; memset(&p, 0, sizeof p);
  selector(&p.sel);
  p.lft.soft_byte_limit = p.lft.hard_byte_limit = p.lft.soft_packet_limit = p.lft.hard_packet_limit = XFRM_INF;
  p.priority = 100; p.dir = XFRM_POLICY_OUT; p.action = XFRM_POLICY_ALLOW;
  dump("userpolicy_info", &p, sizeof p);
  struct xfrm_user_tmpl t; memset(&t, 0, sizeof t);
  inet_pton(AF_INET, "198.18.0.2", &t.id.daddr.a4); t.id.proto = 50; t.family = AF_INET;
  inet_pton(AF_INET, "198.18.0.1", &t.saddr.a4); t.reqid = 7; t.mode = XFRM_MODE_TRANSPORT;
  t.aalgos = t.ealgos = t.calgos = ~0u;
  dump("user_tmpl", &t, sizeof t);
  struct xfrm_usersa_id id; memset(&id, 0, sizeof id);
  inet_pton(AF_INET, "198.18.0.2", &id.daddr.a4); id.spi = htonl(0x01000001); id.family = AF_INET; id.proto = 50;
  dump("usersa_id", &id, sizeof id);
  struct xfrm_userpolicy_id pid; memset(&pid, 0, sizeof pid);
  selector(&pid.sel); pid.dir = XFRM_POLICY_IN;
  dump("userpolicy_id", &pid, sizeof pid);
  return 0;
}
`;

const haveCompiler = existsSync('/usr/include/linux/xfrm.h') && (() => {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!haveCompiler)('xfrm layouts against C and the installed <linux/xfrm.h>', () => {
  it('every struct weft writes has the bytes C gives it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-xfrm-'));
    let fromC: Map<string, string>;
    try {
      writeFileSync(join(dir, 'layout.c'), C_LAYOUT);
      execFileSync('cc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')]);
      const out = execFileSync(join(dir, 'layout'), { encoding: 'utf8' });
      fromC = new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const saPayload = newSa(sa).payload;
    expect(hex(saPayload.subarray(0, USERSA_INFO_LEN))).toBe(fromC.get('usersa_info'));
    expect(hex(saPayload.subarray(USERSA_INFO_LEN + 4, USERSA_INFO_LEN + 112))).toBe(fromC.get('algo_aead'));
    expect(hex(saPayload.subarray(USERSA_INFO_LEN + 116, USERSA_INFO_LEN + 140))).toBe(fromC.get('encap_tmpl'));
    const polPayload = newPolicy(outPolicy).payload;
    expect(hex(polPayload.subarray(0, USERPOLICY_INFO_LEN))).toBe(fromC.get('userpolicy_info'));
    expect(hex(polPayload.subarray(USERPOLICY_INFO_LEN + 4))).toBe(fromC.get('user_tmpl'));
    expect(hex(getSa({ dst: '198.18.0.2', spi: 0x0100_0001 }).payload)).toBe(fromC.get('usersa_id'));
    expect(hex(deletePolicy({ selector: sel, dir: 'in' }).payload.subarray(0, USERPOLICY_ID_LEN))).toBe(fromC.get('userpolicy_id'));
  });
});

const can = canUseNetns();
const ns = `wfX${process.pid}-xfrm`;

// This machine's kernel has xfrm but no ESP: policies are real, an SA must fail cleanly.
describe.skipIf(!can.ok)('xfrm policies in this kernel', () => {
  let client: NetlinkClient;
  const ip = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    client = new NetlinkClient(openNetlinkSocket({ protocol: NETLINK_XFRM, netns: `/run/netns/${ns}` }));
  });
  afterAll(() => {
    client?.close();
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('adds, reads back, refuses a duplicate, deletes and flushes as `ip xfrm policy` sees it', async () => {
    const inPolicy: XfrmPolicy = { ...outPolicy, dir: 'in', selector: { ...sel, src: sel.dst, dst: sel.src } };
    await client.request(newPolicy(outPolicy));
    await client.request(newPolicy(inPolicy));
    const shown = ip('xfrm', 'policy');
    expect(shown).toContain('src 198.18.0.1/32 dst 198.18.0.2/32 proto udp dport 6784 \n\tdir out priority 100');
    expect(shown).toContain('proto esp reqid 7 mode transport');
    await expect(client.request(newPolicy(outPolicy))).rejects.toMatchObject({ code: 'EEXIST' });
    const [got] = await client.request(getPolicy(outPolicy));
    const decoded = got ? decodePolicy(got.payload) : undefined;
    expect(decoded?.ok && decoded.value).toMatchObject({ dir: 'out', priority: 100, templates: [{ reqid: 7, mode: 'transport', dst: '198.18.0.2' }] });
    const dumped = (await client.dump(dumpPolicies())).filter((m) => m.type === XFRM_MSG_NEWPOLICY).map((m) => decodePolicy(m.payload));
    expect(dumped.map((d) => d.ok && d.value.dir).sort()).toEqual(['in', 'out']);
    await client.request(deletePolicy(inPolicy));
    expect(ip('xfrm', 'policy')).not.toContain('dir in');
    await client.request(flushPolicies());
    expect(ip('xfrm', 'policy').trim()).toBe('');
  });

  it('an SA with an AEAD the kernel lacks fails with an errno, not silently', async () => {
    const err = await client.request(newSa(sa)).then(() => undefined, (e: unknown) => e);
    if (err === undefined) {
      // A kernel with ESP: the SA exists; clean up.
      await client.request(flushSas());
      return;
    }
    // ENOSYS: "Requested AEAD algorithm not found"; EPROTONOSUPPORT: no ESP at all. A launch probe can tell them apart.
    expect(err).toMatchObject({ code: expect.stringMatching(/^(ENOSYS|EPROTONOSUPPORT)$/) });
    expect((await client.dump(dumpSas())).filter((m) => m.type === XFRM_MSG_NEWSA)).toEqual([]);
  });
});
