/**
 * The discovery limit of the spec (10 per minute, burst 20) per source address, applied to
 * FIND_NODE, FIND_VALUE and STORE (PING is free: it is what keeps routing tables honest).
 * Behind a two-method interface so src/ratelimit's limiter can replace it.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { DISCOVERY_BURST, DISCOVERY_PER_MINUTE, MAX_LIMITER_SOURCES } from './constants.js';

export interface DhtRateLimiter {
  /** True if `source` may make one more request at `now` (and charges it). */
  allow(source: string, now: number): boolean;
  /** Forgets sources whose bucket is full again (called periodically). */
  sweep(now: number): void;
}

/**
 * A token bucket per source as one number: GCRA's theoretical arrival time (the moment the
 * bucket is full again). A source whose time has passed is equivalent to an unknown one, which
 * is what makes forgetting it safe.
 */
export class TokenBucketLimiter implements DhtRateLimiter {
  private readonly tat = new Map<string, number>();
  private readonly interval: number;
  private readonly tolerance: number;
  dropped = 0;

  constructor(perMinute = DISCOVERY_PER_MINUTE, burst = DISCOVERY_BURST, private readonly maxSources = MAX_LIMITER_SOURCES) {
    if (!(perMinute > 0) || !(burst >= 1) || !(maxSources >= 1)) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'rate limit needs perMinute > 0, burst ≥ 1, maxSources ≥ 1');
    }
    this.interval = 60_000 / perMinute;
    this.tolerance = burst * this.interval;
  }

  get size(): number {
    return this.tat.size;
  }

  allow(source: string, now: number): boolean {
    const prev = this.tat.get(source);
    const due = Math.max(0, (prev ?? now) - now) + this.interval;
    if (due > this.tolerance) {
      this.dropped++;
      return false;
    }
    if (prev === undefined && this.tat.size >= this.maxSources) {
      this.sweep(now);
      // Still full: the oldest-inserted source is forgotten (it restarts with a full burst).
      if (this.tat.size >= this.maxSources) this.tat.delete(this.tat.keys().next().value as string);
    }
    this.tat.set(source, now + due);
    return true;
  }

  sweep(now: number): void {
    for (const [k, t] of this.tat) if (t <= now) this.tat.delete(k);
  }
}
