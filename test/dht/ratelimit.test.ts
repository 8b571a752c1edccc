/** The DHT's per-prefix limiter: least-recently-used eviction at the cap, sweeping full buckets. */
import { describe, expect, it } from 'vitest';
import { TokenBucketLimiter } from '../../src/dht/ratelimit.js';

describe('TokenBucketLimiter', () => {
  it('evicts the least recently seen prefix at its cap, and keeps each burst', () => {
    const l = new TokenBucketLimiter(10, 2, 3);
    for (const k of ['a', 'b', 'c']) expect(l.allow(k, 0)).toBe(true);
    expect(l.allow('a', 0)).toBe(true); // a: burst of 2 used, now most recent
    expect(l.allow('a', 0)).toBe(false);
    expect(l.allow('d', 0)).toBe(true); // evicts b (least recent)
    expect(l.evicted).toBe(1);
    expect(l.allow('a', 0)).toBe(false); // a was kept, still empty
    expect(l.allow('c', 0)).toBe(true);
    expect(l.allow('c', 0)).toBe(false);
    expect(l.size).toBe(3);
  });

  it('sweeps the prefixes whose bucket is full again, and keeps working after', () => {
    const l = new TokenBucketLimiter(60, 1, 4);
    l.allow('a', 0);
    l.allow('b', 500);
    l.allow('c', 900);
    l.allow('d', 5000);
    l.sweep(2000); // a, b, c are full again (1 s interval)
    expect(l.size).toBe(1);
    expect(l.allow('d', 5100)).toBe(false);
    for (const k of ['e', 'f', 'g']) expect(l.allow(k, 5100)).toBe(true);
    expect(l.allow('h', 5100)).toBe(true); // evicts d, the least recent
    expect(l.allow('d', 5100)).toBe(true);
    expect(l.size).toBe(4);
  });

  it('grows from a small table to its cap keeping every source and its bucket, then evicts in LRU order', () => {
    const l = new TokenBucketLimiter(60, 2, 1000);
    const key = (i: number): string => `4/10.${i >> 8}.${i & 255}.1`;
    // Past several doublings: each source spends its burst of 2 at t = 0.
    for (let i = 0; i < 1000; i++) {
      expect(l.allow(key(i), 0)).toBe(true);
      expect(l.allow(key(i), 0)).toBe(true);
    }
    expect(l.size).toBe(1000);
    // Every one is still known after the re-indexing, with an empty bucket.
    for (let i = 0; i < 1000; i++) expect(l.allow(key(i), 0)).toBe(false);
    expect(l.evicted).toBe(0);
    // At the cap: a new source evicts the least recently seen (key 0, touched first above).
    expect(l.allow('4/192.0.2.1', 0)).toBe(true);
    expect(l.evicted).toBe(1);
    expect(l.size).toBe(1000);
    expect(l.allow(key(0), 0)).toBe(true); // forgotten: a fresh burst (evicts key 1)
    expect(l.allow(key(2), 0)).toBe(false);
    l.sweep(10_000); // every bucket is full again
    expect(l.size).toBe(0);
    expect(l.allow(key(5), 10_000)).toBe(true);
  });
});
