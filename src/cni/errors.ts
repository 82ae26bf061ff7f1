// CNI error objects (spec 1.1, section "Error"): what the plugin prints on stdout, with exit code 1,
// when a command fails. Codes 1–99 are the spec's; 100 and up are weft's own.

/** The spec's well-known error codes, and weft's. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  Io: 5,
  Decode: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  /** weft: the router failed the request for a reason of its own (its message says which). */
  RouterFailed: 100,
  /** weft: CHECK found the attachment different from what ADD made. */
  CheckMismatch: 101,
} as const;
export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends Error {
  readonly code: CniCodeValue;
  /** Longer detail (the router's own message, a field name); may be empty. */
  readonly details: string;
  constructor(code: CniCodeValue, msg: string, details = '', options?: { cause?: unknown }) {
    super(msg, options);
    this.code = code;
    this.details = details;
    this.name = 'CniError';
  }
}

/** The object a runtime reads back: {cniVersion, code, msg, details}. */
export interface CniErrorObject {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export function errorObject(err: CniError, cniVersion: string): CniErrorObject {
  const o: CniErrorObject = { cniVersion, code: err.code, msg: err.message };
  if (err.details) o.details = err.details;
  return o;
}
