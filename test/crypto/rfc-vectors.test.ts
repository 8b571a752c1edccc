/**
 * Known answers from the RFCs themselves: RFC 5869 appendix A.1–A.3 (HKDF-SHA256), RFC 7748
 * §6.1 (X25519 Diffie-Hellman) and RFC 8032 §7.1 TEST 1–3 (Ed25519). Every value below was also
 * cross-checked against OpenSSL (node:crypto) and, where the vectors carry it, Wycheproof.
 */
import { describe, expect, it } from 'vitest';
import { fingerprintOf, hkdf, hkdfExpand, hkdfExtract, Identity, x25519 } from '../../src/index.js';
import { hex, toHex } from '../helpers/wycheproof.js';

/** Bytes a, a+1, …, b. */
const range = (a: number, b: number): Buffer => Buffer.from(Array.from({ length: b - a + 1 }, (_, i) => a + i));

describe('RFC 5869 HKDF-SHA256 (appendix A.1–A.3)', () => {
  const cases = [
    {
      name: 'A.1 basic',
      ikm: Buffer.alloc(22, 0x0b),
      salt: range(0x00, 0x0c),
      info: range(0xf0, 0xf9),
      length: 42,
      prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      name: 'A.2 longer inputs and outputs',
      ikm: range(0x00, 0x4f),
      salt: range(0x60, 0xaf),
      info: range(0xb0, 0xff),
      length: 82,
      prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
      okm:
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c' +
        '59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71' +
        'cc30c58179ec3e87c14c01d5c1f3434f1d87',
    },
    {
      name: 'A.3 zero-length salt and info',
      ikm: Buffer.alloc(22, 0x0b),
      salt: Buffer.alloc(0),
      info: Buffer.alloc(0),
      length: 42,
      prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
  ];

  it.each(cases)('$name: extract gives PRK, expand and hkdf give OKM', (c) => {
    expect(c.ikm.length).toBe(c.name.startsWith('A.2') ? 80 : 22);
    expect(toHex(hkdfExtract(c.salt, c.ikm))).toBe(c.prk);
    expect(toHex(hkdfExpand(hex(c.prk), c.info, c.length))).toBe(c.okm);
    expect(toHex(hkdf(c.ikm, c.salt, c.info, c.length))).toBe(c.okm);
    // A shorter output is a prefix of the longer one (RFC 5869 §2.3: T(1) ‖ T(2) ‖ …).
    expect(toHex(hkdf(c.ikm, c.salt, c.info, 20))).toBe(c.okm.slice(0, 40));
  });

  it('A.3: an empty salt is the same as 32 zero bytes', () => {
    const c = cases[2]!;
    expect(toHex(hkdfExtract(Buffer.alloc(32), c.ikm))).toBe(c.prk);
  });
});

describe('RFC 7748 §6.1 X25519', () => {
  const alice = {
    secret: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
    public: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  };
  const bob = {
    secret: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
    public: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  };
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

  it('public keys are X25519(secret, 9)', () => {
    expect(toHex(x25519.publicKeyOf(hex(alice.secret)))).toBe(alice.public);
    expect(toHex(x25519.publicKeyOf(hex(bob.secret)))).toBe(bob.public);
  });

  it('both sides derive the same shared secret K', () => {
    expect(toHex(x25519.sharedSecret(hex(alice.secret), hex(bob.public)))).toBe(shared);
    expect(toHex(x25519.sharedSecret(hex(bob.secret), hex(alice.public)))).toBe(shared);
  });
});

describe('RFC 8032 §7.1 Ed25519', () => {
  const tests = [
    {
      name: 'TEST 1 (empty message)',
      secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      message: '',
      signature:
        'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155' +
        '5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      name: 'TEST 2 (one byte)',
      secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
      public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      message: '72',
      signature:
        '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da' +
        '085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
    {
      name: 'TEST 3 (two bytes)',
      secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
      public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
      message: 'af82',
      signature:
        '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac' +
        '18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
    },
  ];

  it.each(tests)('$name: seed → public key, signature, and it verifies', (t) => {
    const id = Identity.fromSeed(hex(t.secret));
    try {
      expect(toHex(id.publicKey)).toBe(t.public);
      expect(id.fingerprint).toBe(fingerprintOf(hex(t.public)));
      expect(toHex(id.sign(hex(t.message)))).toBe(t.signature);
      // Deterministic: signing again gives the same bytes.
      expect(toHex(id.sign(hex(t.message)))).toBe(t.signature);
      expect(() => Identity.verify(hex(t.public), hex(t.message), hex(t.signature))).not.toThrow();
    } finally {
      id.destroy();
    }
  });
});
