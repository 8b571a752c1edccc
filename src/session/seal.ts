/**
 * Sealing a run of records into frames laid out back to back in one buffer
 * (length ‖ header ‖ plaintext ‖ tag), all sealed in place by one native call.
 */
import { AEAD_TAG_BYTES } from '../crypto/index.js';
import { FrameType, LENGTH_PREFIX_BYTES, encodeRecordHeader, recordHeaderLength, type ChunkFields, type RecordType } from '../wire/index.js';
import { NONCE_BYTES, type Direction, type RegionScratch } from './direction.js';

export interface OutRecord {
  type: RecordType;
  /** Messages in the record (record sequence numbers it takes). */
  count: number;
  plainLength: number;
  chunk?: ChunkFields;
  write?: (frame: Buffer, at: number) => void;
}

export const KEY_UPDATE: OutRecord = { type: FrameType.KeyUpdate, count: 1, plainLength: 0 };

export function frameBytes(r: OutRecord): number {
  return LENGTH_PREFIX_BYTES + recordHeaderLength(r.type) + r.plainLength + AEAD_TAG_BYTES;
}

/** Seals `records` from sequence `firstSeq` under `tx`; returns the frames and the next sequence. */
export function sealSegment(tx: Direction, sessionId: Uint8Array, firstSeq: number, records: OutRecord[], scratch: RegionScratch): { frames: Buffer; nextSeq: number } {
  let total = 0;
  for (const r of records) total += frameBytes(r);
  const buf = Buffer.allocUnsafe(total);
  scratch.ensure(records.length);
  const { nonces, table } = scratch.views(records.length);
  let at = 0;
  let seq = firstSeq;
  records.forEach((r, k) => {
    const headerLength = recordHeaderLength(r.type);
    const bodyLength = headerLength + r.plainLength + AEAD_TAG_BYTES;
    buf.writeUInt32BE(bodyLength, at);
    encodeRecordHeader({ type: r.type, sessionId, firstSeq: seq, count: r.count, chunk: r.chunk }, buf, at + LENGTH_PREFIX_BYTES);
    const plainAt = at + LENGTH_PREFIX_BYTES + headerLength;
    r.write?.(buf, plainAt);
    tx.writeNonce(seq, nonces, k * NONCE_BYTES);
    table[4 * k] = at + LENGTH_PREFIX_BYTES;
    table[4 * k + 1] = headerLength;
    table[4 * k + 2] = plainAt;
    table[4 * k + 3] = r.plainLength;
    seq += r.count;
    at += LENGTH_PREFIX_BYTES + bodyLength;
  });
  tx.aead.sealRegions(nonces, buf, table);
  tx.records += records.length;
  return { frames: buf, nextSeq: seq };
}
