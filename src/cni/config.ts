// The network configuration a runtime passes on stdin, checked field by field. weft's own fields:
//   api             the router's local API, "host:port" (default 127.0.0.1:6784)
//   masquerade      outbound NAT for traffic leaving the overlay range (default true)
//   defaultRoute    a default route via this host's overlay address (default true)
//   timeoutSeconds  how long ADD waits for a busy router (default 60)
// plus the `ips` capability (runtimeConfig.ips), prevResult, and GC's cni.dev/valid-attachments.
import type { CniKey } from '../api/protocol.js';
import { CniCode, CniError } from './errors.js';
import { negotiate, type CniVersion } from './version.js';

export const DEFAULT_API = '127.0.0.1:6784';
export const DEFAULT_TIMEOUT_SECONDS = 60;
const MAX_TIMEOUT_SECONDS = 3600;

export interface WeftNetConf {
  cniVersion: CniVersion;
  name: string;
  api: { host: string; port: number; text: string };
  masquerade: boolean;
  defaultRoute: boolean;
  timeoutMs: number;
  /** runtimeConfig.ips (the `ips` capability). */
  ips: string[];
  /** The previous plugin's result (raw: it is in the caller's version), if any. */
  prevResult?: Record<string, unknown>;
  /** GC: cni.dev/valid-attachments, absent on other commands. */
  validAttachments?: CniKey[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Decodes stdin: not JSON, or not an object, is code 6. */
export function decodeStdin(text: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new CniError(CniCode.Decode, `the network configuration on stdin is not JSON (${(err as Error).message}) — check the .conflist file`, '', { cause: err });
  }
  if (!isObj(v)) throw new CniError(CniCode.Decode, 'the network configuration on stdin is not a JSON object — check the .conflist file');
  return v;
}

/** "host:port" or "[v6]:port" → parts; undefined if it is neither. */
export function parseApiAddr(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

function invalid(field: string, want: string, got: unknown): CniError {
  return new CniError(CniCode.InvalidConfig, `network configuration: "${field}" must be ${want}, not ${JSON.stringify(got)}`, field);
}

function bool(conf: Obj, field: string, dflt: boolean): boolean {
  const v = conf[field];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalid(field, 'true or false', v);
  return v;
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s !== '')) throw invalid(field, 'a list of addresses ("10.32.0.9/12")', v);
  return v as string[];
}

/**
 * The attachments GC must keep. libcni writes them under cni.dev/valid-attachments (and, since
 * 1.2.3, also cni.dev/attachments, the name an earlier spec text used); either is read.
 */
function validAttachments(conf: Obj): CniKey[] | undefined {
  const v = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'];
  if (v === undefined) return undefined;
  const field = 'cni.dev/valid-attachments';
  if (!Array.isArray(v)) throw invalid(field, 'a list of {"containerID", "ifname"}', v);
  return v.map((e) => {
    if (!isObj(e) || typeof e.containerID !== 'string' || typeof e.ifname !== 'string') throw invalid(field, 'a list of {"containerID", "ifname"}', e);
    return { id: e.containerID, ifname: e.ifname };
  });
}

/** The version the config names, read on its own: errors must be reported in it. */
export function requestedVersion(conf: Obj): unknown {
  return conf.cniVersion;
}

/** Validates a decoded configuration (the version first: code 1 wins over the others). */
export function parseConfig(conf: Obj): WeftNetConf {
  const cniVersion = negotiate(conf.cniVersion);
  if (typeof conf.name !== 'string' || conf.name === '') throw invalid('name', 'the network name (a non-empty string)', conf.name);
  if (conf.ipam !== undefined) {
    throw new CniError(CniCode.UnsupportedField, 'network configuration: weft allocates addresses itself, so an "ipam" section is not supported — remove it (request an address with the ips capability or IP= in CNI_ARGS)', 'ipam');
  }
  const apiText = conf.api === undefined ? DEFAULT_API : conf.api;
  if (typeof apiText !== 'string') throw invalid('api', 'the router API address "host:port"', apiText);
  const addr = parseApiAddr(apiText);
  if (!addr) throw invalid('api', 'the router API address "host:port", e.g. "127.0.0.1:6784"', apiText);
  const t = conf.timeoutSeconds === undefined ? DEFAULT_TIMEOUT_SECONDS : conf.timeoutSeconds;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > MAX_TIMEOUT_SECONDS) throw invalid('timeoutSeconds', `a number of seconds between 0 and ${MAX_TIMEOUT_SECONDS}`, t);
  const rc = conf.runtimeConfig;
  if (rc !== undefined && !isObj(rc)) throw invalid('runtimeConfig', 'an object', rc);
  const prev = conf.prevResult;
  if (prev !== undefined && prev !== null && !isObj(prev)) throw invalid('prevResult', 'a CNI result object', prev);
  const out: WeftNetConf = {
    cniVersion,
    name: conf.name,
    api: { ...addr, text: apiText },
    masquerade: bool(conf, 'masquerade', true),
    defaultRoute: bool(conf, 'defaultRoute', true),
    timeoutMs: Math.round(t * 1000),
    ips: stringList(rc?.ips, 'runtimeConfig.ips'),
  };
  if (isObj(prev)) out.prevResult = prev;
  const keep = validAttachments(conf);
  if (keep) out.validAttachments = keep;
  return out;
}
