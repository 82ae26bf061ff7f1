// Kernel xfrm against weft's codecs in Debian's stock kernel: QEMU boots it (vm-runner.ts), and
// xfrm-probe.ts runs inside with two namespaces joined by a veth, installs ESP-in-UDP transport
// SAs and policies with router/netlink/xfrm.ts, and cross-checks the kernel's ESP with
// crypto/esp.ts in both directions, for each cipher. About 15 s under TCG.
//
// Skips, saying why, without qemu-system-x86, busybox-static, kmod, the kernel package (apt) or
// the native addon. The probe runs from dist/: it is compiled here when dist/ lacks it or is older
// than its sources.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ESP_CIPHERS } from '../../crypto/esp-sa.js';
import { NATIVE_ADDON_PATH } from '../../lib/native.js';
import { REPO_ROOT, prepareVmImage } from './vm-image.js';
import { runInVm, type VmRunResult } from './vm-runner.js';
import type { CipherReport } from './xfrm-probe.js';

const PROBE = join(REPO_ROOT, 'dist/test/vm/xfrm-probe.js');
const VM_TIMEOUT_MS = 120_000;
const PROBE_SOURCES = ['test/vm', 'router/netlink', 'router/tun.ts', 'lib', 'crypto'];

function newestSource(): number {
  let newest = 0;
  const visit = (p: string): void => {
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) newest = Math.max(newest, st.mtimeMs);
  };
  for (const s of PROBE_SOURCES) visit(join(REPO_ROOT, s));
  return newest;
}

/** Compiles the probe and what it imports into dist/, as `make build` does once tsconfig.build.json includes test/vm. */
function ensureProbeBuilt(): void {
  if (existsSync(PROBE) && statSync(PROBE).mtimeMs >= newestSource()) return;
  const dir = mkdtempSync(join(tmpdir(), 'weft-probe-build-'));
  try {
    const config = {
      extends: join(REPO_ROOT, 'tsconfig.build.json'),
      compilerOptions: { outDir: join(REPO_ROOT, 'dist'), rootDir: REPO_ROOT },
      include: [join(REPO_ROOT, 'test/vm/*.ts')],
      exclude: [join(REPO_ROOT, '**/*.test.ts')],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
    execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const prepared = await prepareVmImage();
const skipReason = !prepared.ok ? prepared.reason : !existsSync(NATIVE_ADDON_PATH) ? 'the native addon is not built (make build)' : undefined;

describe.skipIf(skipReason !== undefined)(`xfrm in Debian's stock kernel under QEMU${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  let run: VmRunResult;
  let reports: CipherReport[];

  beforeAll(async () => {
    if (!prepared.ok) return;
    ensureProbeBuilt();
    run = await runInVm({ command: `node ${PROBE}`, timeoutMs: VM_TIMEOUT_MS, image: prepared.image });
    reports = run.output
      .split('\n')
      .filter((l) => l.startsWith('XFRM-PROBE '))
      .map((l) => JSON.parse(l.slice('XFRM-PROBE '.length)) as CipherReport);
  }, VM_TIMEOUT_MS + 60_000);

  it(`boots ${prepared.ok ? prepared.image.version : 'the kernel'} and runs the probe to the end`, async (ctx) => {
    await ctx.annotate(`VM boot + probe: ${run.elapsedMs} ms`);
    const context = `probe output:\n${run.output}\nguest console (tail):\n${run.console.slice(-4000)}`;
    expect(run.timedOut, context).toBe(false);
    expect(run.exitCode, context).not.toBeNull();
    expect(reports.map((r) => r.cipher), context).toEqual([...ESP_CIPHERS]);
  });

  for (const cipher of ESP_CIPHERS) {
    it(`${cipher}: kernel ESP opens with openEsp, sealEsp opens in the kernel, counters and dumps decode`, (ctx) => {
      const report = reports.find((r) => r.cipher === cipher);
      expect(report, run.output).toBeDefined();
      // aes-256-gcm is in every kernel with ESP; the other may be missing from a custom build.
      if (!report!.supported && cipher !== 'aes-256-gcm') ctx.skip(`the guest kernel lacks it: ${report!.reason}`);
      expect(report!.supported, report!.reason).toBe(true);
      const failed = report!.checks.filter((c) => !c.ok);
      expect(failed, JSON.stringify({ failed, diagnostics: report!.diagnostics }, null, 2)).toEqual([]);
      expect(report!.checks.length).toBeGreaterThanOrEqual(19);
      expect(report!.inbound).toMatchObject({ current: { packets: 4 }, stats: { replay: 1, replayWindow: 1, integrityFailed: 1 } });
    });
  }
});
