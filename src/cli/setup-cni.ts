// `weft setup-cni`: installs weft's CNI plugin for container runtimes (podman, containerd, the
// kubelet): the plugin as BIN_DIR/weft and CONF_DIR/10-weft.conflist naming it, chained with the
// standard portmap plugin. Idempotent; see docs/cni.md.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { WeftError, errorMessage } from '../../lib/errors.js';
import { projectRoot } from '../../lib/paths.js';
import { parseApiAddr } from '../cni/config.js';
import { DEFAULT_BIN_DIR, DEFAULT_CONFLIST_VERSION, DEFAULT_CONF_DIR, conflistVersion, install, type Installed } from '../cni/install.js';
import { httpAddrOf } from './client.js';
import type { CliContext } from './context.js';

const root = projectRoot(import.meta.url);
/** The bundle `make build` writes (dist/cni/weft-cni.js), from the built CLI or from its source. */
export const PLUGIN_BUNDLE = resolve(root, 'dist/cni/weft-cni.js');
/** The native forwarder `make build` compiles (native/build/weft-cni) when there is a C compiler. */
export const PLUGIN_SHIM = resolve(root, 'native/build/weft-cni');

interface SetupCniOptions {
  binDir: string;
  confDir: string;
  cniVersion: string;
  api?: string;
  masquerade: boolean;
  portmap: boolean;
  json?: boolean;
}

export function registerSetupCni(program: Command, ctx: CliContext): void {
  program
    .command('setup-cni')
    .description('install the weft CNI plugin and a conflist for container runtimes (podman, containerd)')
    .option('--bin-dir <dir>', 'where runtimes look for CNI plugins', DEFAULT_BIN_DIR)
    .option('--conf-dir <dir>', 'where runtimes read network configurations', DEFAULT_CONF_DIR)
    .option('--cni-version <version>', 'the conflist\'s cniVersion (podman 4 and containerd 1.6 take up to 1.0.0)', DEFAULT_CONFLIST_VERSION)
    .option('--api <addr>', 'the router API address the plugin calls (default: --http-addr, else 127.0.0.1:6784)')
    .option('--no-masquerade', 'do not masquerade container traffic leaving the overlay range')
    .option('--no-portmap', 'do not chain the portmap plugin (no published ports)')
    .option('--json', 'print what was written as JSON')
    .action(async (opts: SetupCniOptions, cmd: Command) => {
      const version = conflistVersion(opts.cniVersion);
      if (!version.ok) throw new WeftError('usage', version.reason);
      const api = opts.api ?? httpAddrOf(cmd, ctx);
      // Checked with the plugin's own parser: what is written is what the plugin accepts.
      if (!parseApiAddr(api)) throw new WeftError('usage', `--api "${api}" is not host:port — e.g. 127.0.0.1:6784`);
      let r;
      try {
        r = await install({
          bundlePath: PLUGIN_BUNDLE,
          shimPath: PLUGIN_SHIM,
          binDir: resolve(opts.binDir),
          confDir: resolve(opts.confDir),
          nodePath: ctx.self.execPath,
          cniVersion: version.value,
          api,
          masquerade: opts.masquerade,
          portmap: opts.portmap,
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const hint = code === 'EACCES' || code === 'EPERM' ? ' — run it as root, or pass --bin-dir/--conf-dir you can write' : '';
        throw new WeftError('io', `weft setup-cni: ${errorMessage(err)}${hint}`, { cause: err });
      }
      if (opts.json) {
        ctx.stdout(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      const line = (what: string, i: Installed): string => `${i.changed ? 'wrote' : 'unchanged'} ${i.path} (${what})\n`;
      const plugin =
        r.plugin.kind === 'native'
          ? line('the CNI plugin: the native forwarder to the router', r.plugin) + (r.fallback ? line('the Node plugin it falls back to when the router does not answer', r.fallback) : '')
          : line(`the CNI plugin in Node: ${PLUGIN_SHIM} is not built, so each call starts Node (~0.1 s) — install a C compiler (cc) and run \`make build\`, then this again`, r.plugin);
      ctx.stdout(plugin + line(`network "weft", cniVersion ${version.value}`, r.conflist));
    });
}
