// The connection intro, both sides at once (mesh protocol v2):
//   1. each side writes "weave" + min version + max version and reads the other's 7 bytes;
//   2. each writes an encryption flag (0, or 1 + a fresh X25519 public key) and reads the other's;
//   3. from here messages are length-framed (and sealed if encrypted); the first one each way is
//      the gob feature map. An acceptor that vets (inbound connections) reads the dialler's map
//      first and, if it refuses, tells a weft dialler why in its own (feature `WeftRefused`);
//      the dialler fails its intro with that reason instead of "connection closed by peer".
// Everything runs under one deadline. Until the intro completes nobody is authenticated, so the
// feature map is the only frame read and it may be at most MAX_INTRO_FRAME_BYTES.
// Failures are WeftErrors whose code says what went wrong.
import type { Duplex } from 'node:stream';
import { HEADER_TIMEOUT_MS, PROTOCOL_NAME } from '../lib/constants.js';
import type { Clock } from '../lib/clock.js';
import { WeftError, type WeftErrorCode } from '../lib/errors.js';
import { formSessionKey, generateKeyPair, TcpOpener, TcpSealer } from '../crypto/session.js';
import { decodeFeatures, type RemoteFeatures } from './features.js';
import { Framer } from './framing.js';
import { MAX_INTRO_FRAME_BYTES } from './limits.js';
import type { StreamReader } from './stream-reader.js';

export interface IntroParams {
  stream: Duplex;
  reader: StreamReader;
  /** True if we dialled. */
  outbound: boolean;
  /** Our encoded feature map. */
  features: Buffer;
  /** Undefined or empty: no encryption. */
  password: Buffer | undefined;
  minVersion: number;
  maxVersion: number;
  clock: Clock;
  timeoutMs?: number;
  /** The largest feature-map frame accepted (MAX_INTRO_FRAME_BYTES). */
  maxIntroFrameBytes?: number;
  /**
   * Acceptors: decides on the remote's features before ours are sent. A refusal fails the intro
   * with that error; a weft remote first gets `features(err)`, which carries the reason.
   */
  vet?: { check(remote: RemoteFeatures): WeftError | undefined; features(refusal: WeftError): Buffer };
  /**
   * Acceptors: resolves when the intro may go on past a valid header (the accept rate). A peer
   * that never sends one never takes a turn from one that does.
   */
  pace?: () => Promise<void>;
}

export interface IntroResult {
  version: number;
  features: RemoteFeatures;
  framer: Framer;
  /** The connection's shared key (password-bound); undefined without a password. Seeds the ESP keys. */
  sessionKey?: Buffer;
}

const HEADER = Buffer.from(PROTOCOL_NAME, 'ascii');

/** The version both sides will use: the highest in the overlap of the two ranges, if any. */
export function negotiateVersion(ours: [number, number], theirs: [number, number]): number | undefined {
  const min = Math.max(ours[0], theirs[0]);
  const max = Math.min(ours[1], theirs[1]);
  return min <= max ? max : undefined;
}

export async function doIntro(p: IntroParams): Promise<IntroResult> {
  const timer = p.clock.setTimeout(
    () => p.reader.fail(new WeftError('timeout', `handshake did not complete within ${(p.timeoutMs ?? HEADER_TIMEOUT_MS) / 1000}s`)),
    p.timeoutMs ?? HEADER_TIMEOUT_MS,
  );
  try {
    return await intro(p);
  } finally {
    timer.cancel();
  }
}

async function intro(p: IntroParams): Promise<IntroResult> {
  p.stream.write(Buffer.concat([HEADER, Buffer.from([p.minVersion, p.maxVersion])]));
  const header = await p.reader.read(HEADER.length + 2);
  if (!header.subarray(0, HEADER.length).equals(HEADER)) {
    throw new WeftError('protocol', `remote protocol header not recognised: ${JSON.stringify(header.subarray(0, HEADER.length).toString('latin1'))} (is this a weft/weave peer?)`);
  }
  const theirs: [number, number] = [header[HEADER.length]!, header[HEADER.length + 1]!];
  const version = negotiateVersion([p.minVersion, p.maxVersion], theirs);
  if (version === undefined) {
    throw new WeftError('version-mismatch', `remote version range [${theirs[0]},${theirs[1]}] is incompatible with ours [${p.minVersion},${p.maxVersion}]`);
  }
  if (version !== 2) throw new WeftError('version-mismatch', `protocol version ${version} is not supported (weft speaks version 2)`);
  await p.pace?.();

  const usePassword = p.password !== undefined && p.password.length > 0;
  const keys = usePassword ? generateKeyPair() : undefined;
  p.stream.write(keys ? Buffer.concat([Buffer.from([1]), keys.publicKey]) : Buffer.from([0]));
  const flag = (await p.reader.read(1))[0]!;
  let framer: Framer;
  let sessionKey: Buffer | undefined;
  if (flag === 0) {
    if (keys) throw new WeftError('password-mismatch', 'password specified, but the peer requested an unencrypted connection (it has no password)');
    framer = new Framer();
  } else if (flag === 1) {
    const theirPublic = await p.reader.read(32);
    if (!keys) throw new WeftError('password-mismatch', 'no password specified, but the peer requested an encrypted connection (it has a password)');
    const key = formSessionKey(theirPublic, keys.secretKey, p.password!);
    sessionKey = key;
    framer = new Framer(new TcpSealer(key, p.outbound), new TcpOpener(key, p.outbound));
  } else {
    throw new WeftError('protocol', `bad encryption flag ${flag}`);
  }

  if (!p.vet) p.stream.write(framer.frame(p.features));
  let msg: Buffer;
  try {
    msg = await framer.read(p.reader, p.maxIntroFrameBytes ?? MAX_INTRO_FRAME_BYTES);
  } catch (err) {
    // An acceptor that could not read the dialler's map still answers with its own, as it would
    // without vetting: with a wrong password the dialler then sees the mismatch too.
    if (p.vet) p.stream.write(framer.frame(p.features));
    if (err instanceof WeftError && err.code === 'decrypt-failed') {
      throw new WeftError('password-mismatch', 'password mismatch: could not decrypt the peer\'s first message — both ends need the same --password', { cause: err });
    }
    throw err;
  }
  const f = decodeFeatures(msg);
  if (!f.ok) {
    if (p.vet) p.stream.write(framer.frame(p.features));
    throw new WeftError('protocol', f.reason);
  }
  if (p.vet) {
    const refusal = p.vet.check(f.value);
    // Go peers ignore unknown keys but would not know to look: they just see the close.
    p.stream.write(framer.frame(refusal && f.value.weftVersion !== undefined ? p.vet.features(refusal) : p.features));
    if (refusal) throw refusal;
  } else if (f.value.weftRefused) {
    throw refusedError(f.value.weftRefused);
  }
  return { version, features: f.value, framer, ...(sessionKey ? { sessionKey } : {}) };
}

/** The codes a refusing peer may give that change what we do next; anything else is a plain close. */
const REFUSAL_CODES = new Set<string>(['conn-limit', 'name-collision', 'connect-to-self', 'unknown-peer', 'duplicate-connection', 'unavailable']);

/** The remote said why it refused us (feature WeftRefused); the code is the remote's. */
export class PeerRefusedError extends WeftError {
  constructor(code: WeftErrorCode, message: string) {
    super(code, `the peer refused the connection: ${message}`);
    this.name = 'PeerRefusedError';
  }
}

function refusedError(r: { code: string; message: string }): PeerRefusedError {
  return new PeerRefusedError(REFUSAL_CODES.has(r.code) ? (r.code as WeftErrorCode) : 'closed', r.message);
}
