// Addresses in use twice, and our containers living in another peer's space (docs/ipam.md,
// "Conflicts"). A conflict is one of our addresses that another peer's record holds too (or two
// of our own containers, found by adopt()): the residual corner of the design, never resolved
// silently. Both sides see it, log it once and list it in `weft status ipam --json` until one of
// the containers is released.
import { formatPeerName } from '../mesh/peer-name.js';
import type { IpamCore } from './core.js';
import { formatIp } from './space.js';

export interface Conflict {
  ip: string;
  /** Who uses it: "name(nickname) container" for ours, "name(nickname)" for another peer's. */
  holders: string[];
}

export interface Foreign {
  container: string;
  ip: string;
  /** The peer whose space the address lies in now; it holds the address for us. */
  owner: string;
}

export class ConflictWatch {
  private reported = new Set<string>();
  private foreignLogged = new Set<string>();

  constructor(private readonly c: IpamCore) {}

  /** Our addresses that another holder uses too. */
  list(): Conflict[] {
    const c = this.c;
    const out: Conflict[] = [];
    for (const ip of c.table.ips()) {
      const ours = c.table.holdersOf(ip);
      const others = c.records.holdersOf(ip, c.self);
      if (ours.length + others.length < 2) continue;
      out.push({ ip: formatIp(ip), holders: [...ours.map((k) => `${c.describe(c.self)} ${k}`), ...others.map((p) => c.describe(p))] });
    }
    return out;
  }

  /** Our containers whose address lies in another peer's space now. */
  foreign(): Foreign[] {
    const c = this.c;
    const ring = c.ring;
    if (!ring) return [];
    const out: Foreign[] = [];
    for (const [container, ip] of c.table.entries()) {
      const owner = ring.ownerOf(ip);
      if (owner !== undefined && owner !== c.self) out.push({ container, ip: formatIp(ip), owner: formatPeerName(owner) });
    }
    return out;
  }

  /** Logs conflicts that appeared or went away, and containers that newly live in another peer's space. */
  check(): void {
    const c = this.c;
    const now = new Set<string>();
    for (const k of this.list()) {
      const key = `${k.ip} ${k.holders.join(' ')}`;
      now.add(key);
      if (!this.reported.has(key)) {
        c.o.log.error({ ip: k.ip, holders: k.holders }, `ipam: CONFLICT: ${k.ip} is in use by ${k.holders.join(' and ')}: detach and re-attach one of these containers to give it a new address`);
      }
    }
    for (const key of this.reported) if (!now.has(key)) c.o.log.info(`ipam: conflict resolved: ${key.split(' ')[0]} has one holder again`);
    this.reported = now;
    const ring = c.ring;
    if (!ring) return;
    const foreign = new Set<string>();
    for (const f of this.foreign()) {
      const key = `${f.container} ${f.ip} ${f.owner}`;
      foreign.add(key);
      if (this.foreignLogged.has(key)) continue;
      const owner = ring.ownerOf(Number(c.table.get(f.container)))!;
      c.o.log.warn(
        { container: f.container, ip: f.ip, owner: f.owner },
        `ipam: ${f.ip} of ${f.container} lies in the space of ${c.describe(owner)} now (this peer's space was taken over while it was away); the container keeps it and ${c.describe(owner)} holds it until it is released`,
      );
    }
    this.foreignLogged = foreign;
  }
}
