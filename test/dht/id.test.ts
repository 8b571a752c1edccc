/** Node ids and the XOR metric. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { commonPrefixLength, compareDistance, idHex, nodeIdOf, randomIdInBucket } from '../../src/dht/id.js';
import { expectPeerError } from '../helpers/errors.js';

const id = fc.uint8Array({ minLength: 32, maxLength: 32 });
const big = (a: Uint8Array): bigint => BigInt(`0x${idHex(a)}`);
const dist = (a: Uint8Array, b: Uint8Array): bigint => big(a) ^ big(b);

describe('node id', () => {
  it('is SHA-256 of the Ed25519 public key', () => {
    const pk = new Uint8Array(32).fill(7);
    expect(idHex(nodeIdOf(pk))).toBe(sha256(pk).toString('hex'));
  });
  it('refuses a key that is not 32 bytes', () => {
    expectPeerError(() => nodeIdOf(new Uint8Array(31)), ErrorCode.INVALID_KEY);
  });
});

describe('XOR metric', () => {
  it('orders by the 256-bit XOR distance (against BigInt arithmetic)', () => {
    fc.assert(fc.property(id, id, id, (a, b, t) => {
      const want = dist(a, t) < dist(b, t) ? -1 : dist(a, t) > dist(b, t) ? 1 : 0;
      expect(Math.sign(compareDistance(a, b, t))).toBe(want);
    }));
  });
  it('is a metric: d(a,a) = 0, symmetric, and d(a,b) xor d(b,c) = d(a,c)', () => {
    fc.assert(fc.property(id, id, id, (a, b, c) => {
      expect(dist(a, a)).toBe(0n);
      expect(dist(a, b)).toBe(dist(b, a));
      expect(dist(a, b) ^ dist(b, c)).toBe(dist(a, c));
      expect(dist(a, c) <= dist(a, b) + dist(b, c)).toBe(true);
    }));
  });
  it('compares ids stored at offsets in larger buffers', () => {
    fc.assert(fc.property(id, id, id, fc.nat(40), fc.nat(40), (a, b, t, ao, bo) => {
      const A = new Uint8Array(ao + 32);
      A.set(a, ao);
      const B = new Uint8Array(bo + 32);
      B.set(b, bo);
      expect(Math.sign(compareDistance(A, B, t, ao, bo))).toBe(Math.sign(compareDistance(a, b, t)));
    }));
  });
  it('gives the shared prefix length (the bucket index)', () => {
    fc.assert(fc.property(id, id, (a, b) => {
      const d = dist(a, b);
      expect(commonPrefixLength(a, b)).toBe(d === 0n ? 256 : 256 - d.toString(2).length);
    }));
  });
  it('draws random ids inside a given bucket', () => {
    fc.assert(fc.property(id, id, fc.integer({ min: 0, max: 255 }), (self, rnd, bucket) => {
      expect(commonPrefixLength(self, randomIdInBucket(self, bucket, rnd))).toBe(bucket);
    }));
    expectPeerError(() => randomIdInBucket(new Uint8Array(32), 256, new Uint8Array(32)), ErrorCode.INVALID_ARGUMENT);
  });
});
