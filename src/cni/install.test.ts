import { mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConflist, conflistVersion, install, withShebang } from './install.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-cni-install-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('setup-cni install', () => {
  it('writes the conflist the runtimes read, with portmap chained unless told not to', () => {
    expect(buildConflist({ cniVersion: '1.0.0', api: '127.0.0.1:6784', masquerade: true, portmap: true })).toEqual({
      cniVersion: '1.0.0',
      name: 'weft',
      plugins: [
        { type: 'weft', api: '127.0.0.1:6784', masquerade: true, capabilities: { ips: true } },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    expect(buildConflist({ cniVersion: '0.4.0', api: '127.0.0.1:7000', masquerade: false, portmap: false }).plugins).toEqual([
      { type: 'weft', api: '127.0.0.1:7000', masquerade: false, capabilities: { ips: true } },
    ]);
  });

  it('refuses versions the plugin does not speak', () => {
    expect(conflistVersion('1.1.0')).toEqual({ ok: true, value: '1.1.0' });
    const r = conflistVersion('0.2.0');
    expect(r.ok).toBe(false);
  });

  it('points the shebang at the given node', () => {
    expect(withShebang('#!/usr/bin/env node\nbody\n', '/usr/local/bin/node')).toBe('#!/usr/local/bin/node\nbody\n');
    expect(withShebang('body\n', '/n')).toBe('#!/n\nbody\n');
  });

  it('installs atomically and is idempotent', async () => {
    const bundlePath = join(dir, 'weft-cni.js');
    await writeFile(bundlePath, '#!/usr/bin/env node\nconsole.log(1);\n');
    const o = { bundlePath, shimPath: join(dir, 'not-built'), binDir: join(dir, 'bin'), confDir: join(dir, 'net.d'), nodePath: '/usr/bin/node', cniVersion: '1.0.0' as const, api: '127.0.0.1:6784', masquerade: true, portmap: true };
    const first = await install(o);
    expect([first.plugin.changed, first.conflist.changed]).toEqual([true, true]);
    expect((await stat(join(dir, 'bin', 'weft'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(dir, 'net.d', '10-weft.conflist'))).mode & 0o777).toBe(0o644);
    expect(await readFile(join(dir, 'bin', 'weft'), 'utf8')).toBe('#!/usr/bin/node\nconsole.log(1);\n');
    expect(JSON.parse(await readFile(join(dir, 'net.d', '10-weft.conflist'), 'utf8'))).toEqual(first.conflist.config);
    const again = await install(o);
    expect([again.plugin.changed, again.conflist.changed]).toEqual([false, false]);
    const changed = await install({ ...o, masquerade: false });
    expect([changed.plugin.changed, changed.conflist.changed]).toEqual([false, true]);
    expect(await readdir(join(dir, 'net.d'))).toEqual(['10-weft.conflist']);
    await expect(install({ ...o, bundlePath: join(dir, 'missing.js') })).rejects.toThrow('make build');
  });

  it('without a built forwarder the Node plugin is BIN_DIR/weft; with one, the forwarder is, and the Node plugin beside it', async () => {
    const bundlePath = join(dir, 'weft-cni.js');
    const shimPath = join(dir, 'weft-cni');
    await writeFile(bundlePath, '#!/usr/bin/env node\nconsole.log(1);\n');
    const o = { bundlePath, shimPath, binDir: join(dir, 'bin'), confDir: join(dir, 'net.d'), nodePath: '/usr/bin/node', cniVersion: '1.0.0' as const, api: '127.0.0.1:6784', masquerade: true, portmap: true };
    const node = await install(o);
    expect(node.plugin).toMatchObject({ kind: 'node', changed: true });
    expect(node.fallback).toBeUndefined();
    expect(await readdir(join(dir, 'bin'))).toEqual(['weft']);

    // Not text: every byte must survive (an ELF with bytes that are not UTF-8).
    const elf = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0xff, 0xfe, 0x00, 0x80, 0x0a]);
    await writeFile(shimPath, elf);
    const native = await install(o);
    expect(native.plugin).toMatchObject({ kind: 'native', changed: true, path: join(dir, 'bin', 'weft') });
    expect(native.fallback).toEqual({ path: join(dir, 'bin', 'weft-cni.js'), changed: true });
    expect(native.conflist.changed).toBe(false);
    expect((await readFile(join(dir, 'bin', 'weft'))).equals(elf)).toBe(true);
    expect(await readFile(join(dir, 'bin', 'weft-cni.js'), 'utf8')).toBe('#!/usr/bin/node\nconsole.log(1);\n');
    for (const f of ['weft', 'weft-cni.js']) expect((await stat(join(dir, 'bin', f))).mode & 0o777).toBe(0o755);
    expect((await readdir(join(dir, 'bin'))).sort()).toEqual(['weft', 'weft-cni.js']);

    const again = await install(o);
    expect([again.plugin.changed, again.fallback?.changed, again.conflist.changed]).toEqual([false, false, false]);
    // A new node: only the fallback's #! changes.
    const moved = await install({ ...o, nodePath: '/opt/node/bin/node' });
    expect([moved.plugin.changed, moved.fallback?.changed]).toEqual([false, true]);
  });
});
