/**
 * Rate-limit classes and defaults (DESIGN.md §3; spec "Rate Limits (Token Bucket)").
 *
 * The class union is the same as `wire`'s `RateClass` (MESSAGE_TYPES maps each message type to
 * one); it is repeated here because `ratelimit/` imports nothing but `errors`. A test checks
 * that the two lists agree.
 */
export type RateClass = 'handshake' | 'heartbeat' | 'task' | 'discovery' | 'chunk';

/** Every class, in the order of its index in the limiter's arrays (`RATE_CLASS_INDEX`). */
export const RATE_CLASSES = ['handshake', 'heartbeat', 'task', 'discovery', 'chunk'] as const satisfies readonly RateClass[];

export const RATE_CLASS_COUNT = RATE_CLASSES.length;

export const RATE_CLASS_INDEX: Readonly<Record<RateClass, number>> = {
  handshake: 0,
  heartbeat: 1,
  task: 2,
  discovery: 3,
  chunk: 4,
};

/** One token bucket: `perMinute` tokens added per minute, at most `burst` held. */
export interface BucketLimit {
  perMinute: number;
  burst: number;
}

/** The spec's defaults, per (peer, class). */
export const DEFAULT_RATE_LIMITS: Readonly<Record<RateClass, Readonly<BucketLimit>>> = {
  handshake: { perMinute: 5, burst: 10 }, //     spec: handshake 5/min, burst 10
  heartbeat: { perMinute: 60, burst: 120 }, //   spec: heartbeat 60/min, burst 120
  task: { perMinute: 30, burst: 60 }, //         spec: task 30/min, burst 60
  discovery: { perMinute: 10, burst: 20 }, //    spec: discovery 10/min, burst 20
  chunk: { perMinute: 120, burst: 240 }, //      spec: chunk 120/min, burst 240
};

/**
 * Peers (keys) whose buckets are tracked at once; past it, a new key takes the slot of one
 * whose buckets are full (or closest to full). About 30 bytes per (peer, class) plus the key
 * string: 100k peers ≈ 15–20 MB. V8 Maps hold at most 2^24 entries, the upper bound.
 */
export const DEFAULT_MAX_TRACKED_PEERS = 100_000;
export const MAX_TRACKED_PEERS_LIMIT = 1 << 24;

/**
 * A peer whose buckets have all been full for this long is forgotten (its state is then the
 * same as a new peer's, so forgetting it loses nothing; the delay only saves re-creating the
 * entries of a peer that talks every few seconds).
 */
export const DEFAULT_IDLE_MS = 60_000;

/**
 * How a chunked message counts against the `chunk` class: once per message (its first chunk,
 * the default) or once per chunk. See docs/RATE_LIMITS.md: per chunk at the spec's 120/min
 * would cap a chunked transfer at 2 chunks/s (128 KiB/s with 64 KiB chunks), and a message of
 * more than 240 chunks (15 MiB) could never complete; chunks are bounded instead by the
 * reassembly limits (size, concurrency, memory, timeout).
 */
export type ChunkCounting = 'message' | 'chunk';
export const DEFAULT_CHUNK_COUNTING: ChunkCounting = 'message';

/** Slots examined to pick a victim when the table is full. */
export const EVICTION_SAMPLE = 8;
/** Slots the idle sweep examines each time a new peer is tracked. */
export const SWEEP_PER_INSERT = 2;
