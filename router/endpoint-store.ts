// The local endpoints (attached containers, exposed host addresses), persisted in the data dir
// so a restarted router adopts what the previous one created, written crash-safely
// (lib/durable-file.ts). The file is not believed blindly: router/endpoints.ts checks every
// entry against the veths on the bridge and IPAM at start.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileDurably } from '../lib/durable-file.js';
import { errorMessage, WeftError } from '../lib/errors.js';

export interface AttachedEndpoint {
  /** With ifname, the key: the container (the namespace path for `weft attach`; the runtime's container ID for CNI). */
  id: string;
  /** The interface inside the container. */
  ifname: string;
  /** What the user named (namespace name, path or PID), for display. */
  container: string;
  /** Resolved namespace path. */
  netns: string;
  hostIfname: string;
  /** The host end's MAC, once the kernel said (for a CNI result). */
  hostMac?: string;
  mac: string;
  /** CIDRs on the container interface. */
  cidrs: string[];
  /** Written before the kernel has the veth; absent once the attach completed (router/endpoints.ts). */
  state?: 'attaching';
  /** 'cni': made by the CNI plugin (its GC may release it); absent: `weft attach`. */
  origin?: 'cni';
  /** The runtime's names (Kubernetes namespace and pod, or podman's container name), for display. */
  names?: { namespace?: string; pod?: string };
  /** The default route's next hop (this host's overlay address), when the container has one. */
  gateway?: string;
  /** Hairpin mode on the bridge port. */
  hairpin?: boolean;
}

export interface StoredEndpoints {
  attached: AttachedEndpoint[];
  /** CIDRs given to the host with `weft expose` (the gateway's among them). */
  exposed: string[];
  /** This host's overlay address (CIDR) that containers use as their default route; allocated from IPAM on first use. */
  gateway?: string;
  /** Masquerade traffic from the overlay range to outside it (asked for by a CNI attachment). */
  masquerade?: boolean;
}

const FILE = 'endpoints.json';

export class EndpointStore {
  constructor(private readonly dir: string) {}

  async load(): Promise<StoredEndpoints> {
    let text: string;
    try {
      text = await readFile(join(this.dir, FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { attached: [], exposed: [] };
      throw err;
    }
    let v: Partial<StoredEndpoints>;
    try {
      v = JSON.parse(text) as Partial<StoredEndpoints>;
    } catch (err) {
      throw new WeftError('io', `${join(this.dir, FILE)} is not valid JSON (${errorMessage(err)}); fix it, or move it away to start without the stored endpoints`, { cause: err });
    }
    // `null`, a number or a list is valid JSON but not the object save() writes (null crashed below).
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new WeftError('io', `${join(this.dir, FILE)} does not hold a JSON object; fix it, or move it away to start without the stored endpoints`);
    }
    const out: StoredEndpoints = { attached: Array.isArray(v.attached) ? v.attached : [], exposed: Array.isArray(v.exposed) ? v.exposed.filter((c): c is string => typeof c === 'string') : [] };
    if (typeof v.gateway === 'string') out.gateway = v.gateway;
    if (v.masquerade === true) out.masquerade = true;
    return out;
  }

  async save(s: StoredEndpoints): Promise<void> {
    await replaceFileDurably(this.dir, FILE, JSON.stringify(s, null, 1));
  }

}
