// The two ESP engines interoperate: in Debian's stock kernel under QEMU (which has ESP, unlike
// the machines running this), a router on the kernel engine (xfrm) and one on the user-space
// engine, each with a container, ping each other with AES-256-GCM and then ChaCha20-Poly1305
// (engines-probe.ts runs inside). About 45 s under TCG. Skips, saying why, like xfrm-vm.test.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NATIVE_ADDON_PATH } from '../../lib/native.js';
import { REPO_ROOT, prepareVmImage } from './vm-image.js';
import { runInVm, type VmRunResult } from './vm-runner.js';
import type { EnginesReport } from './engines-probe.js';

const PROBE = join(REPO_ROOT, 'dist/test/vm/engines-probe.js');
const VM_TIMEOUT_MS = 240_000;

const prepared = await prepareVmImage();
const skipReason = !prepared.ok ? prepared.reason
  : !existsSync(NATIVE_ADDON_PATH) ? 'the native addon is not built (make build)'
  : !existsSync(PROBE) ? 'dist/ is not built (make build)' : undefined;

describe.skipIf(skipReason !== undefined)(`kernel engine ⇄ user-space engine in Debian's stock kernel${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  let run: VmRunResult;
  let report: EnginesReport | undefined;

  beforeAll(async () => {
    if (!prepared.ok) return;
    run = await runInVm({ command: `cd ${REPO_ROOT} && node ${PROBE}`, timeoutMs: VM_TIMEOUT_MS, image: prepared.image, memoryMb: 2048 });
    const line = run.output.split('\n').find((l) => l.startsWith('ENGINES-PROBE '));
    report = line ? (JSON.parse(line.slice('ENGINES-PROBE '.length)) as EnginesReport) : undefined;
  }, VM_TIMEOUT_MS + 60_000);

  it('a kernel-engine host and a user-space-engine host ping each other, with either cipher', async (ctx) => {
    await ctx.annotate(`VM boot + two routers + pings: ${run.elapsedMs} ms`);
    const context = `probe output:\n${run.output}\nguest console (tail):\n${run.console.slice(-3000)}`;
    expect(report, context).toBeDefined();
    expect(report!.error, context).toBeUndefined();
    expect(report!.engines).toEqual(['kernel', 'user space']);
    expect(report!.ciphers).toEqual(['aes-256-gcm', 'aes-256-gcm']);
    expect([report!.pingKernelToUser, report!.pingUserToKernel], context).toEqual([true, true]);
    expect(report!.chacha, context).toEqual({ ciphers: ['chacha20-poly1305', 'chacha20-poly1305'], pingKernelToUser: true, pingUserToKernel: true });
  });
});
