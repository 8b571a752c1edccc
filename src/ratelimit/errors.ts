/** The PeerErrors the rate limiter throws: invalid arguments, and check()'s refusal. */
import { ErrorCode, PeerError } from '../errors.js';
import type { RateClass } from './constants.js';

export function invalid(message: string, details?: Record<string, unknown>): PeerError {
  return new PeerError(ErrorCode.INVALID_ARGUMENT, message, details);
}

/** check() on take()'s answer: RATE_LIMITED with { retryAfter, class }, or INVALID_ARGUMENT when never allowed. */
export function throwIfLimited(retryAfter: number, cls: RateClass, cost: number): void {
  if (retryAfter === 0) return;
  if (retryAfter === Infinity) {
    throw invalid(`cost ${cost} exceeds the ${cls} burst for this peer: it can never be allowed`, { class: cls, cost });
  }
  throw new PeerError(ErrorCode.RATE_LIMITED, `${cls} rate limit: retry after ${retryAfter} ms`, { retryAfter, class: cls });
}
