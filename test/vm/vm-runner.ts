// Runs one shell command in a throwaway QEMU guest booted from Debian's stock kernel (vm-image.ts)
// and returns its output and exit code.
//
//   runInVm ─ initramfs = cached image ‖ newc{ weft-cmd } ─► qemu (TCG, no NIC, host / as read-only 9p)
//           ◄─ ttyS1 file: BEGIN marker, command output, EXIT <code> marker ◄─ guest /init
//
// TCG, not KVM: this machine's /dev/kvm cannot run a stock kernel (../shared/reference/kernel-vm-testing.md).
// The guest has no network device, so nothing it does reaches any network; its writes land in tmpfs.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newcArchive } from './newc.js';
import { OUTPUT_BEGIN, OUTPUT_EXIT, QEMU, REPO_ROOT, prepareVmImage, type VmImage } from './vm-image.js';

export interface VmRunOptions {
  /** A shell command line, run by /bin/sh in `cwd` (default: the repository) as root in the guest. */
  command: string;
  /** Hard limit for boot, command and power-off; the VM is killed after it. */
  timeoutMs: number;
  cwd?: string;
  memoryMb?: number;
  cpus?: number;
  /** A prepared image; default: prepareVmImage() (throws if it cannot be built). */
  image?: VmImage;
}

export interface VmRunResult {
  /** The command's exit status; null when the guest never reported one (timeout, boot failure). */
  exitCode: number | null;
  /** What the command wrote to stdout and stderr. */
  output: string;
  /** The guest kernel's console (boot messages, init's complaints), for diagnosing failures. */
  console: string;
  timedOut: boolean;
  elapsedMs: number;
}

const DEFAULT_MEMORY_MB = 1024;
const DEFAULT_CPUS = 2;
const KERNEL_ARGS = 'console=ttyS0 panic=-1 quiet loglevel=3';

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Splits the guest's ttyS1 stream into the command's output and its exit code. */
export function parseGuestOutput(raw: string): { exitCode: number | null; output: string } {
  const begin = raw.indexOf(`${OUTPUT_BEGIN}\n`);
  const body = begin < 0 ? raw : raw.slice(begin + OUTPUT_BEGIN.length + 1);
  const at = body.lastIndexOf(`${OUTPUT_EXIT} `);
  const m = at < 0 ? null : /^\S+ (\d+)@@/.exec(body.slice(at));
  if (!m) return { exitCode: null, output: body };
  return { exitCode: Number(m[1]), output: body.slice(0, at) };
}

export async function runInVm(opts: VmRunOptions): Promise<VmRunResult> {
  let image = opts.image;
  if (!image) {
    const prepared = await prepareVmImage();
    if (!prepared.ok) throw new Error(`cannot run a VM: ${prepared.reason}`);
    image = prepared.image;
  }
  const dir = await mkdtemp(join(tmpdir(), 'weft-vm-'));
  try {
    const script = `cd ${shellQuote(opts.cwd ?? REPO_ROOT)} || exit 125\n${opts.command}\n`;
    const initrd = join(dir, 'initramfs.cpio');
    await writeFile(initrd, Buffer.concat([await readFile(image.initramfs), newcArchive([
      { path: 'weft-cmd', mode: 0o100644, data: Buffer.from(script) },
      { path: 'weft-timeout', mode: 0o100644, data: Buffer.from(String(Math.ceil(opts.timeoutMs / 1000))) },
    ])]));
    const consoleLog = join(dir, 'console.log');
    const outputLog = join(dir, 'output.log');
    const args = [
      '-accel', 'tcg', '-cpu', 'max', '-m', String(opts.memoryMb ?? DEFAULT_MEMORY_MB), '-smp', String(opts.cpus ?? DEFAULT_CPUS),
      '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-no-reboot',
      '-kernel', image.kernel, '-initrd', initrd, '-append', KERNEL_ARGS,
      '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
      '-serial', `file:${consoleLog}`, '-serial', `file:${outputLog}`,
    ];
    const started = Date.now();
    const { timedOut, stderr } = await new Promise<{ timedOut: boolean; stderr: string }>((resolve) => {
      const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      let late = false;
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-8192)));
      const timer = setTimeout(() => {
        late = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        resolve({ timedOut: false, stderr: `${err}${e.message}` });
      });
      child.once('close', () => {
        clearTimeout(timer);
        resolve({ timedOut: late, stderr: err });
      });
    });
    const elapsedMs = Date.now() - started;
    const raw = await readFile(outputLog, 'utf8').catch(() => '');
    const consoleText = (await readFile(consoleLog, 'utf8').catch(() => '')) + (stderr ? `\n[qemu] ${stderr}` : '');
    return { ...parseGuestOutput(raw), console: consoleText, timedOut, elapsedMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
