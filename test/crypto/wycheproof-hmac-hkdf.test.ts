/** Project Wycheproof HMAC-SHA256 (MacTest) and HKDF-SHA256 (HkdfTest) vectors. */
import { describe, expect, it } from 'vitest';
import { ErrorCode, hkdf, hkdfExpand, hkdfExtract, hmacSha256, hmacSha256Verify } from '../../src/index.js';
import { expectPeerError } from '../helpers/errors.js';
import {
  type HkdfGroup, type HkdfTest, type MacGroup, type MacTest,
  eachTest, hex, label, loadWycheproof, toHex,
} from '../helpers/wycheproof.js';

describe('Wycheproof HMAC-SHA256', () => {
  const data = loadWycheproof<MacGroup>('hmac_sha256_test.json', 'HMACSHA256');
  const vectors = [...eachTest<MacTest, MacGroup>(data)];

  it('groups are the full (256-bit) and truncated (128-bit) tag sizes, with matching tags', () => {
    const sizes = new Set(data.testGroups.map((g) => g.tagSize));
    expect([...sizes].sort()).toEqual([128, 256]);
    for (const { group, test: t } of vectors) {
      expect(hex(t.tag).length * 8, label(t)).toBe(group.tagSize);
      expect(hex(t.key).length * 8, label(t)).toBe(group.keySize);
    }
  });

  it('valid tags verify, and hmacSha256 gives them (whole, or as its leading bytes)', () => {
    let full = 0;
    let truncated = 0;
    for (const { group, test: t } of vectors.filter(({ test }) => test.result === 'valid')) {
      const mac = toHex(hmacSha256(hex(t.key), hex(t.msg)));
      if (group.tagSize === 256) {
        expect(mac, label(t)).toBe(t.tag);
        full++;
      } else {
        expect(mac.slice(0, t.tag.length), label(t)).toBe(t.tag);
        truncated++;
      }
      expect(() => hmacSha256Verify(hex(t.key), hex(t.msg), hex(t.tag)), label(t)).not.toThrow();
    }
    expect(full).toBeGreaterThan(30);
    expect(full).toBe(33);
    expect(truncated).toBe(33);
  });

  it('invalid (modified) tags throw INVALID_SIGNATURE and differ from hmacSha256', () => {
    let count = 0;
    for (const { test: t } of vectors.filter(({ test }) => test.result !== 'valid')) {
      expect(t.result, label(t)).toBe('invalid');
      expect(t.flags, label(t)).toEqual(['ModifiedTag']);
      expectPeerError(() => hmacSha256Verify(hex(t.key), hex(t.msg), hex(t.tag)), ErrorCode.INVALID_SIGNATURE, label(t));
      expect(toHex(hmacSha256(hex(t.key), hex(t.msg))).slice(0, t.tag.length), label(t)).not.toBe(t.tag);
      count++;
    }
    expect(count).toBeGreaterThan(100);
    expect(count).toBe(108);
    expect(count + 66).toBe(data.numberOfTests);
  });

  it('valid tags cut below 16 bytes, or extended past 32, throw INVALID_SIGNATURE', () => {
    let count = 0;
    for (const { test: t } of vectors.filter(({ test }) => test.result === 'valid')) {
      const tag = hex(t.tag);
      for (const size of [0, 1, 8, 15]) {
        expectPeerError(() => hmacSha256Verify(hex(t.key), hex(t.msg), tag.subarray(0, size)), ErrorCode.INVALID_SIGNATURE, `${label(t)} ${size}`);
        count++;
      }
      if (tag.length === 32) {
        const longer = Buffer.concat([tag, Buffer.alloc(1)]);
        expectPeerError(() => hmacSha256Verify(hex(t.key), hex(t.msg), longer), ErrorCode.INVALID_SIGNATURE, label(t));
        // Every length in 16..32 of the right tag's leading bytes is accepted.
        for (let size = 16; size <= 32; size++) {
          expect(() => hmacSha256Verify(hex(t.key), hex(t.msg), tag.subarray(0, size)), `${label(t)} ${size}`).not.toThrow();
        }
        count++;
      }
    }
    expect(count).toBe(66 * 4 + 33);
  });
});

describe('Wycheproof HKDF-SHA256', () => {
  const data = loadWycheproof<HkdfGroup>('hkdf_sha256_test.json', 'HKDF-SHA-256');
  const vectors = [...eachTest<HkdfTest, HkdfGroup>(data)].map(({ test }) => test);

  it('valid vectors: hkdf and hkdfExpand(hkdfExtract) give okm (incl. empty salt and 8160 bytes)', () => {
    let count = 0;
    let maximal = 0;
    let emptySalt = 0;
    for (const t of vectors.filter((v) => v.result === 'valid')) {
      expect(toHex(hkdf(hex(t.ikm), hex(t.salt), hex(t.info), t.size)), label(t)).toBe(t.okm);
      const prk = hkdfExtract(hex(t.salt), hex(t.ikm));
      expect(prk.length).toBe(32);
      expect(toHex(hkdfExpand(prk, hex(t.info), t.size)), label(t)).toBe(t.okm);
      if (t.size === 8160) maximal++;
      if (t.salt === '') emptySalt++;
      count++;
    }
    expect(count).toBeGreaterThan(80);
    expect(count).toBe(83);
    expect(maximal).toBe(3);
    expect(emptySalt).toBeGreaterThan(20);
  });

  it('an info string is taken as its UTF-8 bytes', () => {
    const t = vectors[0]!;
    for (const info of ['peercomm v1.1 session', 'é∑🙂', '']) {
      expect(toHex(hkdf(hex(t.ikm), hex(t.salt), info, 42)), info)
        .toBe(toHex(hkdf(hex(t.ikm), hex(t.salt), Buffer.from(info, 'utf8'), 42)));
    }
    expect(toHex(hkdf(hex(t.ikm), hex(t.salt), 'a', 42))).not.toBe(toHex(hkdf(hex(t.ikm), hex(t.salt), 'b', 42)));
  });

  it('invalid vectors (size > 255·32) throw INVALID_ARGUMENT from hkdf and hkdfExpand', () => {
    let count = 0;
    for (const t of vectors.filter((v) => v.result !== 'valid')) {
      expect(t.result, label(t)).toBe('invalid');
      expect(t.flags, label(t)).toEqual(['SizeTooLarge']);
      expect(t.size, label(t)).toBeGreaterThan(8160);
      expectPeerError(() => hkdf(hex(t.ikm), hex(t.salt), hex(t.info), t.size), ErrorCode.INVALID_ARGUMENT, label(t));
      const prk = hkdfExtract(hex(t.salt), hex(t.ikm));
      expectPeerError(() => hkdfExpand(prk, hex(t.info), t.size), ErrorCode.INVALID_ARGUMENT, label(t));
      count++;
    }
    expect(count).toBe(3);
    expect(count + 83).toBe(data.numberOfTests);
  });

  it('other out-of-range lengths (negative, fractional, NaN) throw INVALID_ARGUMENT; 0 gives nothing', () => {
    const t = vectors[0]!;
    for (const size of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectPeerError(() => hkdf(hex(t.ikm), hex(t.salt), hex(t.info), size), ErrorCode.INVALID_ARGUMENT, String(size));
    }
    expect(hkdf(hex(t.ikm), hex(t.salt), hex(t.info), 0).length).toBe(0);
  });
});
