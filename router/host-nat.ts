// How containers with a default route through this host reach beyond the overlay (the CNI
// plugin's containers, docs/cni.md): IPv4 forwarding on, and traffic from the overlay range to
// anywhere outside it (multicast and the bridge itself excepted) masqueraded behind the host's
// own address, as Weave's `weave expose` with NAT, Flannel's `ipMasq` and Calico's `natOutgoing`
// do. One nftables table, `ip weft_nat`, replaced atomically; traffic between overlay addresses
// is never translated.
//
// Forwarding is switched on and left on (as Docker, Flannel and Calico leave it): other things on
// the host may rely on it by then, so `weft reset` removes the table but does not switch it off.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { WeftError } from '../lib/errors.js';
import { BRIDGE } from './forwarding.js';

export const NAT_TABLE = 'weft_nat';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

export interface NatSpec {
  /** The overlay range (CIDR). */
  range: string;
  /** Masquerade traffic from the range to outside it. */
  masquerade: boolean;
}

/** The seam: the real one writes /proc and runs nft; tests of the endpoints owner use MemoryHostNat. */
export interface HostNat {
  /** Makes the host's forwarding and NAT exactly spec (undefined: none of weft's rules). Idempotent. */
  apply(spec: NatSpec | undefined): Promise<void>;
}

export function natRuleset(spec: NatSpec | undefined): string {
  const reset = `table ip ${NAT_TABLE} {}\ndelete table ip ${NAT_TABLE}\n`;
  if (!spec?.masquerade) return reset;
  return `${reset}table ip ${NAT_TABLE} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${spec.range} ip daddr != ${spec.range} ip daddr != 224.0.0.0/4 oifname != "${BRIDGE}" counter masquerade comment "overlay-outbound"
  }
}
`;
}

export class NftHostNat implements HostNat {
  async apply(spec: NatSpec | undefined): Promise<void> {
    if (spec) await enableForwarding();
    await nft(natRuleset(spec));
  }
}

async function enableForwarding(): Promise<void> {
  try {
    if ((await readFile(IP_FORWARD, 'utf8')).trim() === '1') return;
    await writeFile(IP_FORWARD, '1\n');
  } catch (err) {
    throw new WeftError('io', `containers with a default route through this host need IPv4 forwarding, and ${IP_FORWARD} could not be set (${(err as Error).message}); run the router as root, or set net.ipv4.ip_forward=1 yourself`, { cause: err });
  }
}

function nft(ruleset: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', ['-f', '-'], { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new WeftError('io', 'masquerading container traffic needs nft: install nftables (Debian/Ubuntu: apt-get install nftables), or set "masquerade": false in the CNI configuration'));
      }
      reject(new WeftError('io', `nft could not set up masquerading for the overlay: ${stderr.trim() || err.message}`));
    });
    child.stdin?.end(ruleset);
  });
}

/** In-memory twin: remembers what was applied. */
export class MemoryHostNat implements HostNat {
  current: NatSpec | undefined;
  forwarding = false;
  applied = 0;

  async apply(spec: NatSpec | undefined): Promise<void> {
    this.applied++;
    if (spec) this.forwarding = true;
    this.current = spec && { ...spec };
  }
}
