/** Reference AEAD and byte helpers for the AEAD property tests. */
import crypto from 'node:crypto';
import fc from 'fast-check';
import type { AeadRecord, AeadSuite } from '../../src/index.js';

/**
 * The suite computed by node:crypto directly (OpenSSL), independent of the library's own
 * code path: with the addon loaded this checks native against OpenSSL's EVP via node:crypto.
 */
export function referenceSeal(suite: AeadSuite, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Buffer {
  const c = suite === 'aes-256-gcm'
    ? crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 })
    : crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

/** size deterministic pseudo-random bytes from a seed (AES-128-CTR keystream): cheap at 1 MiB. */
export function bytesFrom(seed: number, size: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  return crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/**
 * The same bytes as a view into a larger ArrayBuffer at a non-zero offset, so a callee that
 * ignores byteOffset reads the wrong bytes.
 */
export function offsetView(bytes: Uint8Array, offset: number): Uint8Array {
  const backing = new Uint8Array(offset + bytes.length + 7).fill(0xee);
  backing.set(bytes, offset);
  return backing.subarray(offset, offset + bytes.length);
}

export const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
export const nonce12 = fc.uint8Array({ minLength: 12, maxLength: 12 });
export const smallBytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });

/**
 * Plaintexts from 0 bytes to 1 MiB, mostly small. Large ones are a fifth of the draws, so a run of
 * a few dozen practically always includes some (the property asserts it does).
 */
export const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 301, max: 65_536 }), fc.nat()).map(([n, s]) => bytesFrom(s, n)) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 65_537, max: 1 << 20 }), fc.nat()).map(([n, s]) => bytesFrom(s, n)) },
);

export const record: fc.Arbitrary<AeadRecord> = fc.record({
  nonce: nonce12,
  aad: smallBytes(48),
  data: fc.oneof({ weight: 4, arbitrary: smallBytes(80) }, { weight: 1, arbitrary: smallBytes(3000) }),
});

export const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
