// docker/k8s/weft.yaml against the official Kubernetes models (Debian's python3-kubernetes, walked
// strictly by test/harness/k8s/validate.py: the client itself ignores unknown fields), and the
// properties a network plugin's DaemonSet must have. Misspelt copies prove the check can fail.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MANIFEST, canValidate, find, validate } from './harness/k8s/manifests.js';

const can = canValidate();
if (!can.ok) console.warn(`SKIP Kubernetes manifest validation: ${can.reason}`);

/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML */
describe.skipIf(!can.ok)('Kubernetes manifests (docker/k8s/weft.yaml)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-k8s-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const text = readFileSync(MANIFEST, 'utf8');
  /** The manifest with `from` replaced by `to` (exactly once), validated. */
  const mutated = (from: string | RegExp, to: string) => {
    const changed = text.replace(from, to);
    expect(changed, `the mutation ${String(from)} must apply`).not.toBe(text);
    const f = join(dir, `mutated-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, changed);
    return validate(f);
  };

  it('every object passes the typed check', () => {
    const v = validate(MANIFEST);
    expect(v.problems).toEqual([]);
    expect(v.code).toBe(0);
    expect(v.docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(['v1 ServiceAccount', 'v1 ConfigMap', 'apps/v1 DaemonSet']);
  });

  it.each([
    ['a misspelt pod field', /hostNetwork: true/, 'hostNetwrok: true', /V1PodSpec has no field hostNetwrok \(did you mean hostNetwork\?\)|V1PodSpec has no field hostNetwrok/],
    ['a misspelt mount field', 'mountPropagation: HostToContainer', 'mountPropogation: HostToContainer', /\.volumeMounts\[1\]\.mountPropogation: V1VolumeMount has no field mountPropogation/],
    ['a field at the wrong level', '      tolerations:', '      tolerations: []\n      nodeSelectorTerms: []\n      x-tolerations:', /V1PodSpec has no field nodeSelectorTerms/],
    ['a wrong scalar type', 'priorityClassName: system-node-critical', 'priorityClassName: 7', /priorityClassName: expected str, found int 7/],
    ['a missing required field', '        - name: weft\n          image:', '        - image:', /deserializing as V1DaemonSet: Invalid value for `name`, must not be `None`/],
    ['a misspelt kind', 'kind: DaemonSet', 'kind: DaemonSett', /the client has no model V1DaemonSett/],
  ])('%s is caught', (_what, from, to, message) => {
    const v = mutated(from, to);
    expect(v.code).toBe(1);
    expect(v.problems.join('\n')).toMatch(message);
  });

  it('the DaemonSet is shaped as a network plugin must be', () => {
    const docs = validate(MANIFEST).docs;
    const ds = find(docs, 'DaemonSet') as any;
    const pod = ds.spec.template.spec;
    // runs on every node, before the node is Ready, and one node at a time on updates
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(pod.hostNetwork).toBe(true);
    // weft reads nothing from the API server: no token mounted, no Role in the file
    expect(find(docs, 'ServiceAccount').automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('weft');
    expect(docs.some((d) => /Role/.test(d.kind))).toBe(false);
    // the init container installs the plugin into the node's CNI directories
    const init = pod.initContainers[0];
    expect(init.command.slice(0, 2)).toEqual(['/usr/bin/weft', 'setup-cni']);
    const hostPathOf = (mount: string) => {
      const m = [...init.volumeMounts, ...pod.containers[0].volumeMounts].find((x: any) => x.mountPath === mount);
      return pod.volumes.find((v: any) => v.name === m.name).hostPath.path;
    };
    expect(hostPathOf('/host/opt/cni/bin')).toBe('/opt/cni/bin');
    expect(hostPathOf('/host/etc/cni/net.d')).toBe('/etc/cni/net.d');
    expect(hostPathOf('/var/lib/weft')).toBe('/var/lib/weft');
    expect(hostPathOf('/run/netns')).toBe('/run/netns');
    // the router: exactly these capabilities, probes on the metrics port, password from the Secret
    const c = pod.containers[0];
    expect(c.securityContext).toEqual({ capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'] } });
    expect(c.securityContext.privileged).toBeUndefined();
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 6782 });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 6782 });
    const env = Object.fromEntries((c.env as any[]).map((e) => [e.name, e]));
    expect(env.WEFT_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: 'weft-password', key: 'password', optional: true });
    const cm = find(docs, 'ConfigMap') as any;
    for (const key of Object.keys(cm.data)) expect(env[key]?.valueFrom?.configMapKeyRef, `env ${key} from the ConfigMap`).toEqual({ name: 'weft-config', key });
    expect(c.command.join(' ')).toContain('--metrics-addr="$WEFT_METRICS_ADDR"');
    expect(cm.data.WEFT_METRICS_ADDR).toMatch(/:6782$/);
  });
});
/* eslint-enable @typescript-eslint/no-explicit-any */
