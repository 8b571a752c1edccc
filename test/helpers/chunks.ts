/** Feeding a Reassembler chunk by chunk, as the session does (tests of src/chunking). */
import type { ChunkEvent, Reassembler } from '../../src/chunking/index.js';

export interface Fields {
  messageId: number;
  index: number;
  count: number;
  totalLength: number;
}

/** Chunk i's plaintext for a message cut in chunks of `size`: chunk 0 starts with the type byte. */
export function plainOf(payload: Buffer, size: number, index: number, type = 0x04): Buffer {
  const part = payload.subarray(index * size, Math.min(payload.length, (index + 1) * size));
  return index === 0 ? Buffer.concat([Buffer.of(type), part]) : Buffer.from(part);
}

/**
 * One chunk as the session handles it: "decrypted" into the region regionFor() gives (else in
 * place, in a copy standing for the record), then accepted. [] for a chunk that was dropped.
 */
export function feed(r: Reassembler, fields: Fields, plain: Buffer, now: number): ChunkEvent[] {
  const into = r.regionFor(fields, plain.length) ?? Buffer.alloc(plain.length);
  into.set(plain);
  return r.accept(fields, into, now, 0);
}

/** Chunk indexes for a message of `count` chunks: chunk 0 first (a message starts there), the rest last first. */
export function zeroThenReverse(count: number): number[] {
  return [0, ...Array.from({ length: count - 1 }, (_, i) => count - 1 - i)];
}
