// docker/k8s/weft.yaml for tests: checked against the official Kubernetes models
// (test/harness/k8s/validate.py on Debian's python3-kubernetes), and its DaemonSet's pod template
// turned into a Pod that `podman kube play` runs (podman 4.3 plays Pods and Deployments, not
// DaemonSets).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Capability } from '../privileges.js';
import { REPO_ROOT } from '../runtimes/dirs.js';

export const MANIFEST = join(REPO_ROOT, 'docker/k8s/weft.yaml');
const VALIDATE = join(REPO_ROOT, 'test/harness/k8s/validate.py');
/** Debian's python, where python3-kubernetes is installed (a python on PATH may be another). */
const PYTHON = '/usr/bin/python3';

export type Obj = Record<string, unknown> & { kind: string; apiVersion: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

export function canValidate(): Capability {
  if (!existsSync(PYTHON)) return { ok: false, reason: `${PYTHON} is missing (Debian package python3)` };
  const r = spawnSync(PYTHON, ['-c', 'import kubernetes, yaml'], { stdio: 'ignore' });
  if (r.status !== 0) return { ok: false, reason: 'python3-kubernetes or python3-yaml is not installed (`make deps` installs them)' };
  return { ok: true };
}

export interface Validation {
  code: number;
  docs: Obj[];
  /** One line per problem: "FILE doc N (Kind name): .path: what". */
  problems: string[];
}

/** Runs the typed validation over the files. */
export function validate(...files: string[]): Validation {
  const r = spawnSync(PYTHON, [VALIDATE, ...files], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return {
    code: r.status ?? -1,
    docs: r.stdout.trim() ? (JSON.parse(r.stdout) as Obj[]) : [],
    problems: r.stderr.split('\n').filter(Boolean),
  };
}

export function find(docs: Obj[], kind: string): Obj {
  const d = docs.find((x) => x.kind === kind);
  if (!d) throw new Error(`${MANIFEST} has no ${kind}`);
  return d;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- walking parsed YAML */
/**
 * The DaemonSet's pod template as a Pod named `name`, with each hostPath volume's path mapped
 * through `hostPaths` (a test's private directories for /opt/cni/bin, /etc/cni/net.d, /var/lib/weft).
 * The containers are the template's, unchanged. restartPolicy becomes OnFailure: podman 4.3 applies
 * the pod's policy to init containers too, and under Always restarts install-cni for ever.
 */
export function podFromDaemonSet(ds: Obj, name: string, hostPaths: Record<string, string>): Obj {
  const template = structuredClone((ds as any).spec.template) as { metadata: { labels: Record<string, string> }; spec: any };
  for (const v of template.spec.volumes as any[]) {
    const mapped = v.hostPath && hostPaths[v.hostPath.path];
    if (mapped !== undefined) v.hostPath.path = mapped;
  }
  template.spec.restartPolicy = 'OnFailure';
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ds.metadata.namespace, labels: template.metadata.labels }, spec: template.spec };
}
/* eslint-enable @typescript-eslint/no-explicit-any */
