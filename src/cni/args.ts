// The plugin's environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH)
// and CNI_ARGS ("K1=V1;K2=V2"), read without trusting any of it.
import { CniCode, CniError } from './errors.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type CniCommand = (typeof COMMANDS)[number];

/** CNI_ARGS keys weft reads or knows to be harmless (containerd sends the pod's UID and infra ID). */
const KNOWN_ARGS = new Set(['IgnoreUnknown', 'IP', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

export interface CniArgs {
  /** IP=: requested addresses (comma-separated in the variable). */
  ips: string[];
  names: { namespace?: string; pod?: string };
}

/**
 * Parses CNI_ARGS. A key weft does not know is an error (code 4, CNI_ARGS is an environment
 * variable) unless IgnoreUnknown=1 (or true) is among the pairs, per the CNI conventions.
 */
export function parseCniArgs(raw: string | undefined): CniArgs {
  const out: CniArgs = { ips: [], names: {} };
  if (!raw) return out;
  const pairs: [string, string][] = [];
  for (const part of raw.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.InvalidEnv, `CNI_ARGS: "${part}" is not KEY=VALUE — CNI_ARGS is a ;-separated list of KEY=VALUE pairs`);
    pairs.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  const ignore = pairs.some(([k, v]) => k === 'IgnoreUnknown' && /^(1|true)$/i.test(v));
  const unknown = pairs.filter(([k]) => !KNOWN_ARGS.has(k)).map(([k]) => k);
  if (unknown.length > 0 && !ignore) {
    throw new CniError(CniCode.InvalidEnv, `CNI_ARGS: weft does not know ${unknown.join(', ')} — add IgnoreUnknown=1 to CNI_ARGS to pass keys meant for other plugins`);
  }
  for (const [k, v] of pairs) {
    if (k === 'IP') out.ips.push(...v.split(',').map((s) => s.trim()).filter((s) => s !== ''));
    else if (k === 'K8S_POD_NAMESPACE' && v) out.names.namespace = v;
    else if (k === 'K8S_POD_NAME' && v) out.names.pod = v;
  }
  return out;
}

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  args: string;
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** An interface name the kernel accepts: 1–15 bytes, not . or .., no /, : or whitespace. */
export function isValidIfname(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= 15 && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

/** CNI_COMMAND alone (VERSION must work before anything else is looked at). */
export function commandOf(env: Readonly<Record<string, string | undefined>>): CniCommand {
  const c = env.CNI_COMMAND;
  if (c === undefined || c === '') throw new CniError(CniCode.InvalidEnv, `CNI_COMMAND is not set — a container runtime sets it to one of ${COMMANDS.join(', ')}`);
  if (!(COMMANDS as readonly string[]).includes(c)) throw new CniError(CniCode.InvalidEnv, `CNI_COMMAND "${c}" is not one of ${COMMANDS.join(', ')}`);
  return c as CniCommand;
}

/**
 * The variables a command needs: ADD and CHECK need CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME;
 * DEL needs the first and the last (the namespace may already be gone); the others need none.
 */
export function readEnv(env: Readonly<Record<string, string | undefined>>): CniEnv {
  const command = commandOf(env);
  const out: CniEnv = { command, containerId: env.CNI_CONTAINERID ?? '', netns: env.CNI_NETNS ?? '', ifname: env.CNI_IFNAME ?? '', args: env.CNI_ARGS ?? '' };
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    const missing = ['CNI_CONTAINERID', ...(command === 'DEL' ? [] : ['CNI_NETNS']), 'CNI_IFNAME'].filter((k) => !env[k]);
    if (missing.length > 0) throw new CniError(CniCode.InvalidEnv, `${command} needs ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not set — a container runtime sets ${missing.length === 1 ? 'it' : 'them'}`);
    if (!CONTAINER_ID.test(out.containerId)) throw new CniError(CniCode.InvalidEnv, `CNI_CONTAINERID "${out.containerId}" is not a container ID (letters, digits, _ . -, starting with a letter or digit)`);
    if (!isValidIfname(out.ifname)) throw new CniError(CniCode.InvalidEnv, `CNI_IFNAME "${out.ifname}" is not an interface name (1–15 bytes, no "/", ":" or spaces)`);
  }
  return out;
}
