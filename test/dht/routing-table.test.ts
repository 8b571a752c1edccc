/** k-buckets: least-recently-seen order, full buckets, failures, closest contacts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeAddress } from '../../src/dht/address.js';
import { commonPrefixLength, compareDistance, idHex, randomIdInBucket } from '../../src/dht/id.js';
import { RoutingTable } from '../../src/dht/routing-table.js';
import { SeededRandom } from '../../src/dht/random.js';

const rnd = new SeededRandom(42);
const self = rnd.bytes(32);
const addr = (i: number): Uint8Array => encodeAddress(`10.0.${i >> 8}.${i & 255}:4000`);
const inBucket = (b: number): Uint8Array => randomIdInBucket(self, b, rnd.bytes(32));

describe('k-bucket', () => {
  it('keeps contacts least recently seen first and moves a contact heard from to the end', () => {
    const t = new RoutingTable(self, 4, 2);
    const ids = [0, 1, 2].map(() => inBucket(0));
    ids.forEach((id, i) => expect(t.touch(id, addr(i), 1000)).toBe('added'));
    expect(t.bucket(0)!.indexOf(ids[0]!)).toBe(0);
    expect(t.touch(ids[0]!, addr(0), 2000)).toBe('updated');
    expect([0, 1, 2].map((i) => t.bucket(0)!.indexOf(ids[i]!))).toEqual([2, 0, 1]);
    expect(t.size).toBe(3);
  });

  it('reports a full bucket instead of evicting anyone (the caller pings the oldest)', () => {
    const t = new RoutingTable(self, 2, 2);
    const [a, b, c] = [inBucket(3), inBucket(3), inBucket(3)];
    t.touch(a!, addr(1), 0);
    t.touch(b!, addr(2), 0);
    expect(t.touch(c!, addr(3), 0)).toBe('full');
    expect(t.has(a!) && t.has(b!) && !t.has(c!)).toBe(true);
  });

  it('lets a newcomer replace a contact that has failed, and drops one after maxFailures', () => {
    const t = new RoutingTable(self, 2, 2);
    const [a, b, c] = [inBucket(1), inBucket(1), inBucket(1)];
    t.touch(a!, addr(1), 0);
    t.touch(b!, addr(2), 0);
    expect(t.failed(b!)).toBe(false);
    expect(t.touch(c!, addr(3), 0)).toBe('replaced');
    expect(t.has(b!)).toBe(false);
    expect(t.failed(a!)).toBe(false);
    expect(t.failed(a!)).toBe(true);
    expect(t.has(a!)).toBe(false);
    expect(t.size).toBe(1);
  });

  it('moves a contact to a new address only on a proof (touch), never on an unproven message (refresh)', () => {
    const t = new RoutingTable(self, 2, 3);
    const a = inBucket(2);
    t.touch(a, addr(1), 0);
    expect(t.refresh(a, addr(9), 0)).toBe(false);
    expect(t.contacts()[0]!.address).toBe('10.0.0.1:4000');
    expect(t.refresh(a, addr(1), 0)).toBe(true);
    expect(t.refresh(inBucket(2), addr(1), 0)).toBe(false);
    expect(t.touch(a, addr(9), 0)).toBe('updated');
    expect(t.contacts()[0]!.address).toBe('10.0.0.9:4000');
  });

  it('holds at most maxPerPrefix contacts of one subnet per bucket and per k-closest set', () => {
    const t = new RoutingTable(self, 20, 2, 2);
    const sameHost = (i: number): Uint8Array => encodeAddress(`10.66.0.${i + 1}:4000`);
    const results = Array.from({ length: 5 }, (_, i) => t.touch(inBucket(0), sameHost(i), 0));
    expect(results).toEqual(['added', 'added', 'subnet-full', 'subnet-full', 'subnet-full']);
    expect(t.admits(inBucket(0), sameHost(9), 0, 60_000)).toBe(false);
    expect(t.admits(inBucket(0), addr(9), 0, 60_000)).toBe(true);
    // Two in each of ten buckets: twenty of one /24, but any k closest hold two of them.
    for (let b = 1; b < 10; b++) for (let i = 0; i < 2; i++) expect(t.touch(inBucket(b), encodeAddress(`10.66.0.${10 * b + i}:4000`), 0)).toBe('added');
    for (let i = 0; i < 10; i++) t.touch(inBucket(1 + (i % 5)), encodeAddress(`10.${100 + i}.0.1:4000`), 0);
    const closest = t.closest(inBucket(9), 20);
    expect(closest.filter((c) => c.address.startsWith('10.66.0.'))).toHaveLength(2);
    expect(closest).toHaveLength(12);
  });

  it('never stores itself', () => {
    expect(new RoutingTable(self, 2, 2).touch(self, addr(1), 0)).toBe('self');
  });

  it('keeps a smoothed RTT per contact', () => {
    const t = new RoutingTable(self, 2, 2);
    const a = inBucket(5);
    t.touch(a, addr(1), 0, 100);
    expect(t.rtt(a)).toEqual([100, 50]);
    t.touch(a, addr(1), 0, 20);
    expect(t.rtt(a)).toEqual([90, 58]);
  });
});

describe('routing table closest()', () => {
  it('returns the n closest contacts in order, as a full sort would', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 30 }), fc.integer(), (count, n, seed) => {
      const r = new SeededRandom(seed);
      const t = new RoutingTable(self, 8, 2);
      for (let i = 0; i < count; i++) {
        // Mostly far ids, some deep ones, as in a real table.
        const b = Math.min(255, Math.floor(-Math.log2(1 - r.float())));
        t.touch(randomIdInBucket(self, b, r.bytes(32)), addr(i), 0);
      }
      const target = r.float() < 0.3 ? randomIdInBucket(self, r.u32() % 12, r.bytes(32)) : r.bytes(32);
      const all = t.contacts().sort((x, y) => compareDistance(x.id, y.id, target));
      expect(t.closest(target, n).map((c) => idHex(c.id))).toEqual(all.slice(0, n).map((c) => idHex(c.id)));
      const unsorted = t.closestRefs(target, n, undefined, false).map((ref) => idHex(t.contact(ref).id)).sort();
      expect(unsorted).toEqual(all.slice(0, n).map((c) => idHex(c.id)).sort());
    }), { numRuns: 200 });
  });

  it('puts every contact in the bucket of its shared prefix length', () => {
    const t = new RoutingTable(self, 20, 2);
    for (let i = 0; i < 300; i++) t.touch(rnd.bytes(32), addr(i), 0);
    t.buckets.forEach((b, i) => {
      if (b) for (let s = 0; s < b.count; s++) expect(commonPrefixLength(self, b.id(s))).toBe(i);
    });
    expect(t.deepest()).toBeGreaterThan(3);
  });
});
