// CNI versions weft speaks, and the per-version rules that shape what it answers.
import { CniCode, CniError } from './errors.js';

/** Every version weft answers in, oldest first. 0.3.1 is the oldest with today's result shape. */
export const SUPPORTED_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** What VERSION answers when the caller names no version of its own. */
export const LATEST_VERSION: CniVersion = '1.1.0';

export function isSupported(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** -1, 0, 1 as a is older than, equal to or newer than b (both supported versions). */
export function compareVersions(a: CniVersion, b: CniVersion): number {
  return Math.sign(SUPPORTED_VERSIONS.indexOf(a) - SUPPORTED_VERSIONS.indexOf(b));
}

export function atLeast(v: CniVersion, min: CniVersion): boolean {
  return compareVersions(v, min) >= 0;
}

/** The version a config names, or CniError code 1 saying which versions would work. */
export function negotiate(requested: unknown): CniVersion {
  if (isSupported(requested)) return requested;
  const named = typeof requested === 'string' ? `"${requested}"` : 'no cniVersion';
  throw new CniError(
    CniCode.IncompatibleVersion,
    `the network configuration names ${named}; weft supports ${SUPPORTED_VERSIONS.join(', ')} — set "cniVersion" to one of them (\`weft setup-cni --cni-version\` writes one)`,
  );
}

/** The commands of each version, for a clear error when a caller uses one its version lacks. */
export function requireVersionFor(command: 'CHECK' | 'STATUS' | 'GC', v: CniVersion): void {
  const min: CniVersion = command === 'CHECK' ? '0.4.0' : '1.1.0';
  if (!atLeast(v, min)) {
    throw new CniError(CniCode.IncompatibleVersion, `${command} needs cniVersion ${min} or later, the configuration names ${v}`);
  }
}
