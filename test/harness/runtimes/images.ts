// Container images without a registry: a busybox root filesystem from Debian's busybox-static (one
// symlink per applet), imported with `podman import`, and a pause image for containerd's sandboxes
// (the same root plus Debian's static catatonit as its entrypoint) saved as a docker archive that
// `ctr images import` reads. The tarballs are cached in .cache/runtimes.
import { chmodSync, copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, cached, privateDir, removePrivateDir } from './dirs.js';
import { runOk } from './exec.js';

export const BUSYBOX_IMAGE = 'localhost/busybox:latest';
export const PAUSE_IMAGE = 'localhost/weft-pause:latest';
const BUSYBOX_BIN = '/bin/busybox';
const CATATONIT_BIN = '/usr/bin/catatonit';

async function makeRootfs(root: string): Promise<void> {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var/www']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(BUSYBOX_BIN, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  chmodSync(join(root, 'tmp'), 0o1777);
  // `busybox --list-full` names each applet with its usual directory (bin/sh, usr/sbin/httpd, …).
  const applets = (await runOk(BUSYBOX_BIN, ['--list-full'])).split('\n').filter(Boolean);
  for (const rel of applets) {
    if (rel === 'bin/busybox') continue;
    try {
      symlinkSync('/bin/busybox', join(root, rel));
    } catch {
      // an applet listed twice
    }
  }
}

async function tarOf(root: string, out: string): Promise<void> {
  await runOk('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', out, '.']);
}

/** The busybox root filesystem as a tarball for `podman import`. */
export function busyboxTar(): Promise<string> {
  return cached(join(CACHE_DIR, 'busybox-rootfs.tar'), async (tmp) => {
    const root = privateDir('rootfs');
    try {
      await makeRootfs(root);
      await tarOf(root, tmp);
    } finally {
      removePrivateDir(root);
    }
  });
}

/** The pause image's root filesystem (busybox + /bin/catatonit) as a tarball. */
export function pauseRootTar(): Promise<string> {
  return cached(join(CACHE_DIR, 'pause-rootfs.tar'), async (tmp) => {
    const root = privateDir('pause');
    try {
      await makeRootfs(root);
      copyFileSync(CATATONIT_BIN, join(root, 'bin/catatonit'));
      chmodSync(join(root, 'bin/catatonit'), 0o755);
      await tarOf(root, tmp);
    } finally {
      removePrivateDir(root);
    }
  });
}

/** `podman import` arguments giving the pause image its entrypoint (catatonit as a pause process). */
export const PAUSE_CHANGES = ['--change', 'ENTRYPOINT ["/bin/catatonit","-P"]'];
export const BUSYBOX_CHANGES = ['--change', 'CMD ["/bin/sh"]'];
