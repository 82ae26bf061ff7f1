import { describe, expect, it } from 'vitest';
import { MemoryCleartextGuard, NFT_TABLE, parseCounts, rulesetFor } from './esp-firewall.js';

const SPEC = { vxlanPort: 6784, tun: 'weft-esp' };

/**
 * `nft -j list table inet weft_esp` (nftables 1.0.6) after rulesetFor(SPEC) was loaded in a
 * throwaway network namespace, three cleartext VXLAN datagrams arrived over a veth and two were sent.
 */
const NFT_JSON = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'weft_esp', handle: 3 } },
    { chain: { family: 'inet', table: 'weft_esp', name: 'input', handle: 1, type: 'filter', hook: 'input', prio: -5, policy: 'accept' } },
    { chain: { family: 'inet', table: 'weft_esp', name: 'output', handle: 2, type: 'filter', hook: 'output', prio: -5, policy: 'accept' } },
    {
      rule: {
        family: 'inet',
        table: 'weft_esp',
        chain: 'input',
        handle: 3,
        comment: 'cleartext-in',
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 6784 } },
          { match: { op: '!=', left: { meta: { key: 'iifname' } }, right: 'weft-esp' } },
          { counter: { packets: 3, bytes: 132 } },
          { drop: null },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'weft_esp',
        chain: 'output',
        handle: 4,
        comment: 'cleartext-out',
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 6784 } },
          { match: { op: '!=', left: { meta: { key: 'oifname' } }, right: 'weft-esp' } },
          { counter: { packets: 2, bytes: 88 } },
          { drop: null },
        ],
      },
    },
  ],
});

/** The chain named `name` in ruleset text, as its lines without indentation. */
function chain(text: string, name: string): string[] {
  const m = new RegExp(`chain ${name} \\{\\n([^}]*)\\}`).exec(text);
  return m ? m[1]!.split('\n').map((l) => l.trim()).filter((l) => l !== '') : [];
}

describe('rulesetFor', () => {
  it('without a spec only removes the table (creating it first, so removing an absent table is not an error)', () => {
    expect(rulesetFor(undefined)).toBe(`table inet ${NFT_TABLE} {}\ndelete table inet ${NFT_TABLE}\n`);
    expect(NFT_TABLE).toBe('weft_esp');
  });

  it('replaces the table in one transaction: reset first, then the new table', () => {
    const text = rulesetFor(SPEC);
    expect(text.startsWith(rulesetFor(undefined))).toBe(true);
    expect(text.match(/^table inet weft_esp \{$/gm)).toHaveLength(1);
    expect(text.match(/^delete table/gm)).toHaveLength(1);
  });

  it('drops and counts VXLAN that arrives on any interface but the TUN', () => {
    expect(chain(rulesetFor(SPEC), 'input')).toEqual([
      'type filter hook input priority -5; policy accept;',
      'udp dport 6784 iifname != "weft-esp" meta mark != 0x5eb10000 counter drop comment "cleartext-in"',
    ]);
  });

  it('drops and counts VXLAN that would leave on any interface but the TUN', () => {
    expect(chain(rulesetFor(SPEC), 'output')).toEqual([
      'type filter hook output priority -5; policy accept;',
      'udp dport 6784 oifname != "weft-esp" oifname != "lo" counter drop comment "cleartext-out"',
    ]);
  });

  it('uses the configured port and TUN name', () => {
    const text = rulesetFor({ vxlanPort: 4789, tun: 'esp0' });
    expect(text).toContain('udp dport 4789 iifname != "esp0" meta mark != 0x5eb10000 counter drop');
    expect(text).toContain('udp dport 4789 oifname != "esp0" oifname != "lo" counter drop');
    expect(text).not.toContain('6784');
    expect(text).not.toContain('weft-esp');
  });
});

describe('parseCounts', () => {
  it('reads both counters from real nft JSON', () => {
    expect(parseCounts(NFT_JSON)).toEqual({ inbound: 3, outbound: 2 });
  });

  it('counts 0 for a rule without counter, or a missing rule', () => {
    const doc = JSON.parse(NFT_JSON) as { nftables: { rule?: { expr: unknown[] } }[] };
    const rules = doc.nftables.filter((i) => i.rule);
    rules[0]!.rule!.expr = rules[0]!.rule!.expr.filter((e) => !(e as { counter?: unknown }).counter);
    const withoutOutput = { nftables: doc.nftables.filter((i) => i !== rules[1]) };
    expect(parseCounts(JSON.stringify(withoutOutput))).toEqual({ inbound: 0, outbound: 0 });
    expect(parseCounts(JSON.stringify({ nftables: [] }))).toEqual({ inbound: 0, outbound: 0 });
  });

  it('ignores rules with other comments and items that are not rules', () => {
    const doc = JSON.parse(NFT_JSON) as { nftables: unknown[] };
    doc.nftables.push({ rule: { comment: 'something else', expr: [{ counter: { packets: 99, bytes: 1 } }] } }, { rule: { comment: 'cleartext-in' } }, { set: {} });
    expect(parseCounts(JSON.stringify(doc))).toEqual({ inbound: 3, outbound: 2 });
  });

  it.each(['', 'not json', '{"nftables": 5}', '{}', '[]'])('gives undefined for %j', (text) => {
    expect(parseCounts(text)).toBeUndefined();
  });
});

describe('MemoryCleartextGuard', () => {
  it('reports counts only while a guard is applied', async () => {
    const g = new MemoryCleartextGuard();
    expect(await g.counts()).toBeUndefined();
    await g.apply(SPEC);
    expect(g.spec).toEqual(SPEC);
    g.current.inbound = 4;
    expect(await g.counts()).toEqual({ inbound: 4, outbound: 0 });
    await g.apply(undefined);
    expect(await g.counts()).toBeUndefined();
  });
});
