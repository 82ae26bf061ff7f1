// The VM harness's pure parts: the initramfs archive format and the guest output markers.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { newcArchive } from './newc.js';
import { parseGuestOutput } from './vm-runner.js';
import { OUTPUT_BEGIN, OUTPUT_EXIT } from './vm-image.js';

const hasCpio = ((): boolean => {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('newc archives', () => {
  const archive = newcArchive([
    { path: 'bin', mode: 0o40755 },
    { path: 'bin/x', mode: 0o100755, data: Buffer.from('hello') },
    { path: 'weft-cmd', mode: 0o100644, data: Buffer.from('echo hi\n') },
  ]);

  it('header fields, 4-byte padding and the trailer', () => {
    const text = archive.toString('latin1');
    expect(text.startsWith('070701')).toBe(true);
    const fileHeader = text.indexOf('070701', 110);
    const field = (at: number, i: number): number => parseInt(text.slice(at + 6 + 8 * i, at + 14 + 8 * i), 16);
    expect([field(fileHeader, 1), field(fileHeader, 6), field(fileHeader, 11)]).toEqual([0o100755, 5, 'bin/x'.length + 1]);
    expect(archive.length % 4).toBe(0);
    expect(text).toContain('TRAILER!!!\0');
  });

  it.skipIf(!hasCpio)('GNU cpio lists and extracts it', () => {
    expect(execFileSync('cpio', ['-t', '--quiet'], { input: archive, encoding: 'utf8' }).trim().split('\n')).toEqual(['bin', 'bin/x', 'weft-cmd']);
    const dump = execFileSync('cpio', ['-i', '--to-stdout', '--quiet', 'weft-cmd'], { input: archive, encoding: 'utf8' });
    expect(dump).toBe('echo hi\n');
  });
});

describe('guest output', () => {
  it('takes what lies between the markers and the exit code', () => {
    expect(parseGuestOutput(`noise\n${OUTPUT_BEGIN}\nline 1\nline 2\n${OUTPUT_EXIT} 3@@\n`)).toEqual({ exitCode: 3, output: 'line 1\nline 2\n' });
    expect(parseGuestOutput(`${OUTPUT_BEGIN}\nno newline${OUTPUT_EXIT} 0@@\n`)).toEqual({ exitCode: 0, output: 'no newline' });
  });

  it('no exit marker (timeout, crash): exit code null, output kept', () => {
    expect(parseGuestOutput(`${OUTPUT_BEGIN}\nhalf`)).toEqual({ exitCode: null, output: 'half' });
    expect(parseGuestOutput('')).toEqual({ exitCode: null, output: '' });
  });
});
