/** Token-bucket rate limits per (peer, class), sans-I/O. See docs/RATE_LIMITS.md. */
export * from './constants.js';
export { PeerLimits } from './handle.js';
export { type ClassLimit, type ClassLimits, type LevelLimits } from './levels.js';
export { RateLimiter, type RateLimiterOptions, type RateLimiterStats } from './limiter.js';
