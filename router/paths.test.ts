import { describe, expect, it } from 'vitest';
import type { PeerName } from '../mesh/peer-name.js';
import { choosePaths, type Path, type PathInputs } from './paths.js';
import type { PeerRecord } from './peer-record.js';
import type { ProbeStatus } from './prober.js';

// self A; peers B, C, D. Addresses 198.18.0.<last byte of name>.
const A = 0x02_00_00_00_00_0an;
const B = 0x02_00_00_00_00_0bn;
const C = 0x02_00_00_00_00_0cn;
const D = 0x02_00_00_00_00_0dn;
const addr = (n: PeerName): string => `198.18.0.${Number(n & 0xffn)}`;

function rec(name: PeerName, o: Partial<PeerRecord> = {}): PeerRecord {
  return { name, version: 1n, gone: false, mtu: 1450, addresses: [addr(name)], bridgeMac: '02:00:00:00:00:00', direct: [], relays: [], serving: [], endpoints: [], ...o };
}

const up = (address: string): ProbeStatus => ({ state: 'up', address, rttMs: 1, since: 0 });
const down: ProbeStatus = { state: 'down', since: 0 };
const unknown: ProbeStatus = { state: 'unknown', since: 0 };

function inputs(records: PeerRecord[], probes: Map<PeerName, ProbeStatus>, o: Partial<PathInputs> = {}): PathInputs {
  return {
    self: A,
    records: new Map(records.map((r) => [r.name, r])),
    probe: (n) => probes.get(n) ?? unknown,
    nextHop: (n) => n,
    previous: new Map(),
    ...o,
  };
}

describe('choosePaths', () => {
  it('goes direct to a peer whose probes are answered, at the answering address', () => {
    const { paths, wanted } = choosePaths(inputs([rec(A), rec(B, { addresses: ['198.18.1.11', addr(B)] })], new Map([[B, up(addr(B))]])));
    expect(paths.get(B)).toMatchObject({ kind: 'direct', address: addr(B) });
    expect(paths.get(B)!.reason).toContain('rtt 1 ms');
    expect(paths.has(A)).toBe(false);
    expect(wanted).toEqual([]);
  });

  it('skips tombstoned peers', () => {
    const { paths } = choosePaths(inputs([rec(B, { gone: true })], new Map([[B, up(addr(B))]])));
    expect(paths.size).toBe(0);
  });

  it('keeps the previous path while probing has not concluded, else none', () => {
    const prev: Path = { kind: 'direct', address: addr(B), reason: 'probes answered' };
    expect(choosePaths(inputs([rec(B)], new Map([[B, unknown]]), { previous: new Map([[B, prev]]) })).paths.get(B)).toEqual(prev);
    expect(choosePaths(inputs([rec(B)], new Map([[B, unknown]]))).paths.get(B)).toMatchObject({ kind: 'none', reason: 'probing' });
  });

  it('a router that just came back keeps its last path while its probes catch up, then the verdict stands', () => {
    // B restarted: our probes went unanswered while it was away, and it is back in the mesh.
    const prev: Path = { kind: 'direct', address: addr(B), reason: 'probes answered' };
    const at = (now: number) => choosePaths(inputs([rec(B)], new Map([[B, down]]), { previous: new Map([[B, prev]]), returnedAt: () => 1_000, now, failAfterMs: 1_200 })).paths.get(B)!;
    expect(at(1_500)).toMatchObject({ kind: 'direct', address: addr(B) });
    expect(at(1_500).reason).toContain('just came back');
    expect(at(2_200)).toMatchObject({ kind: 'none' });
  });

  it('probes that fail just after the peer closed its connection mean its router stopped: the last path stays, even with a relay on offer', () => {
    const prev: Path = { kind: 'direct', address: addr(C), reason: 'probes answered' };
    // B reaches C and offers to relay; C's router closed its connection at 10 000.
    const recs = [rec(A), rec(B, { direct: [A, C], serving: [C] }), rec(C)];
    const probes = (since: number) => new Map<PeerName, ProbeStatus>([[B, up(addr(B))], [C, { state: 'down', since }]]);
    const path = (since: number) => choosePaths(inputs(recs, probes(since), { previous: new Map([[C, prev]]), connectionLostAt: () => 10_000, settleMs: 3_000 })).paths.get(C)!;
    expect(path(11_200)).toMatchObject({ kind: 'direct', address: addr(C) });
    expect(path(11_200).reason).toContain('its router stopped');
    // Probes failed before the connection closed (a cut network), or long after: a real path failure.
    expect(path(9_000)).toMatchObject({ kind: 'relay', via: B });
    expect(path(14_000)).toMatchObject({ kind: 'relay', via: B });
  });

  describe('relays', () => {
    // A cannot reach C directly; B and D both reach C and are reached by A.
    const records = (servingB: PeerName[] = [C], servingD: PeerName[] = [C]): PeerRecord[] => [
      rec(A),
      rec(B, { direct: [A, C], serving: servingB }),
      rec(C),
      rec(D, { direct: [A, C], serving: servingD }),
    ];
    const probes = new Map([
      [B, up(addr(B))],
      [C, down],
      [D, up(addr(D))],
    ]);

    it('prefers the mesh next hop as the relay', () => {
      const { paths, wanted } = choosePaths(inputs(records(), probes, { nextHop: (n) => (n === C ? D : n) }));
      expect(paths.get(C)).toMatchObject({ kind: 'relay', via: D, address: addr(D) });
      expect(wanted).toEqual([{ dest: C, via: D }]);
    });

    it('takes the lowest name when the next hop cannot relay', () => {
      for (const hop of [undefined, C, A]) {
        const { paths, wanted } = choosePaths(inputs(records(), probes, { nextHop: (n) => (n === C ? hop : n) }));
        expect(paths.get(C), `next hop ${String(hop)}`).toMatchObject({ kind: 'relay', via: B, address: addr(B) });
        expect(wanted).toEqual([{ dest: C, via: B }]);
      }
    });

    it('does not relay through a peer that does not reach the destination, is down, or is gone', () => {
      const cases: [PeerRecord[], Map<PeerName, ProbeStatus>][] = [
        [[rec(B, { direct: [A], serving: [C] }), rec(C)], new Map([[B, up(addr(B))], [C, down]])],
        [[rec(B, { direct: [C], serving: [C] }), rec(C)], new Map([[B, down], [C, down]])],
        [[rec(B, { direct: [C], serving: [C], gone: true }), rec(C)], new Map([[B, up(addr(B))], [C, down]])],
      ];
      for (const [rs, ps] of cases) {
        const { paths, wanted } = choosePaths(inputs(rs, ps));
        expect(paths.get(C)).toMatchObject({ kind: 'none' });
        expect(wanted).toEqual([]);
      }
    });

    it('never relays through itself or the destination', () => {
      const rs = [rec(A, { direct: [C], serving: [C] }), rec(C, { direct: [C], serving: [C] })];
      const { paths } = choosePaths(inputs(rs, new Map([[A, up(addr(A))], [C, down]])));
      expect(paths.get(C)).toMatchObject({ kind: 'none' });
    });

    it('make-before-break: keeps the previous path until the relay serves the destination', () => {
      const prev: Path = { kind: 'direct', address: addr(C), reason: 'probes answered (rtt 1 ms)' };
      const i = inputs(records([], []), probes, { previous: new Map([[C, prev]]) });
      const first = choosePaths(i);
      expect(first.paths.get(C)).toMatchObject({ kind: 'direct', address: addr(C) });
      expect(first.paths.get(C)!.reason).toBe('probes answered (rtt 1 ms) [waiting for relay 02000000000b to get ready]');
      expect(first.wanted).toEqual([{ dest: C, via: B }]);
      // Kept again: the annotation does not pile up.
      const second = choosePaths({ ...i, previous: first.paths });
      expect(second.paths.get(C)!.reason).toBe('probes answered (rtt 1 ms) [waiting for relay 02000000000b to get ready]');
      // Once B serves C, traffic moves.
      expect(choosePaths({ ...i, records: new Map(records().map((r) => [r.name, r])), previous: second.paths }).paths.get(C)).toMatchObject({ kind: 'relay', via: B });
    });

    it('uses the nickname in reasons', () => {
      const { paths } = choosePaths(inputs(records([], []), probes, { nickname: (n) => (n === B ? 'bravo' : '') }));
      expect(paths.get(C)).toEqual({ kind: 'none', reason: 'no answer to direct probes; waiting for relay bravo' });
    });

    it('gives none while the relay is not ready and there is no previous path', () => {
      for (const prev of [undefined, { kind: 'none', reason: 'x' } as Path]) {
        const { paths, wanted } = choosePaths(inputs(records([], []), probes, { previous: prev ? new Map([[C, prev]]) : new Map() }));
        expect(paths.get(C)).toMatchObject({ kind: 'none' });
        expect(wanted).toEqual([{ dest: C, via: B }]);
      }
    });
  });

  it('keeps the last path of a peer that left the mesh', () => {
    const prev: Path = { kind: 'relay', via: B, address: addr(B), reason: 'no answer to direct probes; 02000000000b reaches it' };
    const { paths } = choosePaths(inputs([rec(C)], new Map([[C, down]]), { nextHop: () => undefined, previous: new Map([[C, prev]]) }));
    expect(paths.get(C)).toEqual({ ...prev, reason: `${prev.reason} [its router is not in the mesh; keeping the last path]` });
  });

  it('keeps a relay path while the relay\'s router is out of the mesh (restarting)', () => {
    const prev: Path = { kind: 'relay', via: B, address: addr(B), reason: 'no answer to direct probes; 02000000000b reaches it' };
    const { paths } = choosePaths(inputs([rec(B), rec(C)], new Map([[B, down], [C, down]]), { nextHop: (n) => (n === B ? undefined : n), previous: new Map([[C, prev]]) }));
    expect(paths.get(C)).toMatchObject({ kind: 'relay', via: B });
    expect(paths.get(C)!.reason).toMatch(/relay 02000000000b is not in the mesh; keeping the last path/);
  });

  it('gives none to a peer that left the mesh with no previous path', () => {
    const { paths } = choosePaths(inputs([rec(C)], new Map([[C, down]]), { nextHop: () => undefined }));
    expect(paths.get(C)).toEqual({ kind: 'none', reason: 'no answer to probes and not in the mesh' });
  });

  it('gives none to a peer in the mesh that nobody reaches directly, dropping the previous path', () => {
    const prev: Path = { kind: 'direct', address: addr(C), reason: 'probes answered' };
    const { paths } = choosePaths(inputs([rec(C)], new Map([[C, down]]), { previous: new Map([[C, prev]]) }));
    expect(paths.get(C)).toEqual({ kind: 'none', reason: 'no answer to direct probes and no peer reaches it directly' });
  });
});
