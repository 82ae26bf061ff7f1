// Builds the data plane's encryption for the daemon when a password is set: the engine (the
// kernel's xfrm when it has ESP for our ciphers, else the user-space engine with its TUN, UDP
// sockets and nftables guard) and the key exchange on the mesh's connections. Started before the
// mesh, so no connection's keys are missed.
import type { Clock } from '../../lib/clock.js';
import * as C from '../../lib/constants.js';
import { errorMessage, WeftError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { MeshRouter } from '../../mesh/router.js';
import type { EspCipher } from '../../crypto/esp-sa.js';
import { Encryption, ESP_TUN, type EncryptionOptions } from '../../router/encryption.js';
import { EspEngine } from '../../router/esp-engine.js';
import { ESP_INJECT_MARK, NftCleartextGuard } from '../../router/esp-firewall.js';
import { KernelEspEngine, probeKernelEsp } from '../../router/esp-kernel-engine.js';
import { openBatchUdp, openTun, type BatchUdp, type TunDevice } from '../../router/tun.js';
import type { DaemonOptions } from './options.js';

export async function startEncryption(opts: DaemonOptions, router: MeshRouter, clock: Clock, log: Logger): Promise<Encryption> {
  let engine: EncryptionOptions['engine'];
  let ciphers: EspCipher[] = opts.espCiphers;
  const kernel = opts.espEngine === 'user' ? undefined : await probeKernelEsp(opts.espCiphers);
  if (kernel && kernel.ciphers.length > 0) {
    ciphers = kernel.ciphers;
    engine = { kind: 'kernel', engine: new KernelEspEngine({ espPort: opts.port, vxlanPort: opts.vxlanPort, log }) };
    log.info({ ciphers }, 'ESP: kernel engine (xfrm)');
  } else if (opts.espEngine === 'kernel') {
    throw new WeftError('usage', `--esp-engine kernel: ${kernel?.reason ?? 'not available'}; leave the option out to use the user-space engine`);
  } else {
    engine = { kind: 'user space', ...openUserspaceEngine(opts, log) };
    log.info({ ciphers, reason: kernel?.reason ?? '--esp-engine user' }, 'ESP: user-space engine');
  }
  const enc = new Encryption({
    clock,
    log,
    engine,
    espPort: opts.port,
    vxlanPort: opts.vxlanPort,
    ciphers,
    ...(opts.espKeylog ? { keylog: opts.espKeylog } : {}),
    rekeyAfterMs: C.ESP_REKEY_AFTER_MS,
    rekeyAfterPackets: C.ESP_REKEY_AFTER_PACKETS,
    overlapMs: C.ESP_OVERLAP_MS,
    lingerMs: C.PEER_GRACE_MS,
  });
  try {
    await enc.start(router);
  } catch (err) {
    enc.stop();
    throw err;
  }
  return enc;
}

function openUserspaceEngine(opts: DaemonOptions, log: Logger): { engine: EspEngine; tun: string; guard: NftCleartextGuard } {
  let tun: TunDevice;
  try {
    // Persistent: while weft restarts, the TUN (and the route through it) stay, and drop.
    tun = openTun({ name: ESP_TUN, persist: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const hint = code === 'EBUSY' ? ' — another weft router is running on this host'
      : code === 'EPERM' || code === 'EACCES' ? ' — encryption needs root (CAP_NET_ADMIN) for its TUN device'
      : code === 'ENOENT' ? ' — /dev/net/tun is missing (load the tun module)' : '';
    throw new WeftError('io', `cannot open TUN ${ESP_TUN} for the ESP engine: ${errorMessage(err)}${hint}`);
  }
  const sockets: BatchUdp[] = [];
  try {
    sockets.push(openBatchUdp({ address: opts.host === '' ? '0.0.0.0' : opts.host, port: opts.port }));
    sockets.push(openBatchUdp({ address: '127.0.0.1', port: 0, mark: ESP_INJECT_MARK }));
  } catch (err) {
    for (const s of sockets) s.close();
    tun.close();
    throw new WeftError('io', `cannot open the ESP engine's UDP sockets (port ${opts.port}): ${errorMessage(err)}`);
  }
  const [udp, inject] = sockets as [BatchUdp, BatchUdp];
  return { engine: new EspEngine({ tun, udp, inject, espPort: opts.port, vxlanPort: opts.vxlanPort, log }), tun: tun.name, guard: new NftCleartextGuard() };
}

/**
 * Without a password, what an earlier encrypted run left behind would drop the now cleartext
 * VXLAN: the nftables guard, the kernel engine's policies and states, the TUN. Each is removed if
 * present; a missing tool or module just means there is nothing to remove. (The FIB rules and
 * table routes go with the data plane's first refresh.)
 */
export async function removeEncryptionLeftovers(opts: DaemonOptions, log: Logger): Promise<void> {
  const removed: string[] = [];
  const guard = new NftCleartextGuard();
  if ((await guard.counts().catch(() => undefined)) !== undefined) {
    await guard.apply(undefined).then(() => removed.push('nftables table inet weft_esp'), () => undefined);
  }
  let engine: KernelEspEngine | undefined;
  try {
    engine = new KernelEspEngine({ espPort: opts.port, vxlanPort: opts.vxlanPort, log });
  } catch {
    // no NETLINK_XFRM here: nothing of the kernel engine can be left
  }
  if (engine) {
    const n = await engine.reset().catch(() => 0);
    if (n > 0) removed.push(`${n} xfrm policies and states`);
    engine.stop();
  }
  try {
    openTun({ name: ESP_TUN, persist: false }).close({ remove: true });
  } catch {
    // no TUN support, or the device is held by another router: leave it
  }
  if (removed.length > 0) log.info({ removed }, 'removed what an encrypted run left behind (no --password now)');
}
