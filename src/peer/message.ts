/** What applications receive, and the message-type helpers of the I/O layer. */
import { ErrorCode, PeerError } from '../errors.js';
import { FrameType, MESSAGE_TYPES, isMessageType, type MessageType } from '../wire/index.js';
import type { Session } from './session.js';

/** What `peer.on('message')` and `for await (const m of session)` deliver. */
export interface Message {
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
}

/** Application message types beyond the table: 0x80–0xff. */
const APP_TYPE_MIN = 0x80;

export function typeId(type: MessageType | number | undefined): number {
  if (type === undefined) return MESSAGE_TYPES.message.id;
  if (typeof type === 'number') {
    if (Number.isInteger(type) && type >= APP_TYPE_MIN && type <= 0xff) return type;
  } else if (isMessageType(type)) {
    return MESSAGE_TYPES[type].id;
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
