/**
 * Where buffered chunked messages are reassembled. Small ones come from Node's allocator
 * (glibc recycles them); large ones from the native pool (native/buffer-pool.c), which takes
 * a buffer back once V8 has collected the delivered message, so a stream of large messages
 * does not make the kernel fault in and zero every page of every message. The pool keeps a
 * few buffers at most, and none once large messages stop for `idleMs`.
 */
import { native } from '../crypto/native.js';
import { ErrorCode, PeerError } from '../errors.js';

/** Below this glibc recycles freed memory itself (its mmap threshold grows to 32 MiB). */
export const POOLED_BUFFER_MIN_BYTES = 8 * 1024 * 1024;
/** Large buffers kept for reuse (the native side's bound is 8). */
export const DEFAULT_POOLED_BUFFERS = 2;
export const MAX_POOLED_BUFFERS = 8;
/** Kept buffers are freed once no large buffer was asked for in this long. */
export const DEFAULT_POOL_IDLE_MS = 10_000;

export interface BufferPoolStats {
  /** Large buffers served from the pool / freshly allocated. */
  hits: number;
  misses: number;
  /** Buffers kept for reuse now, and their bytes. */
  kept: number;
  keptBytes: number;
}

let trimTimer: NodeJS.Timeout | null = null;

/** Empties the pool once it is idle; until then looks again when the native side says it will be. */
function watchIdle(): void {
  if (trimTimer !== null) clearTimeout(trimTimer);
  const wait = native!.poolTrim();
  trimTimer = wait > 0 ? setTimeout(watchIdle, wait).unref() : null;
}

/** A buffer of exactly `bytes` for one message's reassembly; its contents are undefined. */
export function allocReassemblyBuffer(bytes: number): Buffer {
  if (native !== null && bytes >= POOLED_BUFFER_MIN_BYTES && bytes <= 0xffffffff) {
    const pooled = native.poolAlloc(bytes);
    if (pooled !== undefined) {
      if (trimTimer === null) watchIdle();
      return pooled;
    }
  }
  return Buffer.allocUnsafeSlow(bytes);
}

/**
 * Process-wide: how many large buffers to keep for reuse (0 turns the pool off) and for how
 * long after the last large message. Without the native addon there is no pool.
 */
export function configureBufferPool(opts: { buffers?: number; idleMs?: number }): void {
  const buffers = opts.buffers ?? DEFAULT_POOLED_BUFFERS;
  const idle = opts.idleMs ?? DEFAULT_POOL_IDLE_MS;
  if (!Number.isInteger(buffers) || buffers < 0 || buffers > MAX_POOLED_BUFFERS) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `buffers must be an integer in [0, ${MAX_POOLED_BUFFERS}]`);
  }
  if (!Number.isInteger(idle) || idle < 0 || idle > 2 ** 31 - 1) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'idleMs must be an integer in [0, 2^31 - 1]');
  }
  if (native === null) return;
  native.poolConfigure(buffers, idle);
  watchIdle(); // the idle deadline may have moved
}

export function bufferPoolStats(): BufferPoolStats {
  if (native === null) return { hits: 0, misses: 0, kept: 0, keptBytes: 0 };
  const [hits, misses, kept, keptBytes] = native.poolStats();
  return { hits, misses, kept, keptBytes };
}
