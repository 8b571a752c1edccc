/** RateLimiter: the spec's buckets with exact arithmetic, configuration, tracking and eviction. */
import { describe, expect, it } from 'vitest';
import { PeerError } from '../../src/errors.js';
import {
  DEFAULT_RATE_LIMITS, PeerLimits, RATE_CLASSES, RATE_CLASS_INDEX, RateLimiter, type RateClass,
} from '../../src/ratelimit/index.js';
import { MESSAGE_TYPES, type RateClass as WireRateClass } from '../../src/wire/index.js';

/** A fixed, arbitrary start time (epoch ms), so nothing depends on starting at 0. */
const T0 = 1_790_000_000_000;

const SPEC: Record<RateClass, { perMinute: number; burst: number; interval: number }> = {
  handshake: { perMinute: 5, burst: 10, interval: 12_000 },
  heartbeat: { perMinute: 60, burst: 120, interval: 1_000 },
  task: { perMinute: 30, burst: 60, interval: 2_000 },
  discovery: { perMinute: 10, burst: 20, interval: 6_000 },
  chunk: { perMinute: 120, burst: 240, interval: 500 },
};

function thrown(fn: () => unknown): PeerError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PeerError);
    return e as PeerError;
  }
  throw new Error('expected a PeerError');
}

/** Takes until refused; returns how many were allowed and the first retry-after. */
function drain(rl: RateLimiter, key: string, cls: RateClass, now: number): { allowed: number; retry: number } {
  for (let allowed = 0; ; allowed++) {
    const retry = rl.take(key, cls, now);
    if (retry > 0) return { allowed, retry };
    if (allowed > 1e6) throw new Error('never refused');
  }
}

describe('the spec defaults', () => {
  it('are the constants, one per class, in the order of RATE_CLASS_INDEX', () => {
    for (const cls of RATE_CLASSES) {
      expect(DEFAULT_RATE_LIMITS[cls]).toEqual({ perMinute: SPEC[cls].perMinute, burst: SPEC[cls].burst });
      expect(RATE_CLASSES[RATE_CLASS_INDEX[cls]]).toBe(cls);
    }
  });

  it('cover every class of the message-type table (same union as wire.RateClass)', () => {
    const fromWire: WireRateClass = 'task';
    const here: RateClass = fromWire; // the two unions are assignable both ways
    const back: WireRateClass = here;
    expect(back).toBe('task');
    for (const { rateClass } of Object.values(MESSAGE_TYPES)) expect(RATE_CLASSES).toContain(rateClass);
  });

  for (const cls of RATE_CLASSES) {
    const { perMinute, burst, interval } = SPEC[cls];
    it(`${cls}: burst ${burst} at once, then one token every ${interval} ms (${perMinute}/min)`, () => {
      const rl = new RateLimiter();
      expect(rl.tokens('p', cls, T0)).toBe(burst);
      expect(drain(rl, 'p', cls, T0)).toEqual({ allowed: burst, retry: interval });
      expect(rl.tokens('p', cls, T0)).toBe(0);
      // Exactly one token `interval` later, not a millisecond before.
      expect(rl.take('p', cls, T0 + interval - 1)).toBe(1);
      expect(rl.tokens('p', cls, T0 + interval - 1)).toBeCloseTo(1 - 1 / interval, 12);
      expect(rl.take('p', cls, T0 + interval)).toBe(0);
      expect(rl.take('p', cls, T0 + interval)).toBe(interval);
      // Over a minute, perMinute more; a full refill takes burst × interval.
      expect(drain(rl, 'p', cls, T0 + interval + 60_000).allowed).toBe(perMinute);
      const full = T0 + interval + 60_000 + burst * interval;
      expect(rl.tokens('p', cls, full)).toBe(burst);
      expect(rl.tokens('p', cls, full + 3_600_000)).toBe(burst); // never above the burst
      expect(drain(rl, 'p', cls, full + 3_600_000).allowed).toBe(burst);
      expect(rl.stats().dropped[cls]).toBe(5);
    });
  }

  it('keeps classes and peers apart', () => {
    const rl = new RateLimiter();
    drain(rl, 'a', 'task', T0);
    expect(rl.take('a', 'heartbeat', T0)).toBe(0);
    expect(rl.take('b', 'task', T0)).toBe(0);
    expect(rl.tokens('a', 'chunk', T0)).toBe(240);
    expect(rl.tokens('b', 'task', T0)).toBe(59);
  });
});

describe('refill and retry-after', () => {
  it('refills continuously from timestamps, never beyond the burst', () => {
    const rl = new RateLimiter();
    drain(rl, 'p', 'task', T0); // 60 taken, 2000 ms per token
    expect(rl.tokens('p', 'task', T0 + 500)).toBe(0.25);
    expect(rl.take('p', 'task', T0 + 500)).toBe(1500);
    expect(rl.tokens('p', 'task', T0 + 7_000)).toBe(3.5);
    expect(drain(rl, 'p', 'task', T0 + 7_000)).toEqual({ allowed: 3, retry: 1000 });
    expect(rl.tokens('p', 'task', T0 + 7_000)).toBe(0.5);
  });

  it('gives the first whole ms at which the same take passes, for any cost', () => {
    const rl = new RateLimiter();
    for (let i = 0; i < 9; i++) rl.take('p', 'discovery', T0); // 11 of 20 left, 6000 ms per token
    expect(rl.take('p', 'discovery', T0, 12)).toBe(6000);
    expect(rl.take('p', 'discovery', T0, 20)).toBe(9 * 6000);
    expect(rl.take('p', 'discovery', T0 + 9 * 6000 - 1, 20)).toBe(1);
    expect(rl.take('p', 'discovery', T0 + 9 * 6000, 20)).toBe(0);
    expect(rl.tokens('p', 'discovery', T0 + 9 * 6000)).toBe(0);
  });

  it('rounds up to whole ms for fractional clocks and intervals, never early', () => {
    const rl = new RateLimiter({ classes: { task: { perMinute: 7, burst: 3 } } }); // 8571.43 ms per token
    const now = T0 + 0.25;
    drain(rl, 'p', 'task', now);
    const retry = rl.take('p', 'task', now);
    expect(retry).toBe(Math.ceil(60_000 / 7)); // 8572
    expect(rl.take('p', 'task', now + retry - 1)).toBe(1);
    expect(rl.take('p', 'task', now + retry)).toBe(0);
  });

  it('a refused take changes nothing', () => {
    const rl = new RateLimiter();
    drain(rl, 'p', 'chunk', T0);
    for (let i = 0; i < 1000; i++) expect(rl.take('p', 'chunk', T0 + i % 100)).toBeGreaterThan(0);
    expect(rl.take('p', 'chunk', T0 + 500)).toBe(0);
  });

  it('cost above the burst can never pass: Infinity from take(), INVALID_ARGUMENT from check()', () => {
    const rl = new RateLimiter();
    expect(rl.take('p', 'handshake', T0, 11)).toBe(Infinity);
    expect(thrown(() => rl.check('p', 'handshake', T0, 11)).code).toBe('INVALID_ARGUMENT');
    expect(rl.take('p', 'handshake', T0, 10)).toBe(0);
  });

  it('check() throws RATE_LIMITED with retryAfter and class', () => {
    const rl = new RateLimiter();
    for (let i = 0; i < 10; i++) rl.check('10.0.0.1', 'handshake', T0);
    const e = thrown(() => rl.check('10.0.0.1', 'handshake', T0 + 2_000));
    expect(e.code).toBe('RATE_LIMITED');
    expect(e.details).toEqual({ retryAfter: 10_000, class: 'handshake' });
    expect(rl.stats().dropped).toEqual({ handshake: 1, heartbeat: 0, task: 0, discovery: 0, chunk: 0 });
    expect(rl.stats().droppedTotal).toBe(1);
  });

  it('time going backwards never creates tokens', () => {
    const rl = new RateLimiter();
    drain(rl, 'p', 'task', T0);
    expect(rl.take('p', 'task', T0 - 10_000)).toBe(12_000);
    expect(rl.take('p', 'task', T0 + 2_000)).toBe(0);
  });
});

describe('configuration', () => {
  it('`classes` changes the default level; levels inherit the classes they do not set', () => {
    const rl = new RateLimiter({
      classes: { task: { perMinute: 600, burst: 5 } },
      levels: { trusted: { heartbeat: { perMinute: 6_000, burst: 1_000 } } },
    });
    expect(rl.limitOf('x', 'task')).toEqual({ perMinute: 600, burst: 5 });
    expect(rl.limitOf('x', 'heartbeat')).toEqual(DEFAULT_RATE_LIMITS.heartbeat);
    rl.setLevel('t', 'trusted');
    expect(rl.limitOf('t', 'heartbeat')).toEqual({ perMinute: 6_000, burst: 1_000 });
    expect(rl.limitOf('t', 'task')).toEqual({ perMinute: 600, burst: 5 });
    expect(drain(rl, 't', 'heartbeat', T0)).toEqual({ allowed: 1_000, retry: 10 });
    expect(drain(rl, 't', 'task', T0)).toEqual({ allowed: 5, retry: 100 });
    expect(drain(rl, 'x', 'heartbeat', T0)).toEqual({ allowed: 120, retry: 1_000 });
  });

  it("'unlimited' as a level, as a class of a level, and for one peer", () => {
    const rl = new RateLimiter({ levels: { internal: 'unlimited', bulk: { chunk: 'unlimited' } } });
    rl.setLevel('i', 'internal');
    rl.setLevel('b', 'bulk');
    rl.setLevel('u', 'unlimited'); // built-in level name
    for (let k = 0; k < 10_000; k++) {
      expect(rl.take('i', RATE_CLASSES[k % 5]!, T0)).toBe(0);
      expect(rl.take('b', 'chunk', T0, 1_000)).toBe(0);
      expect(rl.take('u', 'handshake', T0)).toBe(0);
    }
    expect(rl.tokens('i', 'task', T0)).toBe(Infinity);
    expect(rl.limitOf('b', 'chunk')).toBe('unlimited');
    expect(drain(rl, 'b', 'task', T0).allowed).toBe(60);
    expect(rl.stats().dropped.chunk).toBe(0);
  });

  it('a level can be given per peer with its own limits, replaced, and removed', () => {
    const rl = new RateLimiter();
    rl.setLevel('p', { task: { perMinute: 60_000, burst: 100 } });
    expect(rl.levelNameOf('p')).toBe('(own)');
    expect(drain(rl, 'p', 'task', T0)).toEqual({ allowed: 100, retry: 1 });
    rl.setLevel('p', { task: { perMinute: 60_000, burst: 200 } }, T0 + 50); // 50 tokens back; burst now 200
    expect(rl.tokens('p', 'task', T0 + 50)).toBe(50);
    expect(rl.tokens('p', 'task', T0 + 250)).toBe(200);
    rl.setLevel('p', null, T0 + 50);
    expect(rl.levelNameOf('p')).toBe('default');
    expect(rl.limitOf('p', 'task')).toEqual(DEFAULT_RATE_LIMITS.task);
    expect(rl.take('q', 'task', T0)).toBe(0);
  });

  it('a resolver gives the level of peers without an assignment, once per tracking', () => {
    const calls: string[] = [];
    const rl = new RateLimiter({
      levels: { trusted: { task: { perMinute: 60_000, burst: 1_000 } } },
      levelOf: (key) => {
        calls.push(key);
        return key.startsWith('trusted:') ? 'trusted' : undefined;
      },
    });
    expect(drain(rl, 'trusted:alice', 'task', T0).allowed).toBe(1_000);
    expect(drain(rl, 'mallory', 'task', T0).allowed).toBe(60);
    expect(calls).toEqual(['trusted:alice', 'mallory']);
    rl.setLevel('mallory', 'trusted', T0 + 60_000); // an assignment wins over the resolver
    expect(drain(rl, 'mallory', 'task', T0 + 60_000).allowed).toBe(30); // its 30 tokens kept
    expect(drain(rl, 'mallory', 'task', T0 + 61_000).allowed).toBe(1_000);
    expect(calls).toEqual(['trusted:alice', 'mallory']);
    const bad = new RateLimiter({ levelOf: () => 'nope' });
    expect(thrown(() => bad.take('x', 'task', T0)).code).toBe('INVALID_ARGUMENT');
  });

  it('refreshLevel() asks the resolver again for a tracked peer, keeping its tokens; assignments win', () => {
    const pinned = new Set<string>();
    const rl = new RateLimiter({
      levels: { trusted: { task: { perMinute: 60_000, burst: 1_000 } } },
      levelOf: (key) => (pinned.has(key) ? 'trusted' : undefined),
    });
    expect(drain(rl, 'bob', 'task', T0).allowed).toBe(60);
    pinned.add('bob');
    expect(rl.take('bob', 'task', T0)).toBeGreaterThan(0); // resolved when tracked: still default
    rl.refreshLevel('bob', T0);
    expect(rl.levelNameOf('bob')).toBe('trusted');
    expect(rl.tokens('bob', 'task', T0)).toBe(0); // no fresh burst from the change itself
    expect(drain(rl, 'bob', 'task', T0 + 1_000).allowed).toBe(1_000); // refills at the new rate
    pinned.delete('bob');
    rl.refreshLevel('bob', T0 + 1_000);
    expect(rl.limitOf('bob', 'task')).toEqual({ perMinute: 30, burst: 60 });
    rl.setLevel('carol', 'unlimited');
    rl.take('carol', 'task', T0);
    pinned.add('carol');
    rl.refreshLevel('carol', T0);
    expect(rl.levelNameOf('carol')).toBe('unlimited');
    rl.refreshLevel('nobody', T0); // untracked: nothing to do, nothing tracked
    expect(rl.stats().tracked).toBe(2);
  });

  it('a level change (setLevel, or redefining the level) keeps each bucket\'s tokens, capped at the new burst', () => {
    const rl = new RateLimiter({ levels: { gold: { task: { perMinute: 60, burst: 10 } }, tiny: { task: { perMinute: 1, burst: 3 } } } });
    rl.setLevel('g', 'gold');
    for (let i = 0; i < 4; i++) rl.take('g', 'task', T0);
    expect(rl.tokens('g', 'task', T0)).toBe(6);
    rl.defineLevel('gold', { task: { perMinute: 600, burst: 100 } }, T0);
    expect(rl.limitOf('g', 'task')).toEqual({ perMinute: 600, burst: 100 });
    expect(rl.tokens('g', 'task', T0)).toBe(6);
    expect(rl.tokens('g', 'task', T0 + 1_000)).toBe(16); // refills at the new rate
    rl.setLevel('g', null, T0 + 1_000); // default task: 30/min, burst 60
    expect(rl.tokens('g', 'task', T0 + 1_000)).toBe(16);
    rl.setLevel('g', 'tiny', T0 + 1_000);
    expect(rl.tokens('g', 'task', T0 + 1_000)).toBe(3);
    rl.setLevel('g', 'unlimited', T0 + 1_000);
    rl.setLevel('g', 'gold', T0 + 1_000); // from unlimited: full
    expect(rl.tokens('g', 'task', T0 + 1_000)).toBe(100);
    // Without `now`, a tracked peer's buckets start full under the new level.
    drain(rl, 'g', 'task', T0 + 1_000);
    rl.setLevel('g', 'tiny');
    expect(rl.tokens('g', 'task', T0 + 1_000)).toBe(3);
  });

  it('refuses invalid configuration and arguments with INVALID_ARGUMENT', () => {
    const bad: unknown[] = [
      { classes: { task: { perMinute: 0, burst: 1 } } },
      { classes: { task: { perMinute: 1, burst: 0.5 } } },
      { classes: { task: { perMinute: Infinity, burst: 1 } } },
      { classes: { gossip: { perMinute: 1, burst: 1 } } },
      { levels: { x: { task: 'lots' } } },
      { levels: { x: 7 } },
      { levels: { unlimited: { task: { perMinute: 1, burst: 1 } } } },
      { maxTrackedPeers: 0 },
      { maxTrackedPeers: 2 ** 24 + 1 },
      { idleMs: -1 },
      { chunkCounting: 'byte' },
      { whenFull: 'panic' },
    ];
    for (const opts of bad) {
      expect(thrown(() => new RateLimiter(opts as never)).code, JSON.stringify(opts)).toBe('INVALID_ARGUMENT');
    }
    const rl = new RateLimiter();
    expect(thrown(() => rl.take('p', 'gossip' as RateClass, T0)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => rl.setLevel('p', 'platinum')).code).toBe('INVALID_ARGUMENT');
    drain(rl, 'p', 'task', T0);
    expect(thrown(() => rl.take('p', 'task', Number.NaN)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => rl.take('p', 'task', T0, Number.NaN)).code).toBe('INVALID_ARGUMENT');
  });
});

describe('chunked messages', () => {
  it("'message' (default): a chunked message costs one `chunk` token, on chunk 0", () => {
    const rl = new RateLimiter();
    expect(rl.chunkCounting).toBe('message');
    let refused = 0;
    for (let m = 0; m < 240; m++) {
      for (let i = 0; i < 1024; i++) refused += rl.takeChunk('p', i, T0) > 0 ? 1 : 0; // 64 MiB messages
    }
    expect(refused).toBe(0);
    expect(rl.takeChunk('p', 0, T0)).toBe(500);
    expect(rl.takeChunk('p', 1, T0)).toBe(0);
  });

  it("'chunk': every chunk costs one token", () => {
    const rl = new RateLimiter({ chunkCounting: 'chunk' });
    for (let i = 0; i < 240; i++) expect(rl.takeChunk('p', i, T0)).toBe(0);
    expect(rl.takeChunk('p', 240, T0)).toBe(500);
    expect(rl.stats().dropped.chunk).toBe(1);
  });
});

describe('tracking, idle eviction and the memory cap', () => {
  it('creates buckets lazily, on the first take', () => {
    const rl = new RateLimiter();
    expect(rl.tracked).toBe(0);
    expect(rl.tokens('p', 'task', T0)).toBe(60);
    expect(rl.limitOf('p', 'task')).toEqual(DEFAULT_RATE_LIMITS.task);
    expect(rl.has('p')).toBe(false);
    rl.take('p', 'task', T0);
    expect(rl.has('p')).toBe(true);
    expect(rl.tracked).toBe(1);
    expect(rl.forget('p')).toBe(true);
    expect(rl.forget('p')).toBe(false);
    expect(rl.tokens('p', 'task', T0)).toBe(60);
  });

  it('keeps every bucket through growth past the initial arrays', () => {
    const rl = new RateLimiter();
    for (let i = 0; i < 5_000; i++) expect(rl.take(`p${i}`, RATE_CLASSES[i % 5]!, T0, 1 + (i % 7))).toBe(0);
    expect(rl.tracked).toBe(5_000);
    for (let i = 0; i < 5_000; i++) {
      const cls = RATE_CLASSES[i % 5]!;
      expect(rl.tokens(`p${i}`, cls, T0)).toBe(SPEC[cls].burst - 1 - (i % 7));
    }
  });

  it('forgets a peer idleMs after all its buckets are full again, not before', () => {
    const rl = new RateLimiter({ idleMs: 30_000 });
    rl.take('p', 'task', T0); // task full again at T0 + 2000
    rl.take('p', 'heartbeat', T0 + 5_000); // heartbeat full again at T0 + 6000
    expect(rl.sweep(T0 + 6_000 + 30_000 - 1)).toBe(0);
    expect(rl.has('p')).toBe(true);
    expect(rl.sweep(T0 + 6_000 + 30_000)).toBe(1);
    expect(rl.has('p')).toBe(false);
    expect(rl.stats().evictedIdle).toBe(1);
  });

  it('sweeps a few slots whenever a new peer is tracked, so idle peers go without sweep()', () => {
    const rl = new RateLimiter({ idleMs: 0 });
    for (let i = 0; i < 1_000; i++) rl.take(`old${i}`, 'heartbeat', T0);
    for (let i = 0; i < 1_000; i++) rl.take(`new${i}`, 'heartbeat', T0 + 1_000);
    expect(rl.tracked).toBeLessThanOrEqual(1_000);
    expect(rl.stats().evictedIdle).toBeGreaterThanOrEqual(1_000);
  });

  it('an evicted peer keeps its level assignment', () => {
    const rl = new RateLimiter({ idleMs: 0 });
    rl.setLevel('t', 'unlimited');
    rl.take('t', 'task', T0);
    rl.sweep(T0 + 1);
    expect(rl.has('t')).toBe(false);
    expect(rl.take('t', 'task', T0 + 1, 1e6)).toBe(0);
  });

  it('never tracks more than maxTrackedPeers under a flood of distinct keys, and evicts the slots closest to full', () => {
    const cap = 1_000;
    const rl = new RateLimiter({ maxTrackedPeers: cap });
    let now = T0;
    let n = 0;
    const flood = (keys: number, msPerKey: number) => {
      for (let k = 0; k < keys; k++, n++) {
        rl.take(`flood${n}`, 'heartbeat', now); // one heartbeat: full again 1 s later
        now += msPerKey;
        if (rl.tracked > cap) throw new Error(`tracked ${rl.tracked} > ${cap}`);
      }
    };
    // Legitimate peers with long-lasting deficits (task buckets full again in 120 s), among the
    // first thousand keys.
    for (let i = 0; i < 10; i++) {
      flood(99, 0);
      drain(rl, `legit${i}`, 'task', T0);
    }
    // 100 new keys per ms: no slot is full yet, the victim is the one that will be soonest.
    flood(49_000, 0.01);
    let s = rl.stats();
    expect(s.tracked).toBe(cap);
    expect(s.evictedActive).toBe(50_000 - cap);
    // The drained peers, far from full, were never chosen: their buckets are intact.
    for (let i = 0; i < 10; i++) {
      expect(rl.has(`legit${i}`)).toBe(true);
      expect(rl.tokens(`legit${i}`, 'task', now)).toBeCloseTo((now - T0) / 2_000, 9);
    }
    // One new key per 10 ms: the examined slots are full by then, and go without loss.
    flood(20_000, 10);
    s = rl.stats();
    expect(s.tracked).toBe(cap);
    expect(s.evictedFull).toBeGreaterThan(19_000);
    expect(s.evictedFull + s.evictedActive + s.evictedIdle).toBe(70_000 - cap);
    for (let i = 0; i < 10; i++) expect(rl.tokens(`legit${i}`, 'task', now)).toBe(60);
  });

  it("'refuse': at the cap, with no bucket full, a new peer is refused (and counted) rather than evicting", () => {
    const rl = new RateLimiter({ maxTrackedPeers: 100, whenFull: 'refuse' });
    for (let i = 0; i < 100; i++) expect(rl.take(`a${i}`, 'handshake', T0)).toBe(0); // full again at +12 s
    for (let i = 0; i < 1_000; i++) {
      const retry = rl.take(`b${i}`, 'handshake', T0 + 1_000);
      expect(retry).toBe(11_000);
    }
    expect(rl.tracked).toBe(100);
    expect(rl.stats()).toMatchObject({ refusedAtCap: 1_000, evictedActive: 0, dropped: { handshake: 1_000 } });
    for (let i = 0; i < 100; i++) expect(rl.tokens(`a${i}`, 'handshake', T0 + 1_000)).toBeCloseTo(9 + 1 / 12, 9);
    // Once buckets are full again, their slots are taken over.
    expect(rl.take('late', 'handshake', T0 + 12_000)).toBe(0);
    expect(rl.stats().evictedFull).toBe(1);
    expect(rl.tracked).toBe(100);
  });
});

describe('PeerLimits handles (limiter.peer(key))', () => {
  it('take, check, takeChunk and tokens through a handle are the same buckets as by key', () => {
    const rl = new RateLimiter();
    const p = rl.peer('p');
    expect(p).toBeInstanceOf(PeerLimits);
    expect(rl.has('p')).toBe(false); // a handle tracks nothing by itself
    for (let i = 0; i < 30; i++) {
      expect(p.take('task', T0)).toBe(0);
      expect(rl.take('p', 'task', T0)).toBe(0);
    }
    expect(p.take('task', T0)).toBe(2_000);
    expect(rl.tokens('p', 'task', T0)).toBe(0);
    expect(p.tokens('task', T0 + 3_000)).toBe(1.5);
    const e = thrown(() => p.check('task', T0 + 1_000));
    expect(e.details).toEqual({ retryAfter: 1_000, class: 'task' });
    expect(p.takeChunk(5, T0)).toBe(0);
    expect(p.takeChunk(0, T0)).toBe(0);
    expect(rl.tokens('p', 'chunk', T0)).toBe(239);
    expect(rl.stats().dropped.task).toBe(2);
  });

  it('notices when its peer was evicted (and its slot reused) and looks the key up again', () => {
    const rl = new RateLimiter({ maxTrackedPeers: 2, idleMs: 0 });
    const a = rl.peer('a');
    drain(rl, 'a', 'task', T0);
    expect(a.take('task', T0)).toBe(2_000);
    rl.forget('a');
    rl.take('b', 'task', T0); // b takes a's old slot
    expect(a.take('task', T0)).toBe(0); // a is tracked afresh, not charged to b
    expect(rl.tokens('b', 'task', T0)).toBe(59);
    expect(rl.tokens('a', 'task', T0)).toBe(59);
    // Evicted at the cap while full, then re-tracked elsewhere by key: the handle follows.
    rl.take('c', 'task', T0 + 200_000);
    rl.take('d', 'task', T0 + 200_000);
    rl.take('a', 'heartbeat', T0 + 200_000);
    expect(a.take('heartbeat', T0 + 200_000)).toBe(0);
    expect(rl.tokens('a', 'heartbeat', T0 + 200_000)).toBe(118);
    expect(rl.tracked).toBeLessThanOrEqual(2);
  });

  it('refuses a handle from another limiter', () => {
    const one = new RateLimiter();
    const two = new RateLimiter();
    const h = one.peer('p');
    h.take('task', T0);
    expect(thrown(() => two.takeRef(h, 'task', T0)).code).toBe('INVALID_ARGUMENT');
  });

  it("is refused like take() at the cap under 'refuse'", () => {
    const rl = new RateLimiter({ maxTrackedPeers: 1, whenFull: 'refuse' });
    rl.take('a', 'handshake', T0);
    const b = rl.peer('b');
    expect(b.take('handshake', T0)).toBe(12_000);
    expect(b.take('handshake', T0 + 12_000)).toBe(0);
    expect(rl.has('a')).toBe(false);
  });
});
