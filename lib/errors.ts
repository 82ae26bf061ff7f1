// Error classes with a stable `code`. The code, not the message, decides policy: the
// connection maker never retries `connect-to-self` or `name-collision`, and backs off on the rest.

export type WeftErrorCode =
  | 'connect-to-self'
  | 'name-collision'
  | 'duplicate-connection'
  | 'conn-limit'
  | 'unknown-peer'
  | 'password-mismatch'
  | 'protocol'
  | 'version-mismatch'
  | 'decrypt-failed'
  | 'frame-too-large'
  | 'timeout'
  | 'closed'
  | 'io'
  | 'usage'
  | 'not-running'
  | 'already-running'
  /** The caller cancelled the operation (the CLI was interrupted, the client went away). */
  | 'aborted'
  /** Not possible yet, try again later (the address ring is still forming); the message says why. */
  | 'unavailable'
  /** What the request names does not exist (a container's network namespace). */
  | 'not-found'
  /** What is there differs from what should be (CNI CHECK); the message lists the differences. */
  | 'mismatch';

export class WeftError extends Error {
  readonly code: WeftErrorCode;
  constructor(code: WeftErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'WeftError';
  }
}

/** Errors that mean "this address will never work": the connection maker stops retrying it. */
export function isPermanent(err: unknown): boolean {
  return err instanceof WeftError && (err.code === 'connect-to-self' || err.code === 'name-collision');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
