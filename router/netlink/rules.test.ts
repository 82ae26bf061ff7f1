// FIB rule requests byte for byte (expectations written from struct fib_rule_hdr and the FRA_*
// numbering in <linux/fib_rules.h>), decode(encode(x)) as a property, and the real kernel in a
// throwaway namespace agreeing with `ip rule` on what was installed.
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetlinkClient } from './client.js';
import { NETLINK_ROUTE, NLM_F_CREATE, NLM_F_EXCL } from './constants.js';
import { RTM_DELRULE, RTM_NEWRULE, decodeRule, delRule, dumpRules, newRule, type FibRule } from './rules.js';
import { openNetlinkSocket } from './socket.js';
import { canUseNetns } from '../../test/harness/privileges.js';

const hex = (b: Buffer): string => b.toString('hex');
const espRule: FibRule = { priority: 100, to: '198.18.0.2/32', ipProto: 17, dport: [6784, 6784], table: 6784, action: 'lookup' };

describe('FIB rule requests', () => {
  it('ip rule add to 198.18.0.2/32 ipproto udp dport 6784 lookup 6784 priority 100', () => {
    const r = newRule(espRule);
    expect([r.type, r.flags]).toEqual([RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL]);
    expect(hex(r.payload)).toBe(
      '02' + '20' + '00' + '00' + '00' + '0000' + '01' + '00000000' + // AF_INET, dst_len 32, table in FRA_TABLE (> 255), FR_ACT_TO_TBL
        '08000100' + 'c6120002' + // FRA_DST
        '08000600' + '64000000' + // FRA_PRIORITY 100
        '08000f00' + '801a0000' + // FRA_TABLE 6784
        '05001600' + '11000000' + // FRA_IP_PROTO 17, padded
        '08001800' + '801a801a', // FRA_DPORT_RANGE 6784-6784, host order
    );
  });

  it('a table below 256 also goes in the header byte; blackhole has no table', () => {
    const r = newRule({ priority: 101, to: '10.0.0.0/8', action: 'lookup', table: 200 });
    expect(r.payload[4]).toBe(200);
    const b = newRule({ priority: 101, to: '198.18.0.2/32', ipProto: 17, dport: [6784, 6784], action: 'blackhole' });
    expect([b.payload[4], b.payload[7]]).toEqual([0, 6]);
    expect(hex(b.payload)).not.toContain('08000f00');
    expect(delRule(espRule).type).toBe(RTM_DELRULE);
    expect(delRule(espRule).payload).toEqual(newRule(espRule).payload);
  });

  it('decode(encode(rule)) = rule', () => {
    const port = fc.integer({ min: 0, max: 0xffff });
    const range = fc.tuple(port, port).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]);
    const cidr = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, p]) => `${ip}/${p}`);
    const rule = fc.record(
      {
        priority: fc.integer({ min: 0, max: 0xffff_ffff }),
        to: cidr,
        from: cidr,
        ipProto: fc.integer({ min: 0, max: 255 }),
        sport: range,
        dport: range,
        protocol: fc.integer({ min: 0, max: 255 }),
        action: fc.constantFrom('lookup' as const, 'blackhole' as const),
        table: fc.integer({ min: 1, max: 0xffff_ffff }),
      },
      { requiredKeys: ['priority', 'action', 'table'] },
    ).map((r) => (r.action === 'blackhole' ? (({ table: _t, ...rest }) => rest)(r) : r) as FibRule);
    fc.assert(
      fc.property(rule, (r) => {
        expect(decodeRule(newRule(r).payload)).toEqual({ ok: true, value: r });
      }),
    );
  });

  it('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => void decodeRule(Buffer.from(b))));
    expect(decodeRule(Buffer.alloc(4))).toMatchObject({ ok: false });
  });
});

const can = canUseNetns();
const ns = `wfR${process.pid}-rules`;

describe.skipIf(!can.ok)('FIB rules in a real kernel', () => {
  let client: NetlinkClient;
  let socket: ReturnType<typeof openNetlinkSocket>;
  const ip = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    socket = openNetlinkSocket({ protocol: NETLINK_ROUTE, netns: `/run/netns/${ns}` });
    client = new NetlinkClient(socket);
  });
  afterAll(() => {
    socket?.close();
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('adds the ESP steering rule and its blackhole guard as `ip rule` would, dumps and deletes them', async () => {
    const guard: FibRule = { priority: 101, to: '198.18.0.2/32', ipProto: 17, dport: [6784, 6784], action: 'blackhole' };
    await client.request(newRule(espRule));
    await client.request(newRule(guard));
    expect(ip('rule', 'show')).toContain('100:\tfrom all to 198.18.0.2 ipproto udp dport 6784 lookup 6784');
    expect(ip('rule', 'show')).toContain('101:\tfrom all to 198.18.0.2 ipproto udp dport 6784 blackhole');
    await expect(client.request(newRule(espRule))).rejects.toMatchObject({ code: 'EEXIST' });
    const dumped = (await client.dump(dumpRules())).map((m) => decodeRule(m.payload)).flatMap((d) => (d.ok ? [d.value] : []));
    expect(dumped).toContainEqual(expect.objectContaining(espRule));
    expect(dumped).toContainEqual(expect.objectContaining(guard));
    await client.request(delRule(espRule));
    await client.request(delRule(guard));
    expect(ip('rule', 'show')).not.toContain('6784');
  });
});
