/**
 * Wire constants. Every frame on a stream is a 4-byte big-endian length followed by that many
 * bytes of body; a body starts with the protocol version and the frame type. docs/PROTOCOL.md
 * gives the same numbers with the full layouts.
 */

/** Protocol version byte: major 1, minor 1. */
export const PROTOCOL_VERSION = 0x11;

/** Length prefix of every frame: u32, big-endian, counts the body only. */
export const LENGTH_PREFIX_BYTES = 4;

/** Default largest frame body: a 64 KiB record payload plus header and tag, rounded up. */
export const DEFAULT_MAX_FRAME_BYTES = 128 * 1024;
/** No configuration may raise the frame limit past this (the length prefix allows 4 GiB). */
export const ABSOLUTE_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Frame types: handshake steps 1–6 keep the spec's order; sealed records from 0x10. */
export enum FrameType {
  HandshakeInit = 0x01,
  HandshakeInitAck = 0x02,
  ChallengeResponse = 0x03,
  SessionEstablished = 0x04,
  SessionConfirm = 0x05,
  Ready = 0x06,
  /** Unsealed error during the handshake, before keys exist. */
  HandshakeError = 0x07,
  /** Responder under load: "send this cookie back with your handshake_init". */
  CookieReply = 0x08,
  /** Initiator: the cookie, sent right before handshake_init is sent again. */
  CookieEcho = 0x09,
  /** Sealed record carrying a run of application messages. */
  Data = 0x10,
  /** Sealed record carrying one chunk of a large message. */
  Chunk = 0x11,
  /** Error record: a spec error code travelling to the peer. */
  Error = 0x12,
  /** Orderly close. */
  Close = 0x13,
  /** Key update: the sender's next records use keys derived from the current ones. */
  KeyUpdate = 0x14,
}

/** Record flags (one byte). Unknown bits must be zero: a receiver rejects them. */
export enum RecordFlag {
  /** The header carries the chunk fields (message id, index, count, total length). */
  Chunked = 0x01,
}
export const KNOWN_RECORD_FLAGS = RecordFlag.Chunked;

/** Session id length in record headers. */
export const SESSION_ID_BYTES = 8;

/**
 * Sealed record header (the AAD), big-endian:
 *   0 version u8 · 1 type u8 · 2 flags u8 · 3 reserved u8 (0)
 *   4 session id [8] · 12 first sequence u64 · 20 message count u32
 * and, with RecordFlag.Chunked:
 *   24 message id u64 · 32 chunk index u32 · 36 chunk count u32 · 40 total length u64
 */
export const RECORD_HEADER_BYTES = 24;
export const CHUNK_FIELDS_BYTES = 24;
export const CHUNKED_RECORD_HEADER_BYTES = RECORD_HEADER_BYTES + CHUNK_FIELDS_BYTES;
