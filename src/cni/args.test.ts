import { describe, expect, it } from 'vitest';
import { CniError } from './errors.js';
import { isValidIfname, parseCniArgs, readEnv } from './args.js';

const codeOf = (fn: () => unknown): { code: number; msg: string } => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.message };
    throw err;
  }
  throw new Error('did not throw');
};

describe('CNI_ARGS', () => {
  it('reads names and IP=, ignoring empty parts', () => {
    expect(parseCniArgs(undefined)).toEqual({ ips: [], names: {} });
    expect(parseCniArgs('')).toEqual({ ips: [], names: {} });
    expect(parseCniArgs('K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;;IP=10.32.0.9/12,10.32.0.10')).toEqual({
      ips: ['10.32.0.9/12', '10.32.0.10'],
      names: { namespace: 'default', pod: 'web-1' },
    });
  });

  it('takes what podman and containerd send (their unknown keys come with IgnoreUnknown=1)', () => {
    expect(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=box').names).toEqual({ pod: 'box' });
    expect(parseCniArgs('K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u;IgnoreUnknown=1').names).toEqual({ namespace: 'ns', pod: 'p' });
    expect(parseCniArgs('FOO=bar;IgnoreUnknown=true').ips).toEqual([]);
  });

  it('refuses unknown keys without IgnoreUnknown, and pairs that are not KEY=VALUE (code 4)', () => {
    const u = codeOf(() => parseCniArgs('FOO=bar;K8S_POD_NAME=x'));
    expect(u.code).toBe(4);
    expect(u.msg).toContain('FOO');
    expect(u.msg).toContain('IgnoreUnknown=1');
    expect(codeOf(() => parseCniArgs('FOO=bar;IgnoreUnknown=0')).code).toBe(4);
    expect(codeOf(() => parseCniArgs('novalue')).code).toBe(4);
    expect(codeOf(() => parseCniArgs('=x')).code).toBe(4);
  });
});

describe('environment', () => {
  const full = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAME=x' };

  it('reads every variable', () => {
    expect(readEnv(full)).toEqual({ command: 'ADD', containerId: 'abc123', netns: '/run/netns/c1', ifname: 'eth0', args: 'K8S_POD_NAME=x' });
  });

  it('names each missing variable (code 4)', () => {
    const m = codeOf(() => readEnv({ CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' }));
    expect(m.code).toBe(4);
    expect(m.msg).toContain('CNI_CONTAINERID, CNI_NETNS');
    expect(codeOf(() => readEnv({})).msg).toContain('CNI_COMMAND is not set');
    expect(codeOf(() => readEnv({ CNI_COMMAND: 'FROB' })).code).toBe(4);
  });

  it('lets DEL go without a namespace, STATUS and GC without anything', () => {
    expect(readEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0', CNI_NETNS: '' }).netns).toBe('');
    expect(codeOf(() => readEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a' })).msg).toContain('CNI_IFNAME');
    expect(readEnv({ CNI_COMMAND: 'STATUS' }).command).toBe('STATUS');
    expect(readEnv({ CNI_COMMAND: 'GC' }).command).toBe('GC');
  });

  it('refuses container IDs and interface names the kernel or the spec would not take', () => {
    expect(codeOf(() => readEnv({ ...full, CNI_CONTAINERID: '-abc' })).code).toBe(4);
    expect(codeOf(() => readEnv({ ...full, CNI_CONTAINERID: 'a b' })).code).toBe(4);
    expect(codeOf(() => readEnv({ ...full, CNI_IFNAME: 'averyveryverylongname' })).code).toBe(4);
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'x'.repeat(16)]) expect(isValidIfname(bad)).toBe(false);
    for (const good of ['eth0', 'net1', 'x'.repeat(15)]) expect(isValidIfname(good)).toBe(true);
  });
});
