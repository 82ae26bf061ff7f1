// What `weft setup-cni` installs: the plugin executable in the runtime's plugin directory and a
// conflist naming it, all replaced atomically (temp file, fsync, rename) and only when their
// content changes, so running it again is a no-op. The executable is the native forwarder
// (native/weft-cni.c: no Node start per call) with the Node plugin beside it as its fallback, or,
// where the forwarder is not built (no C compiler), the Node plugin itself.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../../lib/durable-file.js';
import { SUPPORTED_VERSIONS, isSupported, type CniVersion } from './version.js';

export const PLUGIN_NAME = 'weft';
/** The Node plugin beside the forwarder: the name native/weft-cni.c execs when the router cannot answer. */
export const FALLBACK_NAME = 'weft-cni.js';
export const CONFLIST_NAME = '10-weft.conflist';
export const DEFAULT_BIN_DIR = '/opt/cni/bin';
export const DEFAULT_CONF_DIR = '/etc/cni/net.d';
/** 1.0.0: the newest version podman 4 and containerd 1.6 accept (neither takes a 1.1.0 result). */
export const DEFAULT_CONFLIST_VERSION: CniVersion = '1.0.0';

export interface ConflistOptions {
  cniVersion: CniVersion;
  api: string;
  masquerade: boolean;
  /** Chain the standard portmap plugin (port publishing: `podman run -p`). */
  portmap: boolean;
}

export function buildConflist(o: ConflistOptions): Record<string, unknown> {
  const weft = { type: PLUGIN_NAME, api: o.api, masquerade: o.masquerade, capabilities: { ips: true } };
  const plugins: Record<string, unknown>[] = [weft];
  if (o.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
  return { cniVersion: o.cniVersion, name: PLUGIN_NAME, plugins };
}

/** The version --cni-version names, or the reason it cannot be used. */
export function conflistVersion(text: string): { ok: true; value: CniVersion } | { ok: false; reason: string } {
  if (isSupported(text)) return { ok: true, value: text };
  return { ok: false, reason: `--cni-version ${text}: weft's plugin supports ${SUPPORTED_VERSIONS.join(', ')} (podman 4 and containerd 1.6 take up to 1.0.0)` };
}

/** The bundle with its shebang pointing at this node: runtimes exec plugins with a minimal PATH. */
export function withShebang(bundle: string, nodePath: string): string {
  const body = bundle.startsWith('#!') ? bundle.slice(bundle.indexOf('\n') + 1) : bundle;
  return `#!${nodePath}\n${body}`;
}

export interface InstallOptions extends ConflistOptions {
  /** The built plugin (dist/cni/weft-cni.js). */
  bundlePath: string;
  /** The built native forwarder (native/build/weft-cni); when it does not exist the bundle is the plugin. */
  shimPath: string;
  binDir: string;
  confDir: string;
  /** The node the plugin runs with (absolute). */
  nodePath: string;
}

export interface Installed {
  path: string;
  /** False when the file already had this content (nothing was written). */
  changed: boolean;
}

export interface InstallResult {
  /** BIN_DIR/weft: the forwarder, or the Node plugin when the forwarder is not built. */
  plugin: Installed & { kind: 'native' | 'node' };
  /** BIN_DIR/weft-cni.js, the forwarder's fallback; absent when the Node plugin is BIN_DIR/weft. */
  fallback?: Installed;
  conflist: Installed & { config: Record<string, unknown> };
}

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Replaces dir/name with content (mode as given, whatever the umask) unless it already holds exactly that. */
async function replaceIfChanged(dir: string, name: string, content: string | Buffer, mode: number): Promise<Installed> {
  const path = join(dir, name);
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  if ((await readOrUndefined(path))?.equals(bytes)) {
    // Same bytes: leave the file (and whoever is executing it) alone, but make the mode right.
    const f = await open(path, 'r');
    try {
      if (((await f.stat()).mode & 0o777) === mode) return { path, changed: false };
      await f.chmod(mode);
      return { path, changed: true };
    } finally {
      await f.close();
    }
  }
  await mkdir(dir, { recursive: true });
  // A dot name: runtimes load only *.conf, *.conflist, *.json, and never a hidden plugin.
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  try {
    const f = await open(tmp, 'w', mode);
    try {
      await f.writeFile(bytes);
      await f.chmod(mode);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
  return { path, changed: true };
}

export async function install(o: InstallOptions): Promise<InstallResult> {
  const bundle = await readOrUndefined(o.bundlePath);
  if (bundle === undefined) throw new Error(`the CNI plugin ${o.bundlePath} is not built — run \`make build\``);
  const node = withShebang(bundle.toString('utf8'), o.nodePath);
  const shim = await readOrUndefined(o.shimPath);
  // Executables before the conflist that names them; the fallback before the forwarder that execs it.
  let plugin: InstallResult['plugin'];
  let fallback: Installed | undefined;
  if (shim === undefined) {
    plugin = { ...(await replaceIfChanged(o.binDir, PLUGIN_NAME, node, 0o755)), kind: 'node' };
  } else {
    fallback = await replaceIfChanged(o.binDir, FALLBACK_NAME, node, 0o755);
    plugin = { ...(await replaceIfChanged(o.binDir, PLUGIN_NAME, shim, 0o755)), kind: 'native' };
  }
  const config = buildConflist(o);
  const conflist = await replaceIfChanged(o.confDir, CONFLIST_NAME, `${JSON.stringify(config, null, 2)}\n`, 0o644);
  return { plugin, ...(fallback && { fallback }), conflist: { ...conflist, config } };
}
