// weft's CNI plugin driven by cnitool (libcni, the only client here that sends CHECK): add, check,
// del, a requested address, and the idempotence the spec asks for.
//
//   h0 198.18.0.1  weft router, range 10.46.2.0/24, consensus=1
//   └─ bridge weft ══ eth0 in c0 (a namespace the harness made; cnitool add/check/del on it)
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns, createLan, waitFor, type Host, type Lan } from './harness/netns.js';
import { bridgePorts, containerEth0 } from './harness/weft-state.js';
import { canUseCnitool } from './harness/runtimes/capabilities.js';
import { cnitool, type CnitoolEnv } from './harness/runtimes/cnitool.js';
import { netnsPathOf } from './harness/runtimes/exec.js';
import { STANDARD_PLUGIN_DIR } from './harness/runtimes/standard-cni.js';
import { WEFT_NETWORK, cleanupWeftCni, heldAddresses, launchWeftCni, type WeftCniHost } from './harness/runtimes/weft-cni.js';

const RANGE = '10.46.2.0/24';

const netns = canUseNetns();
const can = netns.ok ? canUseCnitool() : netns;
if (!can.ok) console.warn(`SKIP weft CNI under cnitool: ${can.reason}`);

interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

describe.skipIf(!can.ok)('weft CNI plugin under cnitool', () => {
  let lan: Lan;
  let hosts: WeftCniHost[];
  let h: WeftCniHost;
  let env: CnitoolEnv;

  beforeAll(async () => {
    lan = await createLan({ hosts: 1 });
    hosts = await launchWeftCni(lan, { range: RANGE });
    h = hosts[0]!;
    // CNI_PATH: the weft plugin's dir first, then Debian's plugins (portmap is chained)
    env = { confDir: h.confDir, pluginDirs: [h.binDir, STANDARD_PLUGIN_DIR], cacheDir: join(h.dir, 'cni-cache') };
  }, 60_000);
  afterAll(async () => {
    if (h) rmSync(join(h.dir, 'cni-cache'), { recursive: true, force: true });
    await cleanupWeftCni(hosts);
    await lan?.cleanup();
  });

  const cni = (verb: 'add' | 'check' | 'del', c: Host, extra: Partial<CnitoolEnv> = {}) => cnitool(h.host, verb, WEFT_NETWORK, netnsPathOf(c), { ...env, ...extra });

  it('add gives eth0 an address from the ring, check passes, del releases it and removes the interface', async () => {
    const c = await lan.addContainer();
    const portsBefore = await bridgePorts(h.host);
    const add = await cni('add', c);
    expect(add.code, add.stderr).toBe(0);
    const result = JSON.parse(add.stdout) as CniResult;
    const cidr = result.ips[0]!.address;
    const ip = cidr.split('/')[0]!;
    expect(ip).toMatch(/^10\.46\.2\.\d+$/);
    expect(result.interfaces?.some((i) => i.name === 'eth0' && i.sandbox === netnsPathOf(c))).toBe(true);
    expect((await containerEth0(c)).ips).toEqual([cidr]);
    expect(await heldAddresses(h)).toContain(ip);
    await waitFor(async () => (await h.host.exec('ping', ['-c', '1', '-W', '1', ip])).code === 0, { timeoutMs: 15_000, intervalMs: 100, what: `h0 to ping ${ip}` });

    const check = await cni('check', c);
    expect(check.code, check.stderr).toBe(0);

    const del = await cni('del', c);
    expect(del.code, del.stderr).toBe(0);
    expect(await heldAddresses(h)).not.toContain(ip);
    expect((await containerEth0(c)).mac).toBeNull();
    expect(await bridgePorts(h.host)).toEqual(portsBefore);

    // DEL again: nothing attached is not an error
    const again = await cni('del', c);
    expect(again.code, again.stderr).toBe(0);
    // CHECK of what is gone fails
    const gone = await cni('check', c);
    expect(gone.code).not.toBe(0);
    console.log(`cnitool check after del: ${gone.stderr.trim()}`);
  });

  it('check notices an address taken away from the interface', async () => {
    const c = await lan.addContainer();
    const add = await cni('add', c);
    expect(add.code, add.stderr).toBe(0);
    const cidr = (JSON.parse(add.stdout) as CniResult).ips[0]!.address;
    const flush = await c.exec('ip', ['addr', 'del', cidr, 'dev', 'eth0']);
    expect(flush.code, flush.stderr).toBe(0);
    const check = await cni('check', c);
    expect(check.code).not.toBe(0);
    console.log(`cnitool check with the address removed: ${check.stderr.trim()}`);
    const del = await cni('del', c);
    expect(del.code, del.stderr).toBe(0);
  });

  it('IP= in CNI_ARGS requests an address', async () => {
    const c = await lan.addContainer();
    const add = await cni('add', c, { cniArgs: 'IgnoreUnknown=1;IP=10.46.2.77' });
    expect(add.code, add.stderr).toBe(0);
    expect((JSON.parse(add.stdout) as CniResult).ips[0]!.address.split('/')[0]).toBe('10.46.2.77');
    expect(await heldAddresses(h)).toContain('10.46.2.77');
    const del = await cni('del', c, { cniArgs: 'IgnoreUnknown=1;IP=10.46.2.77' });
    expect(del.code, del.stderr).toBe(0);
    expect(await heldAddresses(h)).not.toContain('10.46.2.77');
  });
});
