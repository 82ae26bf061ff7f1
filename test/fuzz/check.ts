// What every fuzz target asserts about a decoder of untrusted bytes: it never throws, it returns
// either a value or a non-empty reason, and a value it accepted survives encode → decode → encode
// unchanged (the first encode may normalise; from then on the bytes must be a fixpoint).
import { isDeepStrictEqual } from 'node:util';

/** A property of the decoder was violated (as opposed to the decoder itself throwing). */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

export function fail(message: string): never {
  throw new FuzzFailure(message);
}

type AnyResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** `r` is a well-formed Result: ok with a value, or a non-empty reason. */
export function expectResult<T>(r: AnyResult<T>, what: string): r is { ok: true; value: T } {
  if (typeof r !== 'object' || r === null) fail(`${what} returned ${String(r)}, not a Result`);
  if (r.ok === true) return true;
  if (r.ok !== false || typeof r.reason !== 'string' || r.reason === '') fail(`${what} returned a malformed Result: ${JSON.stringify(r)}`);
  return false;
}

/**
 * decode(data); if it is accepted, encode it, decode that (it must be accepted), encode again:
 * the two encodings must be the same bytes and the two decoded values equal. Returns the outcome
 * ('ok' or the reason) for the engine's distinct-outcome count.
 */
export function roundTrip<T>(data: Buffer, what: string, decode: (b: Buffer) => AnyResult<T>, encode: (v: T) => Buffer): string {
  const r1 = decode(data);
  if (!expectResult(r1, what)) return r1.reason;
  const e1 = encode(r1.value);
  const r2 = decode(e1);
  if (!expectResult(r2, `${what} of its own encoding`)) fail(`${what}: the re-encoded value is refused: ${r2.reason}`);
  const e2 = encode(r2.value);
  if (!e1.equals(e2)) fail(`${what}: re-encoding is not stable (${e1.toString('hex')} then ${e2.toString('hex')})`);
  const r3 = decode(e2);
  if (!r3.ok || !isDeepStrictEqual(r3.value, r2.value)) fail(`${what}: decoding the same bytes twice gave different values`);
  return 'ok';
}

/** Like roundTrip for text formats (the data files). */
export function roundTripText<T>(text: string, what: string, decode: (t: string) => AnyResult<T>, encode: (v: T) => string): string {
  return roundTrip(
    Buffer.from(text, 'utf8'),
    what,
    (b) => decode(b.toString('utf8')),
    (v) => Buffer.from(encode(v), 'utf8'),
  );
}

/**
 * A reason with what it quotes of the input taken out — numbers, quoted text, parentheses (where
 * JSON.parse's messages go) — so "length 17 at 4" and "length 9 at 0" count as one outcome.
 */
export function outcomeOf(reason: string): string {
  return reason
    .replace(/\(.*\)/s, '()')
    .replace(/".*"|'.*'|`.*`/s, '""')
    .replace(/0x[0-9a-f]+|\d+/gi, '#')
    .slice(0, 120);
}
