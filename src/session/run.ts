/**
 * The plaintext of a data record: a run of `count` messages, each
 *   type u8 ‖ length u32 ‖ payload
 * with consecutive sequence numbers from the header's first_seq. Error records carry
 *   code (u8 length ‖ ASCII) ‖ u16 length ‖ UTF-8 reason ‖ flags u8 ‖ [seq u64] ‖
 *   [message id u64] ‖ [retry-after ms u64]; flag 0x08 means the sender abandons its own message;
 *   ‖ [rate class (u8 length ‖ ASCII) if flags & 0x10]
 * and close and key-update records carry nothing.
 */
import { ErrorCode, PeerError, fromPeer, type ErrorCode as Code } from '../errors.js';
import { ByteReader, ByteWriter } from '../wire/index.js';

export const MESSAGE_HEADER_BYTES = 5;

export interface RunMessage {
  type: number;
  payload: Uint8Array;
}

/** Writes messages from..to-1 (types[i], payloads[i]) as a run into out[offset…]; returns the bytes written. */
export function writeRun(types: readonly number[], payloads: readonly Uint8Array[], from: number, to: number, out: Uint8Array, offset: number): number {
  let at = offset;
  for (let i = from; i < to; i++) {
    const payload = payloads[i]!;
    const n = payload.length;
    out[at] = types[i]!;
    out[at + 1] = n >>> 24;
    out[at + 2] = (n >>> 16) & 0xff;
    out[at + 3] = (n >>> 8) & 0xff;
    out[at + 4] = n & 0xff;
    out.set(payload, at + MESSAGE_HEADER_BYTES);
    at += MESSAGE_HEADER_BYTES + n;
  }
  return at - offset;
}

/**
 * Checks that an opened run holds exactly `count` messages, allocating nothing (a record of
 * 13,000 empty messages costs no more objects than a record of one); throws MALFORMED_FRAME.
 */
export function checkRun(plain: Uint8Array, count: number): void {
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (plain.length - at < MESSAGE_HEADER_BYTES) throw malformed('message header truncated');
    const n = runPayloadLength(plain, at);
    at += MESSAGE_HEADER_BYTES;
    if (plain.length - at < n) throw malformed('message payload truncated');
    at += n;
  }
  if (at !== plain.length) throw malformed('bytes after the last message');
}

/** Splits a checked run into its messages (views, no copies): for simple callers and tests. */
export function readRun(plain: Uint8Array, count: number): RunMessage[] {
  checkRun(plain, count);
  const out: RunMessage[] = [];
  for (let i = 0, at = 0; i < count; i++) {
    const start = at + MESSAGE_HEADER_BYTES;
    at = start + runPayloadLength(plain, at);
    out.push({ type: plain[start - MESSAGE_HEADER_BYTES]!, payload: plain.subarray(start, at) });
  }
  return out;
}

/** The payload length of the run entry at `at` (its type is plain[at], its payload follows the 5-byte header). */
export function runPayloadLength(plain: Uint8Array, at: number): number {
  return ((plain[at + 1]! << 24) | (plain[at + 2]! << 16) | (plain[at + 3]! << 8) | plain[at + 4]!) >>> 0;
}

/** What an error record says (PROTOCOL.md §6): a code, a reason, and what it refers to. */
export interface ErrorPayload {
  code: string;
  reason: string;
  /** The message (sequence number) refused, e.g. by a rate limit. */
  seq?: number;
  /** The chunked message (message id) abandoned. */
  messageId?: number;
  /** When the sender may try again, in ms (RATE_LIMITED). */
  retryAfter?: number;
  /** The record's sender abandons its own message `messageId` (else it refuses the peer's). */
  abandoned?: boolean;
  /** The rate-limit class that refused the message (RATE_LIMITED). */
  rateClass?: string;
  /** RATE_LIMITED: the whole messages of `rateClass` numbered seq … seq + count − 1 were all refused (absent: 1). */
  count?: number;
}

const HAS_SEQ = 0x01;
const HAS_MESSAGE_ID = 0x02;
const HAS_RETRY_AFTER = 0x04;
const ABANDONED = 0x08;
const HAS_RATE_CLASS = 0x10;
const HAS_COUNT = 0x20;

export function encodeErrorPayload(e: ErrorPayload & { code: Code }): Buffer {
  const text = Buffer.from(e.reason, 'utf8').subarray(0, 1024);
  const flags = (e.seq !== undefined ? HAS_SEQ : 0) | (e.messageId !== undefined ? HAS_MESSAGE_ID : 0) |
    (e.retryAfter !== undefined ? HAS_RETRY_AFTER : 0) | (e.abandoned ? ABANDONED : 0) | (e.rateClass !== undefined ? HAS_RATE_CLASS : 0) | (e.count !== undefined ? HAS_COUNT : 0);
  const w = new ByteWriter().shortString(e.code, 64).u16(text.length).raw(text).u8(flags);
  if (e.seq !== undefined) w.u64(e.seq, 'seq');
  if (e.messageId !== undefined) w.u64(e.messageId, 'message id');
  if (e.retryAfter !== undefined) w.u64(Math.ceil(e.retryAfter), 'retry after');
  if (e.rateClass !== undefined) w.shortString(e.rateClass, 32);
  if (e.count !== undefined) w.u64(e.count, 'count');
  return w.finish();
}

/** Decodes an error record; the code and texts come out cleaned (errors.ts fromPeer). */
export function decodeErrorPayload(plain: Uint8Array): ErrorPayload {
  const r = new ByteReader(plain, 'error record');
  const code = r.shortString(64);
  const out: ErrorPayload = fromPeer(code, Buffer.from(r.bytesView(r.u16())).toString('utf8'));
  const flags = r.u8();
  if ((flags & ~(HAS_SEQ | HAS_MESSAGE_ID | HAS_RETRY_AFTER | ABANDONED | HAS_RATE_CLASS | HAS_COUNT)) !== 0) r.fail('unknown flags');
  if (flags & ABANDONED) out.abandoned = true;
  if (flags & HAS_SEQ) out.seq = r.u64();
  if (flags & HAS_MESSAGE_ID) out.messageId = r.u64();
  if (flags & HAS_RETRY_AFTER) out.retryAfter = r.u64();
  if (flags & HAS_RATE_CLASS) out.rateClass = fromPeer(ErrorCode.RATE_LIMITED, r.shortString(32)).reason;
  if (flags & HAS_COUNT) {
    out.count = r.u64();
    if (out.count === 0 || out.seq === undefined) r.fail('a count needs a seq and is at least 1');
  }
  r.end();
  return out;
}

function malformed(reason: string): PeerError {
  return new PeerError(ErrorCode.MALFORMED_FRAME, `data record: ${reason}`);
}
