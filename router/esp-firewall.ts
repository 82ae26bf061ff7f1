// The cleartext guard of an encrypted mesh, in nftables (table inet weft_esp): VXLAN arriving on
// any interface but the ESP engine's TUN, and not handed over by the engine itself (its loopback
// socket's SO_MARK), is dropped (a peer that should be encrypted, or anyone
// else, sending cleartext), and VXLAN leaving on any interface but the TUN is dropped too — a
// second line behind the FIB rules and the blackhole guard. Both drops are counted.
//
// The FIB rules cannot do the input side: local delivery is decided by the `local` table at
// priority 0, before any rule of ours. The table is replaced atomically (one `nft -f` transaction).
import { execFile } from 'node:child_process';
import { WeftError } from '../lib/errors.js';

export const NFT_TABLE = 'weft_esp';
/** SO_MARK of the engine's socket that hands opened VXLAN to the kernel over loopback. */
export const ESP_INJECT_MARK = 0x5eb10000;

export interface CleartextCounts {
  /** Cleartext VXLAN received and dropped. */
  inbound: number;
  /** Cleartext VXLAN we were about to send, dropped (should stay 0). */
  outbound: number;
}

/** The seam: the real one runs nft; tests of the daemon's logic use an in-memory one. */
export interface CleartextGuard {
  /** Installs (spec) or removes (undefined) the guard. Rejects with a clear error if nft is missing. */
  apply(spec: { vxlanPort: number; tun: string } | undefined): Promise<void>;
  counts(): Promise<CleartextCounts | undefined>;
}

export function rulesetFor(spec: { vxlanPort: number; tun: string } | undefined): string {
  const reset = `table inet ${NFT_TABLE} {}\ndelete table inet ${NFT_TABLE}\n`;
  if (!spec) return reset;
  return `${reset}table inet ${NFT_TABLE} {
  chain input {
    type filter hook input priority -5; policy accept;
    udp dport ${spec.vxlanPort} iifname != "${spec.tun}" meta mark != ${'0x' + ESP_INJECT_MARK.toString(16)} counter drop comment "cleartext-in"
  }
  chain output {
    type filter hook output priority -5; policy accept;
    udp dport ${spec.vxlanPort} oifname != "${spec.tun}" oifname != "lo" counter drop comment "cleartext-out"
  }
}
`;
}

function run(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return reject(new WeftError('io', 'encryption needs nft to drop cleartext VXLAN: install nftables (Debian/Ubuntu: apt-get install nftables)'));
      }
      reject(new WeftError('io', `nft ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export class NftCleartextGuard implements CleartextGuard {
  async apply(spec: { vxlanPort: number; tun: string } | undefined): Promise<void> {
    await run(['-f', '-'], rulesetFor(spec));
  }

  async counts(): Promise<CleartextCounts | undefined> {
    let out: string;
    try {
      out = await run(['-j', 'list', 'table', 'inet', NFT_TABLE]);
    } catch {
      return undefined;
    }
    return parseCounts(out);
  }
}

/** Reads the two counters out of `nft -j list table …`; absent rules count 0. */
export function parseCounts(json: string): CleartextCounts | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return undefined;
  }
  const counts: CleartextCounts = { inbound: 0, outbound: 0 };
  const items = (doc as { nftables?: unknown[] }).nftables;
  if (!Array.isArray(items)) return undefined;
  for (const item of items) {
    const rule = (item as { rule?: { comment?: string; expr?: unknown[] } }).rule;
    if (!rule || !Array.isArray(rule.expr)) continue;
    const counter = rule.expr.map((e) => (e as { counter?: { packets?: number } }).counter).find((c) => c !== undefined);
    if (rule.comment === 'cleartext-in') counts.inbound = counter?.packets ?? 0;
    if (rule.comment === 'cleartext-out') counts.outbound = counter?.packets ?? 0;
  }
  return counts;
}

export class MemoryCleartextGuard implements CleartextGuard {
  spec: { vxlanPort: number; tun: string } | undefined;
  readonly current: CleartextCounts = { inbound: 0, outbound: 0 };
  apply(spec: { vxlanPort: number; tun: string } | undefined): Promise<void> {
    this.spec = spec;
    return Promise.resolve();
  }
  counts(): Promise<CleartextCounts | undefined> {
    return Promise.resolve(this.spec ? { ...this.current } : undefined);
  }
}
