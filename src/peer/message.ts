/** What applications receive, and the message-type helpers of the I/O layer. */
import { ErrorCode, PeerError } from '../errors.js';
import { FrameType, MESSAGE_TYPES, type MessageType } from '../wire/index.js';
import type { V1Message } from '../compat/v1/receiver.js';
import type { Session } from './session.js';

/** A v1.1 message: what `session.on('message')` and `for await (const m of session)` deliver. */
export interface MessageV11 {
  from: string;
  type: MessageType | number;
  /** The whole payload; empty for a streamed message (read `stream()`). */
  payload: Uint8Array;
  /** Message number, per direction, from 0. */
  seq: number;
  session: Session;
  version: '1.1';
  /** v1.1 messages always travel sealed. */
  encrypted: true;
  /** Payload bytes (announced up front for a streamed message). */
  size: number;
  /** True when the payload arrives through `stream()` instead of `payload`. */
  streamed: boolean;
  /** The payload as chunks; for a whole message, one chunk. A message can be read this way once. */
  stream(): AsyncIterable<Uint8Array>;
  /** The sender's 16-byte message id (hex) when it asked for an ack (`send(x, { ack: true })`), else null. */
  id: string | null;
  /** True when the sender waits for this message's acknowledgement. */
  ack: boolean;
  /**
   * Acknowledges the message (the sender's `send` resolves). Automatic once every 'message'
   * listener returned (or the iterator took it) unless the session option `manualAck` is set.
   * A no-op for messages without `ack`, and after the first accept/reject.
   */
  accept(): void;
  /** Refuses it: the sender's `send` rejects with REQUEST_FAILED and `details.remoteCode` = code (A-Z0-9_). */
  reject(code: string, reason?: string): void;
}

/**
 * What `peer.on('message')` delivers: a v1.1 message or, from the v1.0 endpoint (`allowV1`), a
 * v1.0 one (`version: '1.0'`, a plain-object payload). Narrow on `m.version`.
 */
export type Message = MessageV11 | V1Message;

/** The answer to `session.request()`. */
export interface Reply {
  from: string;
  type: MessageType | number;
  payload: Uint8Array;
  /** The request's id (hex). */
  id: string;
  /** The reply's message number on the session. */
  seq: number;
  session: Session;
}

function noop(): void {}
/** accept/reject of a message that asked for no ack (shared, so plain messages allocate no closures). */
export const NO_ACK = { id: null, ack: false, accept: noop, reject: noop } as const;

/** Application message types beyond the table: 0x80–0xff. */
const APP_TYPE_MIN = 0x80;

/** Wire id by type name: one Map lookup per send (this runs for every message written). */
const ID_BY_NAME = new Map<string, number>(Object.entries(MESSAGE_TYPES).map(([name, t]) => [name, t.id]));

export function typeId(type: MessageType | number | undefined): number {
  if (type === undefined) return MESSAGE_TYPES.message.id;
  if (typeof type === 'number') {
    if (Number.isInteger(type) && type >= APP_TYPE_MIN && type <= 0xff) return type;
  } else {
    const id = ID_BY_NAME.get(type);
    if (id !== undefined) return id;
  }
  throw new PeerError(ErrorCode.INVALID_ARGUMENT, `message type must be one of ${Object.keys(MESSAGE_TYPES).join(', ')} or 0x80..0xff`);
}

export function isHandshakeFrame(type: number): boolean {
  return type >= FrameType.HandshakeInit && type <= FrameType.CookieEcho;
}

/** Everything but handshake frames and plaintext JSON goes to the record layer once READY. */
export function isRecordBody(body: Uint8Array): boolean {
  return body[0] !== 0x7b && !(body.length > 1 && isHandshakeFrame(body[1]!));
}

export async function* once(payload: Uint8Array): AsyncIterable<Uint8Array> {
  yield payload;
}
