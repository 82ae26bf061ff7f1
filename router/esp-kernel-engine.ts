// The kernel ESP engine: the same SAs as the user-space engine, installed as xfrm states over
// NETLINK_XFRM, for kernels that have ESP and the AEAD transforms (probeKernelEsp). The kernel
// then seals the VXLAN datagrams itself — the same bytes the user-space engine produces, so the
// two engines interoperate (test/vm/).
//
//   policies (global, installed first, kept while weft is down):
//     out  udp dport 6784  → ESP transport, reqid WEFT   no SA for the destination = dropped, never clear
//     in   udp dport 6784  ← ESP transport, reqid WEFT   cleartext VXLAN = dropped (XfrmInTmplMismatch)
//   states (per peer address and direction, from esp-keys.ts through the SaTable methods):
//     out  src us  dst peer  spi (peer's)  encap espinudp 6783→6783  selector us→peer udp/6784
//     in   src peer dst us   spi (ours)    encap …                   selector peer→us udp/6784, replay 1024
//
// ESP-in-UDP arrives on a UDP socket bound to 6783 with UDP_ENCAP set (the kernel decapsulates
// what arrives there). Counters are read back from the kernel once a second.
import { readFileSync } from 'node:fs';
import type { Logger } from '../lib/log.js';
import { errorMessage } from '../lib/errors.js';
import type { PeerName } from '../mesh/peer-name.js';
import { DEFAULT_REPLAY_WINDOW } from '../crypto/replay-window.js';
import type { EspCipher, InboundSa, OutboundSa } from '../crypto/esp-sa.js';
import { NetlinkClient, errnoCode } from './netlink/client.js';
import { openNetlinkSocket } from './netlink/socket.js';
import {
  aeadFor, decodeSa, deletePolicy, deleteSa, dumpSas, IPPROTO_ESP, NETLINK_XFRM, newSa, updatePolicy, UDP_ENCAP_ESPINUDP,
  XFRM_MSG_NEWSA, type XfrmPolicy, type XfrmSa,
} from './netlink/xfrm.js';
import { loadTunAddon } from './tun.js';
import type { EspEngineCounters, EspPeerCounters } from './esp-engine.js';
import type { SaTable } from './esp-keys.js';
import { Coalescer } from '../lib/serial.js';

/** reqid of every weft SA and policy template: what tells ours apart. */
export const WEFT_REQID = 0x5eb1;
const POLICY_PRIORITY = 100;

export interface KernelEngineOptions {
  espPort: number;
  vxlanPort: number;
  log: Logger;
  /** Test seam; default: a NETLINK_XFRM socket in our namespace. */
  client?: NetlinkClient;
}

interface Installed {
  sa: XfrmSa;
  peer: PeerName;
  dir: 'in' | 'out';
}

export class KernelEspEngine implements SaTable {
  readonly kind = 'kernel' as const;
  private readonly client: NetlinkClient;
  private readonly outbound = new Map<PeerName, OutboundSa>();
  private readonly inbound = new Map<number, { peer: PeerName; sa: InboundSa }>();
  private addresses = new Map<PeerName, string[]>();
  private local: string | undefined;
  /** What is in the kernel, by `dir dst spi`. */
  private installed = new Map<string, Installed>();
  /** One reconcile at a time; calls during a run share the one queued behind it. */
  private readonly reconciler = new Coalescer(() =>
    this.reconcile().catch((err: unknown) => {
      this.lastError = errorMessage(err);
      this.o.log.error({ err: this.lastError }, 'kernel ESP: installing SAs failed');
    }),
  );
  private encapFd: number | undefined;
  private readonly perPeer = new Map<PeerName, EspPeerCounters>();
  private stopped = false;
  readonly counters: EspEngineCounters = { tunIn: 0, sent: 0, received: 0, tunOut: 0, dropped: {} };
  lastError: string | undefined;

  constructor(private readonly o: KernelEngineOptions) {
    this.client = o.client ?? new NetlinkClient(openNetlinkSocket({ protocol: NETLINK_XFRM }));
  }

  /** Policies first (from then on nothing leaves in clear), then stale SAs out, then the encap socket. */
  async start(): Promise<void> {
    for (const p of globalPolicies(this.o.vxlanPort)) await this.client.request(updatePolicy(p));
    for (const sa of await this.ours()) await ignoring(this.client.request(deleteSa({ dst: sa.dst, spi: sa.spi })), 'ESRCH');
    const native = loadTunAddon();
    const fd = native.openUdp('0.0.0.0', this.o.espPort, null, 1 << 20);
    try {
      native.setUdpEncap(fd, UDP_ENCAP_ESPINUDP);
    } catch (err) {
      native.close(fd);
      throw err;
    }
    this.encapFd = fd;
  }

  /** Closes the encap socket; states and policies stay (the policies keep traffic from leaving in clear). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.encapFd !== undefined) loadTunAddon().close(this.encapFd);
    this.client.close();
  }

  /** `weft reset`: our policies and states go. Returns how many were there. */
  async reset(): Promise<number> {
    let n = 0;
    for (const p of globalPolicies(this.o.vxlanPort)) if (await ignoring(this.client.request(deletePolicy(p)), 'ENOENT')) n++;
    for (const sa of await this.ours()) if (await ignoring(this.client.request(deleteSa({ dst: sa.dst, spi: sa.spi })), 'ESRCH')) n++;
    this.installed.clear();
    return n;
  }

  // ── SaTable ─────────────────────────────────────────────────────────────────────────────────────

  addInbound(peer: PeerName, sa: InboundSa): void {
    this.inbound.set(sa.spi, { peer, sa });
    this.schedule();
  }

  removeInbound(spi: number): void {
    if (this.inbound.delete(spi)) this.schedule();
  }

  hasInbound(spi: number): boolean {
    return this.inbound.has(spi);
  }

  setOutbound(peer: PeerName, sa: OutboundSa | undefined): void {
    if (sa) this.outbound.set(peer, sa);
    else this.outbound.delete(peer);
    this.schedule();
  }

  setAddresses(peers: Map<PeerName, string[]>, local: string | undefined): void {
    const same = local === this.local && peers.size === this.addresses.size && [...peers].every(([p, a]) => this.addresses.get(p)?.join() === a.join());
    this.addresses = new Map(peers);
    if (local) this.local = local;
    if (!same) this.schedule();
  }

  peerCounters(peer: PeerName): EspPeerCounters {
    let c = this.perPeer.get(peer);
    if (!c) this.perPeer.set(peer, (c = { sent: 0, received: 0, sentBytes: 0, receivedBytes: 0, replayDrops: 0, authFailures: 0 }));
    return c;
  }

  peerStatus(peer: PeerName): EspPeerCounters {
    return { ...this.peerCounters(peer) };
  }

  /** Reads the states' counters (and the kernel's own sequence numbers, which the rekey check needs). */
  async refreshCounters(): Promise<void> {
    const sums = new Map<PeerName, EspPeerCounters>();
    for (const info of await this.ours()) {
      const mine = this.installed.get(key(info.dst, info.spi, info.src === this.local ? 'out' : 'in'));
      if (!mine) continue;
      let c = sums.get(mine.peer);
      if (!c) sums.set(mine.peer, (c = { sent: 0, received: 0, sentBytes: 0, receivedBytes: 0, replayDrops: 0, authFailures: 0 }));
      if (mine.dir === 'out') {
        c.sent += info.current.packets;
        c.sentBytes += info.current.bytes;
        const sa = this.outbound.get(mine.peer);
        if (sa?.spi === info.spi && info.replay) sa.syncSequence(info.replay.outbound);
      } else {
        c.received += info.current.packets;
        c.receivedBytes += info.current.bytes;
        c.replayDrops += info.stats.replay + info.stats.replayWindow;
        c.authFailures += info.stats.integrityFailed;
      }
    }
    for (const [peer, c] of sums) this.perPeer.set(peer, c);
    const stat = xfrmStat();
    if (stat) this.counters.dropped = stat;
  }

  // ── reconciling states ──────────────────────────────────────────────────────────────────────────

  private schedule(): void {
    if (this.stopped) return;
    void this.reconciler.run();
  }

  /** Resolves when every change so far is in the kernel (tests). */
  async settled(): Promise<void> {
    await this.reconciler.idle();
  }

  private desired(): Map<string, Installed> {
    const want = new Map<string, Installed>();
    const local = this.local;
    if (!local) return want;
    const encap = { type: UDP_ENCAP_ESPINUDP, sport: this.o.espPort, dport: this.o.espPort };
    for (const [peer, sa] of this.outbound) {
      for (const addr of this.addresses.get(peer) ?? []) {
        const x: XfrmSa = {
          src: local, dst: addr, spi: sa.spi, mode: 'transport', reqid: WEFT_REQID, aead: aeadFor({ cipher: sa.cipher, key: sa.key, salt: sa.salt }), encap,
          selector: { src: `${local}/32`, dst: `${addr}/32`, proto: 17, dport: this.o.vxlanPort },
        };
        want.set(key(addr, sa.spi, 'out'), { sa: x, peer, dir: 'out' });
      }
    }
    for (const { peer, sa } of this.inbound.values()) {
      const addr = this.addresses.get(peer)?.[0];
      if (!addr) continue;
      const x: XfrmSa = {
        src: addr, dst: local, spi: sa.spi, mode: 'transport', reqid: WEFT_REQID, aead: aeadFor({ cipher: sa.cipher, key: sa.key, salt: sa.salt }), encap,
        selector: { src: `${addr}/32`, dst: `${local}/32`, proto: 17, dport: this.o.vxlanPort }, replayWindow: DEFAULT_REPLAY_WINDOW,
      };
      want.set(key(local, sa.spi, 'in'), { sa: x, peer, dir: 'in' });
    }
    return want;
  }

  /** Adds before it deletes: a replaced outbound SA is never missing for a moment. */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const want = this.desired();
    for (const [k, w] of want) {
      if (this.installed.has(k)) continue;
      try {
        await this.client.request(newSa(w.sa));
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
      }
      this.installed.set(k, w);
    }
    for (const [k, have] of [...this.installed]) {
      if (want.has(k)) continue;
      await ignoring(this.client.request(deleteSa({ dst: have.sa.dst, spi: have.sa.spi })), 'ESRCH');
      this.installed.delete(k);
    }
    this.lastError = undefined;
  }

  private async ours() {
    const out = [];
    for (const m of await this.client.dump(dumpSas(IPPROTO_ESP))) {
      if (m.type !== XFRM_MSG_NEWSA) continue;
      const d = decodeSa(m.payload);
      if (d.ok && d.value.reqid === WEFT_REQID) out.push(d.value);
    }
    return out;
  }
}

function key(dst: string, spi: number, dir: 'in' | 'out'): string {
  return `${dir} ${dst} ${spi}`;
}

function globalPolicies(vxlanPort: number): XfrmPolicy[] {
  const selector = { src: '0.0.0.0/0', dst: '0.0.0.0/0', proto: 17, dport: vxlanPort };
  const templates = [{ src: '0.0.0.0', dst: '0.0.0.0', mode: 'transport' as const, reqid: WEFT_REQID }];
  return (['out', 'in'] as const).map((dir) => ({ selector, dir, priority: POLICY_PRIORITY, templates }));
}

/** Awaits p; the error `code` means there was nothing to do (false). */
async function ignoring(p: Promise<unknown>, code: string): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (errnoCode(err) !== code) throw err;
    return false;
  }
}

/** The namespace's xfrm drop counters that matter to weft (/proc/net/xfrm_stat), non-zero only. */
export function xfrmStat(text?: string): Record<string, number> | undefined {
  let t = text;
  try {
    t ??= readFileSync('/proc/net/xfrm_stat', 'utf8');
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  for (const line of t.split('\n')) {
    const m = /^(Xfrm\w+)\s+(\d+)/.exec(line);
    if (m && Number(m[2]) > 0) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * Which of `ciphers` this kernel's xfrm can do: adds and removes a throwaway SA per cipher.
 * Returns [] with a reason when it cannot (no xfrm, no ESP, no such AEAD).
 */
export async function probeKernelEsp(ciphers: readonly EspCipher[], client?: NetlinkClient): Promise<{ ciphers: EspCipher[]; reason?: string }> {
  let c: NetlinkClient;
  try {
    c = client ?? new NetlinkClient(openNetlinkSocket({ protocol: NETLINK_XFRM }), { timeoutMs: 2000 });
  } catch (err) {
    return { ciphers: [], reason: `no NETLINK_XFRM: ${errorMessage(err)}` };
  }
  const ok: EspCipher[] = [];
  const reasons: string[] = [];
  try {
    for (const cipher of ciphers) {
      const spi = 0x5eb10000 + ok.length + reasons.length;
      const sa: XfrmSa = { src: '127.0.0.1', dst: '127.0.0.1', spi, mode: 'transport', reqid: WEFT_REQID, aead: aeadFor({ cipher, key: Buffer.alloc(32), salt: Buffer.alloc(4) }) };
      try {
        await c.request(newSa(sa));
        await ignoring(c.request(deleteSa({ dst: sa.dst, spi })), 'ESRCH');
        ok.push(cipher);
      } catch (err) {
        reasons.push(`${cipher}: ${errnoCode(err) ?? errorMessage(err)}`);
      }
    }
  } finally {
    if (!client) c.close();
  }
  return ok.length > 0 ? { ciphers: ok } : { ciphers: [], reason: `the kernel has no ESP for ${reasons.join(', ')}` };
}
