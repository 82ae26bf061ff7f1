// sodium-native, loaded on first use: a router without a password never calls it, and loading
// its addon (the package resolving its prebuild) is ~10 ms of every router's start.
import { createRequire } from 'node:module';
import type sodiumNative from 'sodium-native';

export type Sodium = typeof sodiumNative;

let loaded: Sodium | undefined;

export function sodium(): Sodium {
  return (loaded ??= createRequire(import.meta.url)('sodium-native') as Sodium);
}

/** NaCl's fixed sizes (checked against libsodium in crypto/session.test.ts), so using them loads nothing. */
export const NACL = {
  boxPublicKeyBytes: 32,
  boxSecretKeyBytes: 32,
  scalarmultBytes: 32,
  sha256Bytes: 32,
  secretboxNonceBytes: 24,
  secretboxMacBytes: 16,
} as const;
