/**
 * Delivery envelopes (PROTOCOL.md §6 "Acknowledged messages and requests"): three message types
 * in the range the spec leaves unassigned, carried in data records like any message.
 *
 *   0x0d envelope  flags u8 ‖ type u8 ‖ id[16] ‖ payload        an ack:true message or a request
 *   0x0e reply     status u8 ‖ type u8 ‖ id[16] ‖ body           answers envelope `id`
 *   0x0f ack       id[16] × n (n ≥ 1)                            the application accepted these
 *
 * Sans-I/O: bytes in, values out. A malformed envelope is a PeerError MALFORMED_FRAME.
 */
import { randomFillSync } from 'node:crypto';
import { ErrorCode, PeerError } from '../errors.js';
import { messageTypeId, messageTypeName } from '../wire/index.js';

export const ENVELOPE_TYPE = 0x0d;
export const REPLY_TYPE = 0x0e;
export const ACK_TYPE = 0x0f;
/** The offline queue's envelope and its acknowledgement (wire/message-types.ts, docs/QUEUE.md). */
export const QUEUED_TYPE = messageTypeId('queued');
export const QUEUE_ACK_TYPE = messageTypeId('queue_ack');

/**
 * Received messages the receive path charges one at a time through Delivery.classify (which may
 * admit them by credit), not in runs of one rate class.
 */
export function chargedAlone(type: number): boolean {
  return (type >= ENVELOPE_TYPE && type <= ACK_TYPE) || type === QUEUE_ACK_TYPE;
}

/** Message id / correlation id length. */
export const ID_BYTES = 16;
/** flags u8 ‖ type u8 ‖ id[16]: the header of an envelope and of a reply. */
export const ENVELOPE_HEADER_BYTES = 2 + ID_BYTES;

/** Envelope flags: exactly one is set. */
export const FLAG_ACK = 0x01;
export const FLAG_REQUEST = 0x02;

export const STATUS_OK = 0x00;
export const STATUS_ERROR = 0x01;

/** An application error code: 1–64 of A–Z, 0–9, '_' (so a peer cannot put control bytes in logs). */
const CODE_RE = /^[A-Z0-9_]{1,64}$/;
/** Longest reason carried in an error reply (UTF-8 bytes); longer ones are cut. */
export const MAX_REASON_BYTES = 1024;

export type EnvelopeKind = 'ack' | 'request';

export interface Envelope {
  kind: EnvelopeKind;
  type: number;
  id: Uint8Array;
  payload: Uint8Array;
}

export type Reply =
  | { ok: true; type: number; id: Uint8Array; payload: Uint8Array }
  | { ok: false; type: number; id: Uint8Array; code: string; reason: string; retryAfter: number };

function malformed(what: string): PeerError {
  return new PeerError(ErrorCode.MALFORMED_FRAME, what);
}

/** A type an application may see: the spec's table or 0x80–0xff. */
export function isApplicationType(type: number): boolean {
  return type >= 0x80 ? type <= 0xff : messageTypeName(type) !== undefined;
}

export function isValidCode(code: string): boolean {
  return CODE_RE.test(code);
}

function header(first: number, type: number, id: Uint8Array, rest: number): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + rest);
  out[0] = first;
  out[1] = type;
  out.set(id, 2);
  return out;
}

export function encodeEnvelope(kind: EnvelopeKind, type: number, id: Uint8Array, payload: Uint8Array): Buffer {
  const out = header(kind === 'ack' ? FLAG_ACK : FLAG_REQUEST, type, id, payload.length);
  out.set(payload, ENVELOPE_HEADER_BYTES);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length < ENVELOPE_HEADER_BYTES) throw malformed('envelope shorter than its header');
  const flags = bytes[0]!;
  if (flags !== FLAG_ACK && flags !== FLAG_REQUEST) throw malformed(`envelope flags ${flags}`);
  const type = bytes[1]!;
  if (!isApplicationType(type)) throw malformed(`envelope carries message type ${type}`);
  return { kind: flags === FLAG_ACK ? 'ack' : 'request', type, id: bytes.subarray(2, ENVELOPE_HEADER_BYTES), payload: bytes.subarray(ENVELOPE_HEADER_BYTES) };
}

export function encodeReplyOk(type: number, id: Uint8Array, payload: Uint8Array): Buffer {
  const out = header(STATUS_OK, type, id, payload.length);
  out.set(payload, ENVELOPE_HEADER_BYTES);
  return out;
}

/** body = code (u8 length ‖ ASCII) ‖ u16 length ‖ UTF-8 reason ‖ retry_after ms u32 (0: none). */
export function encodeReplyError(type: number, id: Uint8Array, code: string, reason: string, retryAfter = 0): Buffer {
  if (!isValidCode(code)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'an error code is 1-64 characters of A-Z, 0-9 and _');
  let r = Buffer.from(reason, 'utf8');
  if (r.length > MAX_REASON_BYTES) r = r.subarray(0, MAX_REASON_BYTES);
  const out = header(STATUS_ERROR, type, id, 1 + code.length + 2 + r.length + 4);
  let at = ENVELOPE_HEADER_BYTES;
  out[at++] = code.length;
  at += out.write(code, at, 'latin1');
  out.writeUInt16BE(r.length, at);
  r.copy(out, at + 2);
  out.writeUInt32BE(Math.min(Math.max(0, Math.ceil(retryAfter)), 0xffffffff), at + 2 + r.length);
  return out;
}

export function decodeReply(bytes: Uint8Array): Reply {
  if (bytes.length < ENVELOPE_HEADER_BYTES) throw malformed('reply shorter than its header');
  const status = bytes[0]!;
  const type = bytes[1]!;
  if (!isApplicationType(type)) throw malformed(`reply carries message type ${type}`);
  const id = bytes.subarray(2, ENVELOPE_HEADER_BYTES);
  const body = bytes.subarray(ENVELOPE_HEADER_BYTES);
  if (status === STATUS_OK) return { ok: true, type, id, payload: body };
  if (status !== STATUS_ERROR) throw malformed(`reply status ${status}`);
  const buf = Buffer.from(body.buffer, body.byteOffset, body.length);
  const n = buf.length > 0 ? buf[0]! : 0;
  if (buf.length < 1 + n + 2) throw malformed('error reply truncated');
  const code = buf.toString('latin1', 1, 1 + n);
  if (!isValidCode(code)) throw malformed('error reply code is not 1-64 of A-Z, 0-9, _');
  const len = buf.readUInt16BE(1 + n);
  if (len > MAX_REASON_BYTES || buf.length !== 1 + n + 2 + len + 4) throw malformed('error reply length mismatch');
  // Control characters from a peer never reach our logs.
  const reason = buf.toString('utf8', 3 + n, 3 + n + len).replace(/[\p{Cc}\u2028\u2029]/gu, '?');
  return { ok: false, type, id, code, reason, retryAfter: buf.readUInt32BE(3 + n + len) };
}

export function encodeAck(id: Uint8Array): Buffer {
  return Buffer.from(id);
}

/** The ids an ack carries (views). */
export function decodeAck(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length === 0 || bytes.length % ID_BYTES !== 0) throw malformed(`ack of ${bytes.length} bytes`);
  const ids: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += ID_BYTES) ids.push(bytes.subarray(at, at + ID_BYTES));
  return ids;
}

/** Random ids, drawn 256 at a time (one getrandom call instead of one per message). */
const ID_POOL = Buffer.alloc(ID_BYTES * 256);
let poolAt = ID_POOL.length;

export function newId(): Buffer {
  if (poolAt === ID_POOL.length) {
    randomFillSync(ID_POOL);
    poolAt = 0;
  }
  const id = Buffer.alloc(ID_BYTES);
  ID_POOL.copy(id, 0, poolAt, poolAt + ID_BYTES);
  poolAt += ID_BYTES;
  return id;
}

/** A caller's id: 16 bytes or 32 hex characters. */
export function parseId(id: Uint8Array | string): Buffer {
  const b = typeof id === 'string' ? (/^[0-9a-fA-F]{32}$/.test(id) ? Buffer.from(id, 'hex') : null) : id.length === ID_BYTES ? Buffer.from(id) : null;
  if (b === null) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'a message id is 16 bytes or 32 hex characters');
  return b;
}
