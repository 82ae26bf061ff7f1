// Who may join this router: the rules a peer's features are checked against before any state
// changes (an acceptor asks before it answers, so a refused weft dialler learns why), and, at the
// connection limit, which neighbour makes room for a peer nobody routes to. register() in
// router.ts applies them; duplicate connections are not refused here (register breaks the tie).
import { WeftError } from '../lib/errors.js';
import type { MeshConnection } from './connection.js';
import type { RemoteFeatures } from './features.js';
import { ALIVE_WITHIN_MS } from './limits.js';
import { formatPeerName, type PeerName } from './peer-name.js';

/** A neighbour is dropped to make room for a newcomer only if it keeps at least this many other connections. */
const MIN_SHED_DEGREE = 2;

/** What admission reads of the router; it changes nothing. */
export interface AdmissionView {
  readonly name: PeerName;
  readonly uid: bigint;
  readonly nickname: string;
  /** 0: no limit. */
  readonly connLimit: number;
  readonly conns: ReadonlyMap<PeerName, MeshConnection>;
  /** We have a route to this peer. */
  routesTo(peer: PeerName): boolean;
  /** How many connections this peer lists, other than to us. */
  degreeOf(peer: PeerName): number;
  /** The direct targets (command line, `weft connect`): connections dialled for them are never dropped to make room. */
  directTargets(): Iterable<string>;
  /** The target an outbound connection was dialled for. */
  targetOf(mc: MeshConnection): string | undefined;
}

export class Admission {
  constructor(private readonly v: AdmissionView) {}

  /** Why we would refuse a peer with these features; undefined if we would take it. */
  refusal(remote: RemoteFeatures, remoteAddr?: string): WeftError | undefined {
    const v = this.v;
    const who = `${formatPeerName(remote.name)}(${remote.nickname})`;
    const at = remoteAddr === undefined ? '' : ` at ${remoteAddr}`;
    if (remote.name === v.name) {
      return remote.uid === v.uid
        ? new WeftError('connect-to-self', 'cannot connect to ourself')
        : new WeftError('name-collision', `peer name collision: ${who}${at} has our name ${formatPeerName(v.name)} — give one of the routers another --name`);
    }
    const dup = v.conns.get(remote.name);
    // Same name, another incarnation, and the one we have is alive: two routers share a name. (A
    // restarted router's old connection falls silent and times out; the restart then gets in.)
    if (dup && dup.remote.uid !== remote.uid && dup.silentMs < ALIVE_WITHIN_MS) {
      return new WeftError(
        'unavailable',
        `peer name collision: ${formatPeerName(v.name)} is already connected to a live ${who} at ${dup.remoteAddr} — two routers share the name ${formatPeerName(remote.name)}; give one another --name`,
      );
    }
    if (this.full() && !dup && this.roomFor(remote.name) === undefined) {
      return new WeftError('conn-limit', `connection limit reached (${v.connLimit}) at ${formatPeerName(v.name)}(${v.nickname})`);
    }
    return undefined;
  }

  /** At (or over) the connection limit. */
  full(): boolean {
    return this.v.connLimit > 0 && this.v.conns.size >= this.v.connLimit;
  }

  /**
   * At the connection limit, the connection to drop so that `newcomer` gets in, if it should: a
   * peer nobody routes to (new, restarted, or cut off) would otherwise stay out for good when
   * every router it knows is full. The one dropped is the neighbour with the most other
   * connections (it stays well connected), never one we dialled as a direct target, and only
   * if it has at least MIN_SHED_DEGREE others. A newcomer we already route to is refused as before.
   */
  roomFor(newcomer: PeerName): MeshConnection | undefined {
    const v = this.v;
    if (v.routesTo(newcomer)) return undefined;
    const direct = new Set(v.directTargets());
    let best: { mc: MeshConnection; degree: number } | undefined;
    for (const mc of v.conns.values()) {
      if (mc.outbound && direct.has(v.targetOf(mc) ?? '')) continue;
      const degree = v.degreeOf(mc.remote.name);
      if (degree < MIN_SHED_DEGREE) continue;
      if (!best || degree > best.degree || (degree === best.degree && mc.remote.name > best.mc.remote.name)) best = { mc, degree };
    }
    return best?.mc;
  }
}
