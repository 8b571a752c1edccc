/**
 * HmacSha256Key (src/crypto/hkdf.ts): HMAC-SHA256 from precomputed libsodium SHA-256 states
 * must equal node:crypto's HMAC for every key length (short, one block, longer than a block,
 * which RFC 2104 hashes first), for data given in parts, and HKDF-Expand across blocks; rekeying
 * and wiping leave nothing of the previous key behind.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmacSha256Key, hkdfExpand } from '../../src/crypto/index.js';

const nodeHmac = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => {
  const h = crypto.createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
};

describe('HmacSha256Key', () => {
  it('equals node:crypto HMAC for any key length and data split in up to three parts', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }),
      (key, a, b, c) => {
        const k = new HmacSha256Key(key);
        const out = Buffer.alloc(32);
        k.macInto(out, a, b, c);
        expect(out.equals(nodeHmac(key, a, b, c))).toBe(true);
        expect(k.mac(a).equals(nodeHmac(key, a))).toBe(true);
      },
    ), { numRuns: 300 });
  });

  it('expands like RFC 5869 HKDF-Expand over several blocks, also when rekeyed', () => {
    const k = new HmacSha256Key(crypto.randomBytes(32));
    for (const length of [0, 1, 8, 12, 31, 32, 33, 64, 65, 200]) {
      const prk = crypto.randomBytes(32);
      const info = crypto.randomBytes(length % 40);
      // T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i) with node:crypto's HMAC.
      let t = Buffer.alloc(0);
      const okm: Buffer[] = [];
      for (let i = 1; Buffer.concat(okm).length < length; i++) {
        t = nodeHmac(prk, t, info, Uint8Array.of(i));
        okm.push(t);
      }
      const want = Buffer.concat(okm).subarray(0, length);
      expect(k.setKey(prk).expand(info, length).equals(want)).toBe(true);
      expect(hkdfExpand(prk, info, length).equals(want)).toBe(true);
    }
  });

  it('after wipe() the key is gone: the same MAC no longer comes out', () => {
    const key = crypto.randomBytes(32);
    const data = Buffer.from('peer-v1.1 ready');
    const k = new HmacSha256Key(key);
    const before = k.mac(data);
    k.wipe();
    expect(k.mac(data).equals(before)).toBe(false);
    expect(k.setKey(key).mac(data).equals(before)).toBe(true);
  });
});
