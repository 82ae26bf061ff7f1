// The one result type for parsers and decoders of untrusted input: a value, or the reason it was
// refused. Decoders never throw on bad input; the caller words the reason for its audience (a 400
// body, a usage message, a dropped-message counter).

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function err<T = never>(reason: string): Result<T> {
  return { ok: false, reason };
}
