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

/** One chunk: prepare, "decrypt" into the target, commit. Null for a chunk of a refused message. */
export function feed(r: Reassembler, fields: Fields, plain: Buffer, now: number): ChunkEvent[] | null {
  const target = r.prepare(fields, plain.length, now, 0);
  if (target === null) return null;
  const into = target.into ?? Buffer.from(plain);
  into.set(plain);
  return r.commit(fields, target, into.subarray(0, plain.length));
}
