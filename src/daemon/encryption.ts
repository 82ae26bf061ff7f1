// Builds the data plane's encryption for the daemon when a password is set: the TUN and the
// UDP socket of the user-space ESP engine, the nftables cleartext guard, the key exchange on the
// mesh's connections. Started before the mesh, so no connection's keys are missed.
import type { Clock } from '../clock.js';
import * as C from '../constants.js';
import { errorMessage, WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { MeshRouter } from '../../mesh/router.js';
import { Encryption, ESP_TUN } from '../../router/encryption.js';
import { ESP_INJECT_MARK, NftCleartextGuard } from '../../router/esp-firewall.js';
import { openBatchUdp, openTun, type TunDevice } from '../../router/tun.js';
import type { DaemonOptions } from './options.js';

export async function startEncryption(opts: DaemonOptions, router: MeshRouter, clock: Clock, log: Logger): Promise<Encryption> {
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
  let udp;
  try {
    udp = openBatchUdp({ address: opts.host === '' ? '0.0.0.0' : opts.host, port: opts.port });
  } catch (err) {
    tun.close();
    throw new WeftError('io', `cannot open UDP ${opts.port} for ESP: ${errorMessage(err)}`);
  }
  let inject;
  try {
    inject = openBatchUdp({ address: '127.0.0.1', port: 0, mark: ESP_INJECT_MARK });
  } catch (err) {
    udp.close();
    tun.close();
    throw new WeftError('io', `cannot open the ESP engine's loopback socket: ${errorMessage(err)}`);
  }
  const enc = new Encryption({
    clock,
    log,
    tun,
    udp,
    inject,
    guard: new NftCleartextGuard(),
    espPort: opts.port,
    vxlanPort: opts.vxlanPort,
    ciphers: opts.espCiphers,
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
