/** Project Wycheproof X25519 (XdhComp) and Ed25519 (EddsaVerify) vectors. */
import { describe, expect, it } from 'vitest';
import { ErrorCode, Identity, x25519 } from '../../src/index.js';
import { expectAnyPeerError, expectPeerError } from '../helpers/errors.js';
import {
  type EddsaGroup, type EddsaTest, type XdhGroup, type XdhTest,
  eachTest, hex, label, loadWycheproof, toHex,
} from '../helpers/wycheproof.js';

describe('Wycheproof X25519', () => {
  const data = loadWycheproof<XdhGroup>('x25519_test.json', 'XDH');
  const vectors = [...eachTest<XdhTest, XdhGroup>(data)].map(({ test }) => test);
  const isZero = (t: XdhTest): boolean => /^(00)+$/.test(t.shared);

  it('flags agree with the shared secrets (ZeroSharedSecret ⇔ all-zero; LowOrderPublic ⇒ all-zero)', () => {
    for (const g of data.testGroups) expect(g.curve).toBe('curve25519');
    for (const t of vectors) {
      expect(t.flags.includes('ZeroSharedSecret'), label(t)).toBe(isZero(t));
      if (t.flags.includes('LowOrderPublic')) expect(isZero(t), label(t)).toBe(true);
    }
  });

  it('valid vectors give the expected shared secret', () => {
    let count = 0;
    for (const t of vectors.filter((v) => v.result === 'valid')) {
      expect(isZero(t), label(t)).toBe(false);
      expect(toHex(x25519.sharedSecret(hex(t.private), hex(t.public))), label(t)).toBe(t.shared);
      count++;
    }
    expect(count).toBeGreaterThan(250);
    expect(count).toBe(264);
  });

  it('acceptable vectors with a non-zero secret (twist points, non-canonical u ≥ p, edge cases) give it', () => {
    // RFC 7748 §5 says u-coordinates ≥ p MUST be accepted and reduced mod p, and twist points
    // are computed like any other: libsodium does both, so each of these must match exactly.
    let count = 0;
    const flags = new Set<string>();
    for (const t of vectors.filter((v) => v.result === 'acceptable' && !isZero(v))) {
      expect(toHex(x25519.sharedSecret(hex(t.private), hex(t.public))), label(t)).toBe(t.shared);
      t.flags.forEach((f) => flags.add(f));
      count++;
    }
    expect(count).toBeGreaterThan(200);
    expect(count).toBe(223);
    expect([...flags].sort()).toEqual(
      ['EdgeCaseMultiplication', 'EdgeCaseShared', 'Ktv', 'NonCanonicalPublic', 'SpecialPublicKey', 'Twist'],
    );
  });

  it('vectors whose shared secret is all zero (low-order public keys) throw INVALID_KEY', () => {
    let count = 0;
    for (const t of vectors.filter(isZero)) {
      expect(t.result, label(t)).toBe('acceptable');
      expectPeerError(() => x25519.sharedSecret(hex(t.private), hex(t.public)), ErrorCode.INVALID_KEY, label(t));
      count++;
    }
    expect(count).toBeGreaterThan(30);
    expect(count).toBe(31);
  });

  it('invalid vectors are rejected with a PeerError (this release has none; every vector is classified)', () => {
    const invalid = vectors.filter((v) => v.result === 'invalid');
    for (const t of invalid) expectAnyPeerError(() => x25519.sharedSecret(hex(t.private), hex(t.public)), label(t));
    // valid 264 + acceptable non-zero 223 + all-zero 31: nothing else is left unchecked.
    expect(invalid.length).toBe(0);
    expect(vectors.length).toBe(264 + 223 + 31);
  });
});

describe('Wycheproof Ed25519', () => {
  const data = loadWycheproof<EddsaGroup>('ed25519_test.json', 'EDDSA');
  const vectors = [...eachTest<EddsaTest, EddsaGroup>(data)];
  // This release (0.9rc5, eddsa_verify_schema) gives only public keys, so deterministic signing
  // is checked against RFC 8032 (rfc-vectors.test.ts) and node:crypto (identity.test.ts).

  it('valid signatures verify; with one bit flipped they do not', () => {
    let count = 0;
    for (const { group, test: t } of vectors.filter(({ test }) => test.result === 'valid')) {
      expect(group.publicKey.curve).toBe('edwards25519');
      const pk = hex(group.publicKey.pk);
      expect(() => Identity.verify(pk, hex(t.msg), hex(t.sig)), label(t)).not.toThrow();
      expect(Identity.isValidSignature(pk, hex(t.msg), hex(t.sig)), label(t)).toBe(true);
      const sig = hex(t.sig);
      sig[count % 64]! ^= 1 << (count % 8);
      expectPeerError(() => Identity.verify(pk, hex(t.msg), sig), ErrorCode.INVALID_SIGNATURE, label(t));
      count++;
    }
    expect(count).toBeGreaterThan(80);
    expect(count).toBe(88);
  });

  it('invalid signatures (malleability, bad encodings, truncation, garbage) throw INVALID_SIGNATURE', () => {
    let count = 0;
    const flags = new Set<string>();
    for (const { group, test: t } of vectors.filter(({ test }) => test.result !== 'valid')) {
      expect(t.result, label(t)).toBe('invalid');
      const pk = hex(group.publicKey.pk);
      expectPeerError(() => Identity.verify(pk, hex(t.msg), hex(t.sig)), ErrorCode.INVALID_SIGNATURE, label(t));
      expect(Identity.isValidSignature(pk, hex(t.msg), hex(t.sig)), label(t)).toBe(false);
      t.flags.forEach((f) => flags.add(f));
      count++;
    }
    expect(count).toBeGreaterThan(60);
    expect(count).toBe(63);
    expect(flags).toContain('SignatureMalleability');
    expect(flags).toContain('TruncatedSignature');
    expect(count + 88).toBe(data.numberOfTests);
  });
});
