/** Rate limits off, for tests that measure volume rather than limits (the spec's defaults allow 60 tasks). */
import type { RateLimiterOptions } from '../../src/ratelimit/index.js';

export const NO_LIMITS: RateLimiterOptions = {
  classes: { handshake: 'unlimited', heartbeat: 'unlimited', task: 'unlimited', discovery: 'unlimited', chunk: 'unlimited' },
};
