// The boot image for kernel tests in QEMU: Debian's stock kernel (the package linux-image-amd64
// points at, fetched with `apt-get download`) and an initramfs holding a static busybox, the
// kernel's network, crypto, xfrm and 9p modules, and an /init that mounts the host's root
// read-only over 9p and runs one command there (see INIT_SCRIPT).
//
//   .cache/vm/<package>.deb → .cache/vm/<package>/root (dpkg-deb -x, depmod -b)
//                           → .cache/vm/<package>/image/{vmlinuz, initramfs.cpio, stamp}
//
// Built once and reused while the stamp (modules, init script) matches; nothing is installed on
// the host. Needs: qemu-system-x86, busybox-static, kmod (depmod/modprobe), dpkg, apt.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { newcArchive, type NewcEntry } from './newc.js';

const run = promisify(execFile);

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, here.includes('/dist/') ? '../../..' : '../..');
export const VM_CACHE_DIR = join(REPO_ROOT, '.cache/vm');
export const QEMU = 'qemu-system-x86_64';
const BUSYBOX = '/bin/busybox';
const META_PACKAGE = 'linux-image-amd64';

/**
 * Loaded at boot in this order (with their dependencies first). Order matters where the kernel
 * looks an algorithm up instead of linking it: drbg's self-tests need ctr(aes) and hmac(sha512),
 * jitterentropy needs sha3. Everything else in MODULE_DIRS loads on demand through busybox modprobe.
 */
export const BOOT_MODULES = [
  'virtio_pci', '9pnet_virtio', '9p', 'veth', 'bridge',
  'ctr', 'gcm', 'ghash_generic', 'ghash_clmulni_intel', 'aesni_intel',
  'chacha_generic', 'chacha_x86_64', 'poly1305_generic', 'poly1305_x86_64', 'chacha20poly1305',
  'seqiv', 'echainiv', 'sha512_generic', 'sha3_generic', 'jitterentropy_rng', 'drbg',
  'xfrm_user', 'esp4', 'tun', 'vxlan', 'nf_tables',
];
const MODULE_DIRS = [
  'kernel/crypto', 'kernel/arch/x86/crypto', 'kernel/lib/crypto', 'kernel/net/xfrm', 'kernel/net/ipv4', 'kernel/net/ipv6',
  'kernel/net/bridge', 'kernel/net/802', 'kernel/net/llc', 'kernel/net/9p', 'kernel/fs/9p', 'kernel/fs/netfs',
  'kernel/fs/fscache', 'kernel/drivers/virtio', 'kernel/drivers/net/veth.ko', 'kernel/drivers/net/vxlan',
  'kernel/net/ipv4/udp_tunnel.ko', 'kernel/net/ipv6/ip6_udp_tunnel.ko', 'kernel/drivers/net/tun.ko', 'kernel/net/netfilter',
];

export const OUTPUT_BEGIN = '@@WEFT-VM-BEGIN@@';
export const OUTPUT_EXIT = '@@WEFT-VM-EXIT';

/**
 * The guest's PID 1. ttyS0 is the kernel console; ttyS1 (raw) carries only the command's output
 * between the markers, then `@@WEFT-VM-EXIT <code>@@`. The command runs chrooted into the host's
 * root (read-only) with fresh proc, sys, dev, and tmpfs on /tmp and /run, and is killed after
 * /weft-timeout seconds, so a guest whose host side has gone still powers off.
 */
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo /bin/modprobe > /proc/sys/kernel/modprobe
while read m; do insmod "$m" || echo "weft-init: insmod $m failed" > /dev/ttyS0; done < /modules.list
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host || echo "weft-init: 9p mount failed" > /dev/ttyS0
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
# A checkout under /tmp stays visible above the guest's own /tmp.
KEEP=${REPO_ROOT.startsWith('/tmp/') ? JSON.stringify(REPO_ROOT) : "''"}
if [ -n "$KEEP" ]; then mkdir -p /keep; mount -o bind "/host$KEEP" /keep; fi
mount -t tmpfs tmp /host/tmp
if [ -n "$KEEP" ]; then mkdir -p "/host$KEEP"; mount -o bind /keep "/host$KEEP"; fi
mount -t tmpfs run /host/run
stty -F /dev/ttyS1 raw -echo
cp /weft-cmd /host/tmp/.weft-cmd
echo "${OUTPUT_BEGIN}" > /dev/ttyS1
timeout -s KILL "$(cat /weft-timeout 2>/dev/null || echo 3600)" chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /bin/sh /tmp/.weft-cmd > /dev/ttyS1 2>&1 < /dev/null
echo "${OUTPUT_EXIT} $?@@" > /dev/ttyS1
poweroff -f
`;

export interface VmImage {
  kernel: string;
  initramfs: string;
  /** The kernel release (uname -r in the guest). */
  version: string;
}

export type VmImageResult = { ok: true; image: VmImage } | { ok: false; reason: string };

async function tool(cmd: string, args: string[], cwd?: string): Promise<string> {
  const { stdout } = await run(cmd, args, { cwd, maxBuffer: 64 << 20 });
  return stdout;
}

async function missingTools(): Promise<string | undefined> {
  const needs: [string, string][] = [[QEMU, 'qemu-system-x86'], ['depmod', 'kmod'], ['modprobe', 'kmod'], ['dpkg-deb', 'dpkg']];
  const missing: string[] = [];
  for (const [cmd, pkg] of needs) {
    const found = await run('sh', ['-c', 'command -v "$0"', cmd]).then(() => true, () => false);
    if (!found) missing.push(`${cmd} (Debian package ${pkg})`);
  }
  const busybox = await run('dpkg-query', ['-W', '-f=${Status}', 'busybox-static']).then((r) => r.stdout.includes('ok installed'), () => false);
  if (!busybox || !existsSync(BUSYBOX)) missing.push(`${BUSYBOX} (Debian package busybox-static)`);
  return missing.length > 0 ? `missing ${missing.join(', ')}` : undefined;
}

/** The versioned kernel package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64. */
async function kernelPackage(cacheDir: string): Promise<string | undefined> {
  const fromApt = await tool('apt-cache', ['depends', META_PACKAGE]).catch(() => '');
  const m = /Depends:\s*(linux-image-\S+)/.exec(fromApt);
  if (m) return m[1];
  // Offline: whatever was downloaded before.
  const debs = (await readdir(cacheDir).catch(() => [] as string[])).filter((f) => /^linux-image-.*\.deb$/.test(f)).sort();
  return debs.at(-1)?.split('_')[0];
}

async function fetchDeb(cacheDir: string, pkg: string): Promise<string> {
  const find = async (): Promise<string | undefined> => (await readdir(cacheDir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  let deb = await find();
  if (!deb) {
    await tool('apt-get', ['download', pkg], cacheDir);
    deb = await find();
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${cacheDir}`);
  }
  return join(cacheDir, deb);
}

/** Module files BOOT_MODULES need, dependencies first, as modprobe reports them (absolute paths under root). */
async function bootModuleFiles(root: string, version: string): Promise<string[]> {
  const files: string[] = [];
  for (const m of BOOT_MODULES) {
    const out = await tool('modprobe', ['-d', root, '-S', version, '--show-depends', m]);
    for (const line of out.split('\n')) {
      const f = /^insmod (\S+)/.exec(line)?.[1];
      if (f && !files.includes(f)) files.push(f);
    }
  }
  return files;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function buildInitramfs(root: string, version: string, imageDir: string): Promise<string> {
  const modRoot = join(root, 'lib/modules', version);
  const boot = await bootModuleFiles(root, version);
  const stage = join(imageDir, 'stage');
  await rm(stage, { recursive: true, force: true });
  const stagedMods = join(stage, 'lib/modules', version);
  await mkdir(stagedMods, { recursive: true });
  const extra: string[] = [];
  for (const rel of MODULE_DIRS) {
    const p = join(modRoot, rel);
    if (!existsSync(p)) continue;
    extra.push(...(rel.endsWith('.ko') ? [p] : await listFiles(p)));
  }
  const all = [...new Set([...boot, ...extra])];
  for (const f of all) {
    const dest = join(stagedMods, f.slice(modRoot.length + 1));
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(f, dest);
  }
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    if (existsSync(join(modRoot, f))) await copyFile(join(modRoot, f), join(stagedMods, f));
  }
  // modules.dep and modules.alias for on-demand loading by the guest's busybox modprobe.
  await tool('depmod', ['-b', stage, version]);

  const entries: NewcEntry[] = [
    { path: 'bin', mode: 0o40755 },
    { path: 'bin/busybox', mode: 0o100755, data: await readFile(BUSYBOX) },
    { path: 'init', mode: 0o100755, data: Buffer.from(INIT_SCRIPT) },
    { path: 'modules.list', mode: 0o100644, data: Buffer.from(boot.map((f) => `/lib/modules/${version}/${f.slice(modRoot.length + 1)}\n`).join('')) },
    ...['dev', 'proc', 'sys', 'host', 'tmp'].map((d) => ({ path: d, mode: 0o40755 })),
  ];
  const dirs = new Set<string>();
  for (const f of await listFiles(stage)) {
    const rel = f.slice(stage.length + 1);
    for (let d = dirname(rel); d !== '.' && !dirs.has(d); d = dirname(d)) dirs.add(d);
    entries.push({ path: rel, mode: 0o100644, data: await readFile(f) });
  }
  entries.push(...[...dirs].sort().map((d) => ({ path: d, mode: 0o40755 })));
  entries.sort((a, b) => (a.mode & 0o40000 ? 0 : 1) - (b.mode & 0o40000 ? 0 : 1) || a.path.split('/').length - b.path.split('/').length);
  await rm(stage, { recursive: true, force: true });
  return writeAtomically(join(imageDir, 'initramfs.cpio'), newcArchive(entries));
}

async function writeAtomically(path: string, data: Buffer | string): Promise<string> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
  return path;
}

const stampOf = (pkg: string): string => createHash('sha256').update([pkg, INIT_SCRIPT, ...BOOT_MODULES, ...MODULE_DIRS].join('\n')).digest('hex');

/**
 * Downloads (once) and unpacks Debian's kernel and builds the initramfs; reuses a matching build.
 * Never throws: anything missing comes back as a reason fit for a skip message.
 */
export async function prepareVmImage(opts: { cacheDir?: string } = {}): Promise<VmImageResult> {
  const cacheDir = opts.cacheDir ?? VM_CACHE_DIR;
  const missing = await missingTools();
  if (missing) return { ok: false, reason: missing };
  try {
    await mkdir(cacheDir, { recursive: true });
    const pkg = await kernelPackage(cacheDir);
    if (!pkg) return { ok: false, reason: `no kernel package: apt-cache does not know ${META_PACKAGE} and ${cacheDir} holds no linux-image-*.deb` };
    const pkgDir = join(cacheDir, pkg);
    const imageDir = join(pkgDir, 'image');
    const stamp = stampOf(pkg);
    const stampFile = join(imageDir, 'stamp');
    const kernel = join(imageDir, 'vmlinuz');
    const initramfs = join(imageDir, 'initramfs.cpio');
    const stamped = existsSync(stampFile) ? (await readFile(stampFile, 'utf8')).split('\n') : [];
    if (stamped[0] === stamp && stamped[1] && existsSync(kernel) && existsSync(initramfs)) {
      return { ok: true, image: { kernel, initramfs, version: stamped[1] } };
    }
    const deb = await fetchDeb(cacheDir, pkg);
    const root = join(pkgDir, 'root');
    await rm(root, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    await tool('dpkg-deb', ['-x', deb, root]);
    const versions = await readdir(join(root, 'lib/modules'));
    const version = versions[0];
    if (versions.length !== 1 || !version) return { ok: false, reason: `${deb} holds ${versions.length} module trees` };
    await tool('depmod', ['-b', root, version]);
    await mkdir(imageDir, { recursive: true });
    await copyFile(join(root, 'boot', `vmlinuz-${version}`), kernel);
    await buildInitramfs(root, version, imageDir);
    await writeAtomically(stampFile, `${stamp}\n${version}\n`);
    await rm(root, { recursive: true, force: true });
    return { ok: true, image: { kernel, initramfs, version } };
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    return { ok: false, reason: `building the VM image failed: ${(e.stderr ?? '').trim() || e.message || String(err)}` };
  }
}
