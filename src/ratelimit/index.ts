/** Token-bucket rate limits per (peer, class), sans-I/O. See docs/RATE_LIMITS.md. */
export * from './constants.js';
export {
  RateLimiter, PeerLimits,
  type ClassLimit, type ClassLimits, type LevelLimits, type RateLimiterOptions, type RateLimiterStats,
} from './limiter.js';
