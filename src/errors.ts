/**
 * Every rejected input maps to exactly one of these codes; the same codes travel in error
 * records on the wire. The first twelve are the spec's v1.1 list, then its "v1.1 additions",
 * then v1.0's UNKNOWN_SENDER, then codes this implementation needs for local misuse, then the
 * outcomes of delivery (UNREACHABLE, SESSION_CLOSED, TIMEOUT, ABORTED, REQUEST_FAILED), which
 * never travel in error records.
 */
export const ErrorCode = {
  INVALID_VERSION: 'INVALID_VERSION',
  INVALID_SIGNATURE: 'INVALID_SIGNATURE',
  REPLAY_DETECTED: 'REPLAY_DETECTED',
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  SEQUENCE_ERROR: 'SEQUENCE_ERROR',
  DECRYPTION_FAILED: 'DECRYPTION_FAILED',
  CHALLENGE_EXPIRED: 'CHALLENGE_EXPIRED',
  CHALLENGE_INVALID: 'CHALLENGE_INVALID',
  HANDSHAKE_IN_PROGRESS: 'HANDSHAKE_IN_PROGRESS',
  SESSION_NOT_FOUND: 'SESSION_NOT_FOUND',
  ENCRYPTION_NOT_READY: 'ENCRYPTION_NOT_READY',
  INVALID_STATE: 'INVALID_STATE',
  ENCRYPTION_REQUIRED: 'ENCRYPTION_REQUIRED',
  RATE_LIMITED: 'RATE_LIMITED',
  CHUNK_ERROR: 'CHUNK_ERROR',
  DHT_ERROR: 'DHT_ERROR',
  UNKNOWN_SENDER: 'UNKNOWN_SENDER',
  /** A frame or record that does not parse. */
  MALFORMED_FRAME: 'MALFORMED_FRAME',
  /** A frame whose announced length exceeds the configured maximum. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** A key of the wrong size or form, a low-order X25519 point, an unreadable key file. */
  INVALID_KEY: 'INVALID_KEY',
  /** A key file that group or others can read. */
  INSECURE_KEY_FILE: 'INSECURE_KEY_FILE',
  /** Any other argument of the wrong type, size or range (nonce length, HKDF length, ...). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The address refused the connection, did not answer, or is not reachable (no session was started). */
  UNREACHABLE: 'UNREACHABLE',
  /** The session ended before an acknowledged message or a request was answered (details: id, seq). */
  SESSION_CLOSED: 'SESSION_CLOSED',
  /** A request got no reply within its timeout. */
  TIMEOUT: 'TIMEOUT',
  /** The caller's AbortSignal cancelled the request. */
  ABORTED: 'ABORTED',
  /** The remote application failed the request or refused the message (details.remoteCode, its code). */
  REQUEST_FAILED: 'REQUEST_FAILED',
  /** The offline queue of a recipient is at its quota (messages or bytes): deliver() stored nothing. */
  QUEUE_FULL: 'QUEUE_FULL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class PeerError extends Error {
  override readonly name = 'PeerError';
  readonly code: ErrorCode;
  /** Structured context (which record failed, a limit, ...); never secret material. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(`${code}: ${message}`);
    this.code = code;
    this.details = details;
  }
}

/**
 * A PeerError for an expected ending (a session closed normally, the waiters it leaves): built
 * without a stack trace, which would cost more than the rest of the close and says nothing.
 */
export function endingError(code: ErrorCode, message: string): PeerError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new PeerError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function isPeerError(err: unknown, code?: ErrorCode): err is PeerError {
  return err instanceof PeerError && (code === undefined || err.code === code);
}

/** The codes that travel in error records and handshake_error frames (PROTOCOL.md §8). */
const WIRE_CODES: ReadonlySet<string> = new Set<string>([
  ErrorCode.INVALID_VERSION, ErrorCode.INVALID_SIGNATURE, ErrorCode.REPLAY_DETECTED, ErrorCode.SESSION_EXPIRED,
  ErrorCode.SEQUENCE_ERROR, ErrorCode.DECRYPTION_FAILED, ErrorCode.CHALLENGE_EXPIRED, ErrorCode.CHALLENGE_INVALID,
  ErrorCode.HANDSHAKE_IN_PROGRESS, ErrorCode.SESSION_NOT_FOUND, ErrorCode.ENCRYPTION_NOT_READY, ErrorCode.INVALID_STATE,
  ErrorCode.ENCRYPTION_REQUIRED, ErrorCode.RATE_LIMITED, ErrorCode.CHUNK_ERROR, ErrorCode.DHT_ERROR, ErrorCode.UNKNOWN_SENDER,
  ErrorCode.MALFORMED_FRAME, ErrorCode.FRAME_TOO_LARGE,
]);

/** Longest reason text kept from a peer, in characters (the wire allows up to 1,024 or 512 bytes). */
export const MAX_REMOTE_REASON_CHARS = 256;

/** Control (Cc) and format (Cf: bidi overrides, zero-width) characters: never passed on to logs. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}]/gu;

/**
 * A peer's error code and reason, made safe to put in a PeerError and in logs: a code this
 * protocol sends on the wire (any other becomes INVALID_STATE, the unknown code kept, cleaned,
 * at the head of the reason), the reason without control or format characters, capped.
 */
export function fromPeer(code: string, reason: string): { code: ErrorCode; reason: string } {
  const text = WIRE_CODES.has(code) ? reason : `unknown code ${code}: ${reason}`;
  const clean = text.replace(UNPRINTABLE, '');
  return {
    code: WIRE_CODES.has(code) ? (code as ErrorCode) : ErrorCode.INVALID_STATE,
    reason: clean.length > MAX_REMOTE_REASON_CHARS ? `${clean.slice(0, MAX_REMOTE_REASON_CHARS)}…` : clean,
  };
}
