/**
 * Codec for the sealed-record header, which is also the record's AAD: every field that steers
 * decryption or delivery is authenticated. Layout in constants.ts and docs/PROTOCOL.md.
 * 64-bit fields are carried as JS numbers and must stay below 2^53; a header claiming more is
 * MALFORMED_FRAME (a session rekeys long before, see docs/PROTOCOL.md).
 */
import { ErrorCode, PeerError } from '../errors.js';
import {
  CHUNKED_RECORD_HEADER_BYTES, FrameType, KNOWN_RECORD_FLAGS, PROTOCOL_VERSION, RECORD_HEADER_BYTES,
  RecordFlag, SESSION_ID_BYTES,
} from './constants.js';
import { readU64, writeU64 } from './u64.js';

export type RecordType = FrameType.Data | FrameType.Chunk | FrameType.Error | FrameType.Close | FrameType.KeyUpdate;

export interface ChunkFields {
  messageId: number;
  index: number;
  count: number;
  totalLength: number;
}

export interface RecordHeader {
  type: RecordType;
  sessionId: Uint8Array;
  /** Sequence number of the record's first message. */
  firstSeq: number;
  /** Messages carried by the record (1 for chunk, error, close and key update records). */
  count: number;
  /** Present exactly when type is Chunk. */
  chunk?: ChunkFields;
}

const TWO_POW_32 = 2 ** 32;

export function recordHeaderLength(type: RecordType): number {
  return type === FrameType.Chunk ? CHUNKED_RECORD_HEADER_BYTES : RECORD_HEADER_BYTES;
}

function checkU32(value: number, name: string, min: number): void {
  if (!Number.isInteger(value) || value < min || value >= TWO_POW_32) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `${name} must be an integer in [${min}, 2^32)`);
  }
}

/** Writes the header at out[offset…]; returns its length (24, or 48 for a chunk). */
export function encodeRecordHeader(h: RecordHeader, out: Uint8Array, offset = 0): number {
  const length = recordHeaderLength(h.type);
  if (h.sessionId.length !== SESSION_ID_BYTES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `session id must be ${SESSION_ID_BYTES} bytes`);
  }
  if (offset < 0 || offset + length > out.length) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'header does not fit');
  checkU32(h.count, 'message count', 1);
  const view = new DataView(out.buffer, out.byteOffset + offset, length);
  view.setUint8(0, PROTOCOL_VERSION);
  view.setUint8(1, h.type);
  view.setUint8(2, h.type === FrameType.Chunk ? RecordFlag.Chunked : 0);
  view.setUint8(3, 0);
  out.set(h.sessionId, offset + 4);
  writeU64(view, 12, h.firstSeq, 'first sequence');
  view.setUint32(20, h.count);
  if (h.type === FrameType.Chunk) {
    const c = h.chunk;
    if (c === undefined || h.count !== 1) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'a chunk record carries one chunk and its fields');
    checkU32(c.count, 'chunk count', 1);
    checkU32(c.index, 'chunk index', 0);
    if (c.index >= c.count) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'chunk index must be below chunk count');
    writeU64(view, 24, c.messageId, 'message id');
    view.setUint32(32, c.index);
    view.setUint32(36, c.count);
    writeU64(view, 40, c.totalLength, 'total length');
  } else if (h.chunk !== undefined) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'only chunk records carry chunk fields');
  }
  return length;
}

/**
 * Parses the header at the start of a frame body. Returns the header and its length; the
 * sealed payload is body[length…]. Never reads past `body`.
 */
export function decodeRecordHeader(body: Uint8Array): { header: RecordHeader; length: number } {
  if (body.length < RECORD_HEADER_BYTES) {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, `record of ${body.length} bytes is shorter than its header`);
  }
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const version = view.getUint8(0);
  if (version !== PROTOCOL_VERSION) {
    throw new PeerError(ErrorCode.INVALID_VERSION, `record version 0x${version.toString(16)} is not 0x11`);
  }
  const type = view.getUint8(1);
  if (type < FrameType.Data || type > FrameType.KeyUpdate) {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, `0x${type.toString(16)} is not a record type`);
  }
  const flags = view.getUint8(2);
  if ((flags & ~KNOWN_RECORD_FLAGS) !== 0 || view.getUint8(3) !== 0) {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, 'unknown flag or non-zero reserved byte');
  }
  const chunked = (flags & RecordFlag.Chunked) !== 0;
  if (chunked !== (type === FrameType.Chunk)) {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, 'the chunked flag is set exactly on chunk records');
  }
  const count = view.getUint32(20);
  if (count === 0 || (type !== FrameType.Data && count !== 1)) {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, `message count ${count} is invalid for this record type`);
  }
  const header: RecordHeader = {
    type,
    sessionId: body.subarray(4, 4 + SESSION_ID_BYTES),
    firstSeq: readU64(view, 12, 'first sequence'),
    count,
  };
  if (!chunked) return { header, length: RECORD_HEADER_BYTES };
  if (body.length < CHUNKED_RECORD_HEADER_BYTES) {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, 'chunk record shorter than its header');
  }
  const chunk: ChunkFields = {
    messageId: readU64(view, 24, 'message id'),
    index: view.getUint32(32),
    count: view.getUint32(36),
    totalLength: readU64(view, 40, 'total length'),
  };
  // Whether index, count and total make sense is the reassembler's to judge (CHUNK_ERROR,
  // which refuses the message but keeps the session): the header only has to parse.
  header.chunk = chunk;
  return { header, length: CHUNKED_RECORD_HEADER_BYTES };
}
