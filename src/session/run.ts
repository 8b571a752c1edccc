/**
 * The plaintext of a data record: a run of `count` messages, each
 *   type u8 ‖ length u32 ‖ payload
 * with consecutive sequence numbers from the header's first_seq. Error records carry
 *   code (u8 length ‖ ASCII) ‖ u16 length ‖ UTF-8 reason
 * and close and key-update records carry nothing.
 */
import { ErrorCode, PeerError, type ErrorCode as Code } from '../errors.js';
import { ByteReader, ByteWriter } from '../wire/index.js';

export const MESSAGE_HEADER_BYTES = 5;

export interface RunMessage {
  type: number;
  payload: Uint8Array;
}

/** Writes the run into out[offset…]; returns the bytes written. */
export function writeRun(messages: readonly RunMessage[], out: Uint8Array, offset: number): number {
  let at = offset;
  for (const m of messages) {
    const n = m.payload.length;
    out[at] = m.type;
    out[at + 1] = n >>> 24;
    out[at + 2] = (n >>> 16) & 0xff;
    out[at + 3] = (n >>> 8) & 0xff;
    out[at + 4] = n & 0xff;
    out.set(m.payload, at + MESSAGE_HEADER_BYTES);
    at += MESSAGE_HEADER_BYTES + n;
  }
  return at - offset;
}

export function runLength(messages: readonly RunMessage[]): number {
  let n = 0;
  for (const m of messages) n += MESSAGE_HEADER_BYTES + m.payload.length;
  return n;
}

/** Splits an opened run into exactly `count` messages (views, no copies). */
export function readRun(plain: Uint8Array, count: number): RunMessage[] {
  const out: RunMessage[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (plain.length - at < MESSAGE_HEADER_BYTES) throw malformed('message header truncated');
    const type = plain[at]!;
    const n = ((plain[at + 1]! << 24) | (plain[at + 2]! << 16) | (plain[at + 3]! << 8) | plain[at + 4]!) >>> 0;
    at += MESSAGE_HEADER_BYTES;
    if (plain.length - at < n) throw malformed('message payload truncated');
    out.push({ type, payload: plain.subarray(at, at + n) });
    at += n;
  }
  if (at !== plain.length) throw malformed('bytes after the last message');
  return out;
}

export function encodeErrorPayload(code: Code, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 1024);
  return new ByteWriter().shortString(code, 64).u16(text.length).raw(text).finish();
}

export function decodeErrorPayload(plain: Uint8Array): { code: string; reason: string } {
  const r = new ByteReader(plain, 'error record');
  const code = r.shortString(64);
  const reason = Buffer.from(r.bytesView(r.u16())).toString('utf8');
  r.end();
  return { code, reason };
}

function malformed(reason: string): PeerError {
  return new PeerError(ErrorCode.MALFORMED_FRAME, `data record: ${reason}`);
}
