import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { silentLogger } from '../lib/log.js';
import type { GossipChannel, GossipData } from '../mesh/gossip.js';
import type { PeerName } from '../mesh/peer-name.js';
import { decodeRecords, encodeRecords, type PeerRecord } from './peer-record.js';
import { PeerRecords, type LocalRecord } from './records.js';

const SELF = 0x02_00_00_00_00_01n;
const B = 0x02_00_00_00_00_02n;
const C = 0x02_00_00_00_00_03n;

function rec(name: PeerName, version: bigint, o: Partial<PeerRecord> = {}): PeerRecord {
  return { name, version, gone: false, mtu: 1450, addresses: ['198.18.0.9'], bridgeMac: '02:00:00:00:00:09', direct: [], relays: [], serving: [], endpoints: [], ...o };
}
const local = (o: Partial<LocalRecord> = {}): LocalRecord => {
  const { name: _n, version: _v, ...rest } = rec(SELF, 0n, o);
  return rest;
};
const msg = (...rs: PeerRecord[]): Buffer => encodeRecords(rs);
const decoded = (d: GossipData | undefined): PeerRecord[] => (d ? d.encode().flatMap((b) => { const r = decodeRecords(b); if (!r.ok) throw new Error(r.reason); return r.value; }) : []);

class TapChannel implements GossipChannel {
  readonly name = 'weft-dataplane';
  readonly broadcasts: GossipData[] = [];
  gossipUnicast(): void {}
  gossipBroadcast(data: GossipData): void {
    this.broadcasts.push(data);
  }
  gossipNeighbourSubset(): void {}
}

describe('PeerRecords', () => {
  let clock: ManualClock;
  let changes: number;
  let records: PeerRecords;
  let channel: TapChannel;

  beforeEach(() => {
    clock = new ManualClock(5_000);
    changes = 0;
    records = new PeerRecords({ self: SELF, clock, log: silentLogger(), onChange: () => changes++ });
    channel = new TapChannel();
    records.attach(channel);
  });

  it('takes a record from gossip and returns it as the delta', () => {
    const delta = records.onGossip(msg(rec(B, 10n)));
    expect(records.get(B)).toEqual(rec(B, 10n));
    expect(decoded(delta)).toEqual([rec(B, 10n)]);
    expect(changes).toBe(1);
  });

  it('keeps the higher version and ignores equal or older ones', () => {
    records.onGossipBroadcast(B, msg(rec(B, 10n, { mtu: 1400 })));
    expect(records.onGossip(msg(rec(B, 9n, { mtu: 1300 })))).toBeUndefined();
    expect(records.onGossipBroadcast(B, msg(rec(B, 10n, { mtu: 1300 })))).toBeUndefined();
    expect(records.get(B)!.mtu).toBe(1400);
    expect(decoded(records.onGossip(msg(rec(B, 11n, { mtu: 1200 }))))).toEqual([rec(B, 11n, { mtu: 1200 })]);
    expect(records.get(B)!.mtu).toBe(1200);
    expect(changes).toBe(2);
  });

  it('returns only the records that were news', () => {
    records.onGossip(msg(rec(B, 10n)));
    const delta = records.onGossip(msg(rec(B, 10n), rec(C, 3n)));
    expect(decoded(delta)).toEqual([rec(C, 3n)]);
  });

  it('never takes its own record from gossip', () => {
    records.setLocal(local());
    const mine = records.get(SELF)!;
    expect(records.onGossip(msg(rec(SELF, mine.version + 100n, { mtu: 9000 })))).toBeUndefined();
    expect({ ...records.get(SELF)!, version: 0n }).toEqual({ ...mine, version: 0n });
  });

  it('setLocal versions by the clock, broadcasts, and bumps past the previous version', () => {
    records.setLocal(local({ mtu: 1400 }));
    expect(records.get(SELF)).toMatchObject({ name: SELF, version: 5000n, mtu: 1400 });
    records.setLocal(local({ mtu: 1300 }));
    expect(records.get(SELF)!.version).toBe(5001n);
    clock.advance(10);
    records.setLocal(local({ mtu: 1200 }));
    expect(records.get(SELF)!.version).toBe(5010n);
    expect(channel.broadcasts.map((d) => decoded(d).map((r) => r.version))).toEqual([[5000n], [5001n], [5010n]]);
    expect(changes).toBe(3);
  });

  it('setLocal with the same content neither bumps nor broadcasts', () => {
    records.setLocal(local({ endpoints: [{ mac: '0a:58:0a:20:00:05', ips: ['10.32.0.5'] }], direct: [B] }));
    clock.advance(100);
    records.setLocal(local({ endpoints: [{ mac: '0a:58:0a:20:00:05', ips: ['10.32.0.5'] }], direct: [B] }));
    expect(records.get(SELF)!.version).toBe(5000n);
    expect(channel.broadcasts).toHaveLength(1);
    expect(changes).toBe(1);
  });

  it('broadcasts an existing own record when attached to a channel', () => {
    const r = new PeerRecords({ self: SELF, clock, log: silentLogger(), onChange: () => undefined });
    r.setLocal(local());
    const ch = new TapChannel();
    r.attach(ch);
    expect(ch.broadcasts.map(decoded)).toEqual([[rec(SELF, 5000n)]]);
  });

  it('gossip() carries every record, own included, across message chunks', () => {
    expect(records.gossip()).toBeUndefined();
    records.setLocal(local());
    const others = Array.from({ length: 300 }, (_, i) => rec(0x02_00_00_01_00_00n + BigInt(i), 1n));
    records.onGossip(msg(...others));
    const g = records.gossip()!;
    expect(g.encode().length).toBe(2);
    const all = decoded(g);
    expect(all).toHaveLength(301);
    expect(new Set(all.map((r) => r.name))).toEqual(new Set([SELF, ...others.map((r) => r.name)]));
  });

  it('merges gossip data keeping the newer record per peer', () => {
    const older = records.onGossip(msg(rec(B, 1n), rec(C, 5n)))!;
    const fresh = new PeerRecords({ self: SELF, clock, log: silentLogger(), onChange: () => undefined });
    const newer = fresh.onGossip(msg(rec(B, 2n), rec(C, 4n)))!;
    const byName = (d: GossipData): Map<PeerName, bigint> => new Map(decoded(d).map((r) => [r.name, r.version]));
    expect(byName(older.merge(newer))).toEqual(new Map([[B, 2n], [C, 5n]]));
    expect(byName(newer.merge(older))).toEqual(new Map([[B, 2n], [C, 5n]]));
  });

  it('counts malformed messages in dropped and changes nothing', () => {
    expect(records.onGossip(Buffer.alloc(0))).toBeUndefined();
    expect(records.onGossipBroadcast(B, Buffer.from([9]))).toBeUndefined();
    expect(records.onGossip(Buffer.concat([msg(rec(B, 1n)), Buffer.from([0])]))).toBeUndefined();
    records.onGossipUnicast();
    expect(records.dropped).toEqual({
      'empty dataplane message': 1,
      'unknown dataplane record format 9': 1,
      '1 trailing bytes after 1 records': 1,
      'unexpected unicast': 1,
    });
    expect(records.get(B)).toBeUndefined();
    expect(changes).toBe(0);
  });

  it('never throws on random gossip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        records.onGossip(Buffer.from(bytes));
      }),
    );
  });

  it('removes remote records but never its own', () => {
    records.setLocal(local());
    records.onGossip(msg(rec(B, 1n)));
    changes = 0;
    records.remove(B);
    records.remove(B);
    records.remove(SELF);
    expect(records.get(B)).toBeUndefined();
    expect(records.get(SELF)).toBeDefined();
    expect(changes).toBe(1);
  });

  // BUG: a removed record comes back with the next anti-entropy gossip from a peer that has not
  // removed it yet (it is simply unknown again), and the grace period starts over: records of a
  // departed peer can circulate for ever while peers' grace periods are staggered. Flip to `it`
  // once removal remembers the version it removed.
  it('does not take back a record it removed, at the same version', () => {
    records.onGossip(msg(rec(B, 7n)));
    records.remove(B);
    expect(records.onGossip(msg(rec(B, 7n)))).toBeUndefined();
    expect(records.get(B)).toBeUndefined();
  });

  // BUG: after a restart with a clock that went back (NTP step, VM restore), our own pre-restart
  // record can have a higher version than anything we now make; the others keep it and ignore
  // ours until the clock catches up. The own record seen in gossip should push our version past it.
  it('bumps its own version past an own record seen in gossip', () => {
    records.setLocal(local({ mtu: 1400 }));
    records.onGossip(msg(rec(SELF, 9_999_999n, { mtu: 1300 })));
    expect(records.get(SELF)!.version).toBeGreaterThan(9_999_999n);
    expect(records.get(SELF)!.mtu).toBe(1400);
  });
});
