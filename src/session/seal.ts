/**
 * Sealing a run of records into frames laid out back to back in one buffer
 * (length ‖ header ‖ plaintext ‖ tag): those whose plaintext is one piece of the caller's bytes
 * straight from it (one pass), the others copied in and sealed in place by one native call.
 */
import { AEAD_TAG_BYTES } from '../crypto/index.js';
import { SpareBuffers } from '../util/spare-buffers.js';
import { FrameType, LENGTH_PREFIX_BYTES, encodeRecordHeader, recordHeaderLength, type ChunkFields, type RecordType } from '../wire/index.js';
import { NONCE_BYTES, type Direction, type RegionScratch } from './direction.js';

export interface OutRecord {
  type: RecordType;
  /** Messages in the record (record sequence numbers it takes). */
  count: number;
  plainLength: number;
  chunk?: ChunkFields;
  write?: (frame: Buffer, at: number) => void;
  /**
   * The whole plaintext, when it is one piece of the caller's bytes (a chunk after the first):
   * sealed straight from it into the frame in one pass, instead of copied there by write() and
   * sealed in place.
   */
  source?: Uint8Array;
}

export const KEY_UPDATE: OutRecord = { type: FrameType.KeyUpdate, count: 1, plainLength: 0 };

/**
 * Frames of a socket write are sealed into buffers that the writer may hand back once the
 * socket has taken their bytes (releaseSealBuffer: net.Socket's write callback), so a
 * sustained sender reuses a few buffers instead of allocating (fresh pages to fault in, then
 * garbage) one per write. Below POOLED_MIN_BYTES Node's own pool is cheaper; above
 * SEAL_BUFFER_BYTES (more than a flush slice) the buffer is allocated as before. A pooled
 * buffer holds only frames, i.e. ciphertext once sealed, and is overwritten before reuse.
 */
const POOLED_MIN_BYTES = 16 * 1024;
export const SEAL_BUFFER_BYTES = 384 * 1024;
/** Up to 4 free buffers kept (process-wide), each SEAL_BUFFER_BYTES, serving any size below. */
const sealBuffers = new SpareBuffers(4, 0);

function sealBuffer(total: number): Buffer {
  if (total < POOLED_MIN_BYTES || total > SEAL_BUFFER_BYTES) return Buffer.allocUnsafe(total);
  return sealBuffers.lend(sealBuffers.take(total) ?? Buffer.from(new ArrayBuffer(SEAL_BUFFER_BYTES), 0, total));
}

/**
 * The socket has written (or dropped) `frames`, a buffer flush() returned: its memory may seal
 * the next write. Only for a writer that keeps no reference to what it wrote (net.Socket);
 * anything not lent by the pool, or released twice, is ignored.
 */
export function releaseSealBuffer(frames: Uint8Array): void {
  sealBuffers.release(frames);
}

export function frameBytes(r: OutRecord): number {
  return LENGTH_PREFIX_BYTES + recordHeaderLength(r.type) + r.plainLength + AEAD_TAG_BYTES;
}

/** The nonce of a record sealed from its source (used synchronously; nonces are not secret). */
const SOURCE_NONCE = Buffer.alloc(NONCE_BYTES);

/** Seals `records` from sequence `firstSeq` under `tx`; returns the frames and the next sequence. */
export function sealSegment(tx: Direction, sessionId: Uint8Array, firstSeq: number, records: OutRecord[], scratch: RegionScratch): { frames: Buffer; nextSeq: number } {
  let total = 0;
  for (const r of records) total += frameBytes(r);
  const buf = sealBuffer(total);
  scratch.ensure(records.length);
  const { nonces, table } = scratch.views(records.length);
  let at = 0;
  let seq = firstSeq;
  /** Records sealed in place by the one sealRegions call at the end. */
  let k = 0;
  for (const r of records) {
    const headerLength = recordHeaderLength(r.type);
    const bodyLength = headerLength + r.plainLength + AEAD_TAG_BYTES;
    buf.writeUInt32BE(bodyLength, at);
    encodeRecordHeader({ type: r.type, sessionId, firstSeq: seq, count: r.count, chunk: r.chunk }, buf, at + LENGTH_PREFIX_BYTES);
    const plainAt = at + LENGTH_PREFIX_BYTES + headerLength;
    if (r.source !== undefined) {
      tx.writeNonce(seq, SOURCE_NONCE, 0);
      tx.aead.sealInto(SOURCE_NONCE, buf.subarray(at + LENGTH_PREFIX_BYTES, plainAt), r.source, buf, plainAt);
    } else {
      r.write?.(buf, plainAt);
      tx.writeNonce(seq, nonces, k * NONCE_BYTES);
      table[4 * k] = at + LENGTH_PREFIX_BYTES;
      table[4 * k + 1] = headerLength;
      table[4 * k + 2] = plainAt;
      table[4 * k + 3] = r.plainLength;
      k++;
    }
    seq += r.count;
    at += LENGTH_PREFIX_BYTES + bodyLength;
  }
  if (k > 0) tx.aead.sealRegions(nonces.subarray(0, k * NONCE_BYTES), buf, table.subarray(0, 4 * k));
  tx.records += records.length;
  return { frames: buf, nextSeq: seq };
}
