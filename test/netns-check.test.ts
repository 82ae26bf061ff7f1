// checkContainerNetns against real namespaces: what `ip netns add` makes, and a process inside it,
// are containers; this process's namespace, PID 1's and an ordinary file are not.
//
//   root namespace (this test)        <prefix>c0 (ip netns add; a sleep runs in it)
//   /proc/self/ns/net: refused        /run/netns/<prefix>c0, /proc/<sleep pid>/ns/net: accepted
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkContainerNetns, netnsPath } from '../router/netns.js';
import { canUseNetns, createLan, waitFor, type Host, type HostProcess, type Lan } from './harness/netns.js';

const can = canUseNetns();

describe.skipIf(!can.ok)('container namespaces (weft attach refuses what is not one)', () => {
  let lan: Lan;
  let c0: Host;
  let sleeper: HostProcess;
  beforeAll(async () => {
    lan = await createLan({ hosts: 1 });
    c0 = await lan.addContainer();
    // `ip netns exec` enters the namespace and then execs; the shell speaks only once inside it.
    sleeper = c0.spawn('sh', ['-c', 'echo inside; exec sleep 600']);
    await waitFor(() => sleeper.stdout().includes('inside'), { what: 'the process in the container namespace' });
  });
  afterAll(() => lan?.cleanup());

  it('accepts an `ip netns` namespace by name and a process in it by PID', () => {
    const byName = netnsPath(c0.name);
    expect(byName).toEqual({ ok: true, value: `/run/netns/${c0.name}` });
    expect(checkContainerNetns(`/run/netns/${c0.name}`)).toEqual({ ok: true, value: `/run/netns/${c0.name}` });
    const p = `/proc/${sleeper.pid}/ns/net`;
    expect(checkContainerNetns(p)).toEqual({ ok: true, value: p });
  });

  it("refuses this process's namespace, PID 1's and an ordinary file", () => {
    for (const p of ['/proc/self/ns/net', `/proc/${process.pid}/ns/net`, '/proc/1/ns/net', '/etc/hostname']) {
      const r = checkContainerNetns(p);
      expect(r.ok, p).toBe(false);
    }
    expect(checkContainerNetns('/proc/self/ns/net')).toMatchObject({ reason: expect.stringContaining("this host's own network namespace") });
    expect(checkContainerNetns('/proc/1/ns/net')).toMatchObject({ reason: expect.stringContaining('PID 1') });
    expect(checkContainerNetns('/etc/hostname')).toMatchObject({ reason: expect.stringContaining('is not a network namespace') });
  });
});
