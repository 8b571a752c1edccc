/** Property tests: the token-bucket bound over any window, exact agreement with a textbook bucket. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RATE_CLASSES, RateLimiter, type RateClass } from '../../src/ratelimit/index.js';

const T0 = 1_790_000_000_000;

interface Allowed { t: number; cost: number }

/**
 * Whether the takes allowed (time-sorted) respect the token-bucket bound: in every window
 * [t_i, t_j], the tokens taken are at most burst + perMinute × (t_j − t_i) / 60000.
 */
function boundViolation(allowed: Allowed[], perMinute: number, burst: number): string | null {
  const prefix = [0];
  for (const a of allowed) prefix.push(prefix.at(-1)! + a.cost);
  for (let i = 0; i < allowed.length; i++) {
    for (let j = i; j < allowed.length; j++) {
      const taken = prefix[j + 1]! - prefix[i]!;
      const limit = burst + (perMinute * (allowed[j]!.t - allowed[i]!.t)) / 60_000;
      if (taken > limit + 1e-9 * Math.max(1, limit)) return `${taken} taken in [${allowed[i]!.t}, ${allowed[j]!.t}], limit ${limit}`;
    }
  }
  return null;
}

const limitArb = fc.record({
  perMinute: fc.oneof(
    fc.constantFrom(1, 5, 7, 10, 30, 60, 120, 600, 6_000, 60_000),
    fc.integer({ min: 1, max: 100_000 }),
    fc.double({ min: 0.01, max: 1e6, noNaN: true, noDefaultInfinity: true }),
  ),
  burst: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.double({ min: 1, max: 50, noNaN: true })),
});

const opArb = fc.record({
  dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3_000 }), fc.double({ min: 0, max: 20_000, noNaN: true })),
  cost: fc.constantFrom(1, 1, 1, 2, 3, 0.5),
  probe: fc.boolean(),
});

describe('RateLimiter properties', () => {
  it('allowed tokens in any window ≤ burst + rate × window; retry-after is the first whole ms that passes', () => {
    fc.assert(
      fc.property(limitArb, fc.constantFrom(...RATE_CLASSES), fc.array(opArb, { maxLength: 150 }), ({ perMinute, burst }, cls, ops) => {
        const rl = new RateLimiter({ classes: { [cls]: { perMinute, burst } } });
        const allowed: Allowed[] = [];
        let now = T0;
        for (const { dt, cost, probe } of ops) {
          now += dt;
          const retry = rl.take('p', cls, now, cost);
          if (retry === 0) {
            allowed.push({ t: now, cost });
            continue;
          }
          if (cost > burst) {
            expect(retry).toBe(Infinity);
            continue;
          }
          expect(Number.isInteger(retry) && retry >= 1).toBe(true);
          if (probe) {
            // A refusal changes nothing, so the same take a ms earlier is refused, then passes.
            if (retry > 1) expect(rl.take('p', cls, now + retry - 1, cost)).toBeGreaterThan(0);
            now += retry;
            expect(rl.take('p', cls, now, cost)).toBe(0);
            allowed.push({ t: now, cost });
          }
        }
        expect(boundViolation(allowed, perMinute, burst)).toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it('decides and answers exactly as a textbook token bucket in integer arithmetic (whole-ms intervals)', () => {
    const divisors = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 60, 120, 240, 600, 1_000, 6_000, 60_000];
    fc.assert(
      fc.property(
        fc.constantFrom(...divisors),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 30_000 }), cost: fc.integer({ min: 1, max: 4 }) }), { maxLength: 200 }),
        (perMinute, burst, ops) => {
          const rl = new RateLimiter({ classes: { task: { perMinute, burst } } });
          // Tokens scaled by 60000 so that refill (dt × perMinute) stays an integer.
          const cap = burst * 60_000;
          let scaled = cap;
          let now = T0;
          for (const { dt, cost } of ops) {
            now += dt;
            scaled = Math.min(cap, scaled + dt * perMinute);
            const need = cost * 60_000;
            const expected = cost > burst ? Infinity : scaled >= need ? 0 : Math.ceil((need - scaled) / perMinute);
            if (expected === 0) scaled -= need;
            expect(rl.take('p', 'task', now, cost)).toBe(expected);
            expect(rl.tokens('p', 'task', now)).toBe(scaled / 60_000);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('peers and classes are independent: interleaving changes nothing', () => {
    const keys = ['a', 'b', 'c'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ k: fc.constantFrom(...keys), cls: fc.constantFrom(...RATE_CLASSES), dt: fc.integer({ min: 0, max: 5_000 }) }), { maxLength: 300 }),
        (ops) => {
          const shared = new RateLimiter();
          const alone = new Map<string, RateLimiter>();
          let now = T0;
          for (const { k, cls, dt } of ops) {
            now += dt;
            const own = alone.get(`${k}/${cls}`) ?? new RateLimiter();
            alone.set(`${k}/${cls}`, own);
            expect(shared.take(k, cls, now)).toBe(own.take(k, cls, now));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("with whenFull 'refuse', the bound holds for every key however many keys cycle past the cap", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.record({ k: fc.integer({ min: 0, max: 30 }), dt: fc.integer({ min: 0, max: 1_500 }), cls: fc.constantFrom<RateClass>('heartbeat', 'task') }), { maxLength: 300 }),
        (cap, ops) => {
          const limits = { heartbeat: { perMinute: 60, burst: 2 }, task: { perMinute: 30, burst: 1 } };
          const rl = new RateLimiter({ classes: limits, maxTrackedPeers: cap, whenFull: 'refuse', idleMs: 0 });
          const allowed = new Map<string, Allowed[]>();
          let now = T0;
          for (const { k, dt, cls } of ops) {
            now += dt;
            if (rl.take(`k${k}`, cls, now) === 0) {
              const list = allowed.get(`${k}/${cls}`) ?? [];
              list.push({ t: now, cost: 1 });
              allowed.set(`${k}/${cls}`, list);
            }
            expect(rl.tracked).toBeLessThanOrEqual(cap);
          }
          for (const [id, list] of allowed) {
            const { perMinute, burst } = limits[id.split('/')[1] as 'heartbeat' | 'task'];
            expect(boundViolation(list, perMinute, burst)).toBeNull();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('PeerLimits.takeRun (a received run charged with one call)', () => {
  it('takes exactly what as many single take() calls would: same count, same buckets, same drops after', () => {
    fc.assert(
      fc.property(limitArb, fc.array(fc.record({ dt: fc.integer({ min: 0, max: 20_000 }), n: fc.integer({ min: 1, max: 300 }) }), { minLength: 1, maxLength: 30 }), (limit, runs) => {
        const opts = { classes: { task: limit } };
        const a = new RateLimiter(opts);
        const b = new RateLimiter(opts);
        const ha = a.peer('p');
        let now = T0;
        for (const { dt, n } of runs) {
          now += dt;
          let singles = 0;
          let retry = 0;
          while (singles < n && (retry = b.take('p', 'task', now)) === 0) singles++;
          const run = ha.takeRun('task', now, n);
          expect(run).toBe(singles);
          // The first refused (if any) goes through take(), as the receive side does: same answer, same drop.
          if (run < n) expect(ha.take('task', now)).toBe(retry);
          expect(a.tokens('p', 'task', now)).toBe(b.tokens('p', 'task', now));
          expect(a.stats()).toEqual(b.stats());
        }
      }),
      { numRuns: 200 },
    );
  });
});
