/** The replay guard: ±60 s, one use of a nonce per sender within 300 s, bounded memory that fails closed. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayGuard, NONCE_WINDOW_MS, TIMESTAMP_TOLERANCE_MS } from '../../src/compat/v1/replay.js';
import { ErrorCode } from '../../src/errors.js';
import { expectPeerError } from '../helpers/errors.js';

const T = 1_769_949_296_000;
const n = (i: number): string => i.toString(16).padStart(32, '0');

describe('ReplayGuard', () => {
  it('uses the v1.0 documents\' numbers', () => {
    expect(TIMESTAMP_TOLERANCE_MS).toBe(60_000);
    expect(NONCE_WINDOW_MS).toBe(300_000);
  });
  it('accepts timestamps within ±60 s and refuses the rest with REPLAY_DETECTED', () => {
    const g = new ReplayGuard();
    g.check('a', n(1), T - 60_000, T);
    g.check('a', n(2), T + 60_000, T);
    expectPeerError(() => g.check('a', n(3), T - 60_001, T), ErrorCode.REPLAY_DETECTED);
    expectPeerError(() => g.check('a', n(4), T + 60_001, T), ErrorCode.REPLAY_DETECTED);
    expectPeerError(() => g.check('a', n(5), NaN, T), ErrorCode.REPLAY_DETECTED);
    expect(g.size).toBe(2); // refused messages are not remembered
  });
  it('refuses a nonce seen from the same sender, not from another', () => {
    const g = new ReplayGuard();
    g.check('a', n(1), T, T);
    expectPeerError(() => g.check('a', n(1), T, T + 1000), ErrorCode.REPLAY_DETECTED);
    g.check('b', n(1), T, T + 1000);
  });
  it('forgets after 300 s, when the timestamp check refuses the replay anyway', () => {
    const g = new ReplayGuard();
    g.check('a', n(1), T, T);
    expectPeerError(() => g.check('a', n(1), T, T + 59_000), ErrorCode.REPLAY_DETECTED);
    g.prune(T + 300_000);
    expect(g.size).toBe(0);
    expectPeerError(() => g.check('a', n(1), T, T + 300_000), ErrorCode.REPLAY_DETECTED); // by time now
  });
  it('is bounded: a full cache of live nonces refuses (RATE_LIMITED) instead of forgetting one', () => {
    const g = new ReplayGuard({ maxNonces: 3 });
    for (let i = 0; i < 3; i++) g.check('a', n(i), T, T);
    const e = expectPeerError(() => g.check('a', n(9), T, T + 1), ErrorCode.RATE_LIMITED);
    expect(e.details?.retryAfter).toBe(299_999);
    expectPeerError(() => g.check('a', n(0), T, T + 1), ErrorCode.REPLAY_DETECTED); // still remembered
    g.check('a', n(9), T + 300_000, T + 300_000); // after expiry there is room
    expect(g.size).toBe(1);
  });
  it('a sender past its quota is refused alone; a full shared cache never refuses a pinned sender', () => {
    const g = new ReplayGuard({ maxNonces: 4, maxNoncesPerSender: 3 });
    for (let i = 0; i < 3; i++) g.check('flooder', n(i), T, T);
    expectPeerError(() => g.check('flooder', n(9), T, T), ErrorCode.RATE_LIMITED);
    g.check('other', n(0), T, T); // the shared cache (4) is now full
    expectPeerError(() => g.check('third', n(0), T, T), ErrorCode.RATE_LIMITED);
    for (let i = 0; i < 3; i++) g.check('pinned', n(i), T, T, true); // pinned: only its own quota
    expectPeerError(() => g.check('pinned', n(0), T, T, true), ErrorCode.REPLAY_DETECTED);
    expect(g.size).toBe(7);
    g.prune(T + 300_000);
    expect(g.size).toBe(0);
    g.check('flooder', n(0), T + 300_000, T + 300_000); // quotas freed with their entries
  });
  it('never holds more than maxNonces, and never accepts a nonce twice within the window', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 30_000 })), { maxLength: 300 }), (ops) => {
      const g = new ReplayGuard({ maxNonces: 8 });
      const accepted = new Map<number, number>();
      let now = T;
      for (const [nonce, dt] of ops) {
        now += dt;
        try {
          g.check('s', n(nonce), now, now);
          const prev = accepted.get(nonce);
          expect(prev === undefined || now - prev >= 300_000).toBe(true);
          accepted.set(nonce, now);
        } catch (err) {
          expect([ErrorCode.REPLAY_DETECTED, ErrorCode.RATE_LIMITED]).toContain((err as { code: string }).code);
        }
        expect(g.size).toBeLessThanOrEqual(8);
      }
    }));
  });
  it('refuses a nonce window shorter than the timestamp window (a replay would slip between them)', () => {
    expectPeerError(() => new ReplayGuard({ toleranceMs: 60_000, nonceWindowMs: 100_000 }), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => new ReplayGuard({ maxNonces: 0 }), ErrorCode.INVALID_ARGUMENT);
  });
});
