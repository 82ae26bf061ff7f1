// Debian's reference plugins (/usr/lib/cni: bridge + host-local + portmap) as a conflist, so the
// runtime harness can be proven without weft: every runtime driven here must work with these first.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STANDARD_PLUGIN_DIR = '/usr/lib/cni';

export interface BridgeNetwork {
  name: string;
  /** Linux bridge name in the host namespace (at most 15 characters). */
  bridge: string;
  /** host-local's subnet, e.g. 10.47.0.0/24; the bridge gets its first address as the gateway. */
  subnet: string;
  /** host-local's lease directory (private to the test). */
  ipamDataDir: string;
  cniVersion?: string;
}

/** Writes CONFDIR/<name>.conflist: bridge (gateway, hairpin, no masquerade) with host-local, then portmap. */
export function writeBridgeConflist(confDir: string, net: BridgeNetwork): string {
  mkdirSync(confDir, { recursive: true });
  const conf = {
    cniVersion: net.cniVersion ?? '1.0.0',
    name: net.name,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: net.ipamDataDir },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  const file = join(confDir, `${net.name}.conflist`);
  writeFileSync(file, JSON.stringify(conf, null, 2));
  return file;
}
