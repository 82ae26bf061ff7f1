// Version-2 message framing: a 4-byte big-endian length, then the message — sealed with
// secretbox when the connection is encrypted (the length counts the sealed bytes).
import { MAX_FRAME_BYTES } from '../lib/constants.js';
import { WeftError } from '../lib/errors.js';
import type { TcpOpener, TcpSealer } from '../crypto/session.js';
import type { StreamReader } from './stream-reader.js';
import { message } from './protocol.js';

/** Payloads shorter than this are copied into one frame buffer: cheaper than a second write. */
const COPY_BELOW = 1024;

export class Framer {
  constructor(
    private readonly sealer?: TcpSealer,
    private readonly opener?: TcpOpener,
    private readonly maxBytes = MAX_FRAME_BYTES,
  ) {}

  /** Bytes of frames read so far, length prefixes included. */
  bytesRead = 0;

  get encrypted(): boolean {
    return this.sealer !== undefined;
  }

  /** Length prefix + (sealed) message, ready to write. */
  frame(msg: Uint8Array): Buffer {
    const body = this.sealer ? this.sealer.seal(msg) : msg;
    if (body.length > this.maxBytes) throw new WeftError('frame-too-large', `outgoing message exceeds maximum size: ${body.length} > ${this.maxBytes}`);
    const out = Buffer.allocUnsafe(4 + body.length);
    out.writeUInt32BE(body.length, 0);
    out.set(body, 4);
    return out;
  }

  /**
   * frame(message(tag, payload)) as the pieces to write in order. A large plain payload is not
   * copied: the length and tag go ahead of it (the caller writes both corked, one segment).
   */
  frameParts(tag: number, payload: Uint8Array | undefined): Uint8Array[] {
    if (this.sealer || payload === undefined || payload.length < COPY_BELOW) return [this.frame(message(tag, payload))];
    if (1 + payload.length > this.maxBytes) throw new WeftError('frame-too-large', `outgoing message exceeds maximum size: ${1 + payload.length} > ${this.maxBytes}`);
    const head = Buffer.allocUnsafe(5);
    head.writeUInt32BE(1 + payload.length, 0);
    head[4] = tag;
    return [head, payload];
  }

  /**
   * Reads one frame and returns the plain message; rejects on oversize or failed decryption. The
   * intro passes a lower limit (`maxBytes`): the length is checked before any of the body is read.
   */
  async read(reader: StreamReader, maxBytes = this.maxBytes): Promise<Buffer> {
    const len = (await reader.read(4)).readUInt32BE(0);
    if (len > maxBytes) throw new WeftError('frame-too-large', `incoming message exceeds maximum size: ${len} > ${maxBytes}`);
    const body = await reader.read(len);
    this.bytesRead += 4 + len;
    if (!this.opener) return body;
    const plain = this.opener.open(body);
    if (!plain) throw new WeftError('decrypt-failed', 'unable to decrypt TCP message (wrong password, or the stream was tampered with)');
    return plain;
  }
}
