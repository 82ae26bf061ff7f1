// Bounds on what an unauthenticated connection to the mesh port may cost us (docs/security.md).
// Defaults for mesh/accept-gate.ts, mesh/handshake.ts and mesh/stream-reader.ts.

/** Inbound connections still in their handshake (waiting to start it, or running it), all sources. */
export const MAX_PENDING_HANDSHAKES = 64;
/** … and from one source address: a second host keeps its share however busy the first one is. */
export const MAX_PENDING_HANDSHAKES_PER_HOST = 8;
/**
 * An inbound connection must finish its intro this long after it was accepted, queueing included
 * (mesh allows 10 s from when the intro starts). A real intro is three round trips and one X25519.
 */
export const INBOUND_HANDSHAKE_TIMEOUT_MS = 5_000;
/**
 * The largest frame accepted before the intro completes: the feature map. With 20-digit UIDs and a
 * 15-character nickname, weft's encodes to 216 bytes and Weave's (Go mesh plus `Overlays`) to
 * 192; a 255-character nickname of 3-byte characters adds at most 765. 8 KiB leaves ample room
 * and is 1/1280 of the 10 MiB allowed afterwards (+16 bytes of seal when encrypted).
 */
export const MAX_INTRO_FRAME_BYTES = 8 * 1024;
/** A StreamReader pauses the socket once it holds this much beyond what it was asked for. */
export const READER_HIGH_WATER_BYTES = 64 * 1024;
/**
 * A connection whose peer was heard within this long is alive: a newcomer with the same name and
 * another UID is then a name collision, not that peer restarted.
 */
export const ALIVE_WITHIN_MS = 2_500;
/** After a peer refused us for its connection limit, wait at least this long before trying again. */
export const CONN_LIMIT_BACKOFF_MS = 30_000;
/** The feature key a weft peer uses to say why it refuses a weft dialler (Go peers never see it). */
export const FEATURE_WEFT_REFUSED = 'WeftRefused';
/** The mesh port's accept queue (Node's default is 511); the kernel caps it at somaxconn. */
export const LISTEN_BACKLOG = 4096;
