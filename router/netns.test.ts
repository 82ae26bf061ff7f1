import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeftError } from '../lib/errors.js';
import { checkContainerNetns, netnsPath, resolveNetns } from './netns.js';

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-netns-'));
  file = join(dir, 'not-a-namespace');
  await writeFile(file, 'hello\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('netnsPath and resolveNetns', () => {
  it('maps a PID, a path and a name', () => {
    expect(netnsPath('1234', false)).toEqual({ ok: true, value: '/proc/1234/ns/net' });
    expect(netnsPath('/var/run/netns/x', false)).toEqual({ ok: true, value: '/var/run/netns/x' });
    expect(netnsPath('web_1.a-b', false)).toEqual({ ok: true, value: '/run/netns/web_1.a-b' });
    expect(netnsPath(String(process.pid))).toEqual({ ok: true, value: `/proc/${process.pid}/ns/net` });
  });

  it('refuses what cannot be a namespace, and a missing one when it must exist', () => {
    expect(netnsPath('a b', false)).toEqual({ ok: false, reason: '"a b" is not a network namespace: give a name from "ip netns list", a /proc/PID/ns/net path or a PID' });
    expect(netnsPath('nosuch-weft-ns')).toEqual({ ok: false, reason: 'network namespace nosuch-weft-ns not found (/run/netns/nosuch-weft-ns does not exist)' });
    expect(() => resolveNetns('../x')).toThrow(WeftError);
    expect(resolveNetns('nosuch-weft-ns', false)).toBe('/run/netns/nosuch-weft-ns');
  });
});

describe('checkContainerNetns', () => {
  const HINT = 'give a container\'s namespace: a name from "ip netns list", a /proc/PID/ns/net path or a PID';

  it("refuses weft's own namespace, by any name", () => {
    for (const p of ['/proc/self/ns/net', `/proc/${process.pid}/ns/net`, '/proc/thread-self/ns/net']) {
      expect(checkContainerNetns(p)).toEqual({ ok: false, reason: `${p} is this host's own network namespace (the one weft runs in): ${HINT}` });
    }
  });

  it("refuses PID 1's namespace, even when /proc/1 cannot be read", () => {
    expect(checkContainerNetns('/proc/1/ns/net')).toEqual({ ok: false, reason: `/proc/1/ns/net is the network namespace of PID 1, the host's own: ${HINT}` });
    // With "self" pointed elsewhere, a namespace equal to the init reference is refused as PID 1's.
    expect(checkContainerNetns('/proc/self/ns/net', { self: file, init: '/proc/self/ns/net' })).toEqual({
      ok: false,
      reason: `/proc/self/ns/net is the network namespace of PID 1, the host's own: ${HINT}`,
    });
  });

  it('refuses files that are not network namespaces', () => {
    expect(checkContainerNetns(file)).toEqual({ ok: false, reason: `${file} is not a network namespace (it is an ordinary file): ${HINT}` });
    expect(checkContainerNetns(dir)).toEqual({ ok: false, reason: `${dir} is not a network namespace (it is a directory): ${HINT}` });
    expect(checkContainerNetns('/proc/self/ns/mnt')).toEqual({ ok: false, reason: '/proc/self/ns/mnt is a mnt namespace, not a network namespace: use /proc/PID/ns/net' });
    expect(checkContainerNetns(join(dir, 'gone'))).toEqual({ ok: false, reason: `network namespace ${join(dir, 'gone')} not found (is the container still running?): ${HINT}` });
  });

  it('accepts a network namespace that is neither its own nor PID 1\'s', () => {
    // Without privileges there is no other namespace to hand; pretend ours is someone else's.
    expect(checkContainerNetns('/proc/self/ns/net', { self: file, init: file })).toEqual({ ok: true, value: '/proc/self/ns/net' });
  });
});
