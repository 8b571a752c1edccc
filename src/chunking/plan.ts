/**
 * How a message of `total` bytes is cut: `count` chunks of `size` payload bytes, the last one
 * shorter. Receivers recompute the plan from (total, count) and check every chunk against it,
 * so chunks can be written at fixed offsets and can never overlap.
 */
import { ErrorCode, PeerError } from '../errors.js';

export interface ChunkPlan {
  total: number;
  count: number;
  size: number;
}

export function planChunks(total: number, maxChunkPayload: number): ChunkPlan {
  if (!Number.isSafeInteger(total) || total < 1) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'a chunked message has at least one byte');
  const count = Math.ceil(total / maxChunkPayload);
  if (count > 0xffffffff) throw new PeerError(ErrorCode.CHUNK_ERROR, 'message needs more than 2^32 − 1 chunks');
  return { total, count, size: Math.ceil(total / count) };
}

/** The plan a receiver derives from a header's (total, count). */
export function planFromHeader(total: number, count: number): ChunkPlan {
  return { total, count, size: Math.ceil(total / count) };
}

export function chunkOffset(plan: ChunkPlan, index: number): number {
  return index * plan.size;
}

export function chunkLength(plan: ChunkPlan, index: number): number {
  return Math.min(plan.size, plan.total - index * plan.size);
}
