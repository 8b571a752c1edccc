/** PeerLimits: a handle on one peer's buckets that skips the limiter's lookup by key. */
import type { RateClass } from './constants.js';
import { throwIfLimited } from './errors.js';
import type { RateLimiter } from './limiter.js';

/**
 * One peer's buckets, from RateLimiter.peer(key): the same take/check/takeChunk as the limiter
 * without the lookup by key. Keep one per peer (e.g. on its session), not one per message.
 */
export class PeerLimits {
  /** @internal The slot last resolved (-1: not yet) and its generation then. */
  slot = -1;
  /** @internal */
  gen = 0;

  constructor(readonly owner: RateLimiter, readonly key: string) {}

  take(cls: RateClass, now: number, cost = 1): number {
    return this.owner.takeRef(this, cls, now, cost);
  }

  /** Up to `count` single-token takes at `now`, as many take() calls would; returns how many were taken. */
  takeRun(cls: RateClass, now: number, count: number): number {
    return this.owner.takeRunRef(this, cls, now, count);
  }

  check(cls: RateClass, now: number, cost = 1): void {
    throwIfLimited(this.owner.takeRef(this, cls, now, cost), cls, cost);
  }

  takeChunk(chunkIndex: number, now: number): number {
    if (chunkIndex !== 0 && this.owner.chunkCounting === 'message') return 0;
    return this.owner.takeRef(this, 'chunk', now, 1);
  }

  tokens(cls: RateClass, now: number): number {
    return this.owner.tokens(this.key, cls, now);
  }
}
