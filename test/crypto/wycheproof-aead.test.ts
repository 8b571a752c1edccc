/**
 * Project Wycheproof AEAD vectors (AES-GCM, ChaCha20-Poly1305) through createAead.
 * Supported groups (256-bit key, 96-bit nonce, 128-bit tag) must reproduce every vector through
 * the single calls and through the batch calls; every other group must be refused with the
 * documented PeerError. Run once with the addon and once with PEERCOMM_NO_NATIVE=1, the AES
 * part covers both AES-256-GCM implementations.
 */
import { describe, expect, it } from 'vitest';
import { createAead, engine, ErrorCode, packBatch, type Aead, type AeadRecord, type AeadSuite } from '../../src/index.js';
import { expectPeerError } from '../helpers/errors.js';
import { type AeadGroup, type AeadTest, hex, label, loadWycheproof, toHex } from '../helpers/wycheproof.js';

interface SuiteVectors {
  suite: AeadSuite;
  file: string;
  algorithm: string;
  /**
   * How many vectors each check must run (counted from the vendored file), so an empty or
   * filtered-away loop cannot pass.
   */
  valid: number;
  invalid: number;
  rejectedKey: number;
  rejectedNonce: number;
}

const SUITES: SuiteVectors[] = [
  {
    suite: 'aes-256-gcm', file: 'aes_gcm_test.json', algorithm: 'AES-GCM',
    valid: 39, invalid: 27, rejectedKey: 211, rejectedNonce: 39,
  },
  {
    suite: 'chacha20-poly1305', file: 'chacha20_poly1305_test.json', algorithm: 'CHACHA20-POLY1305',
    valid: 256, invalid: 60, rejectedKey: 0, rejectedNonce: 9,
  },
];

const isSupported = (g: AeadGroup): boolean => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128;

const sealedOf = (t: AeadTest): Buffer => Buffer.concat([hex(t.ct), hex(t.tag)]);
const recordOf = (t: AeadTest, data: Uint8Array): AeadRecord => ({ nonce: hex(t.iv), aad: hex(t.aad), data });

/** Runs fn with a fresh context for the vector's key, destroyed afterwards. */
function withAead<R>(key: string, suite: AeadSuite, fn: (aead: Aead) => R): R {
  const aead = createAead(hex(key), suite);
  try {
    return fn(aead);
  } finally {
    aead.destroy();
  }
}

/** The supported groups' vectors, batched by key (a batch shares one context, so one key). */
function batchesByKey(groups: AeadGroup[]): AeadTest[][] {
  const batches: AeadTest[][] = [];
  for (const g of groups) {
    const byKey = new Map<string, AeadTest[]>();
    for (const t of g.tests) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t]);
    batches.push(...byKey.values());
  }
  return batches;
}

describe.each(SUITES)('Wycheproof $algorithm ($suite)', (s) => {
  const data = loadWycheproof<AeadGroup>(s.file, s.algorithm);
  const supported = data.testGroups.filter(isSupported);
  const unsupported = data.testGroups.filter((g) => !isSupported(g));
  const vectors = supported.flatMap((g) => g.tests);

  it('uses the implementation this process should use', () => {
    const expected = s.suite === 'chacha20-poly1305' ? 'sodium' : engine() === 'native' ? 'native' : 'node:crypto';
    withAead('00'.repeat(32), s.suite, (aead) => {
      expect(aead.suite).toBe(s.suite);
      expect(aead.implementation).toBe(expected);
    });
  });

  it('valid vectors: seal gives exactly ct‖tag and open gives msg', () => {
    let count = 0;
    for (const t of vectors.filter((v) => v.result === 'valid')) {
      withAead(t.key, s.suite, (aead) => {
        expect(toHex(aead.seal(hex(t.iv), hex(t.aad), hex(t.msg))), label(t)).toBe(t.ct + t.tag);
        expect(toHex(aead.open(hex(t.iv), hex(t.aad), sealedOf(t))), label(t)).toBe(t.msg);
      });
      count++;
    }
    expect(count).toBeGreaterThan(0);
    expect(count).toBe(s.valid);
  });

  it('invalid vectors: open throws DECRYPTION_FAILED and seal does not produce them', () => {
    let count = 0;
    for (const t of vectors.filter((v) => v.result !== 'valid')) {
      // These groups' only invalid kind: the right ciphertext under a wrong tag.
      expect(t.result, label(t)).toBe('invalid');
      expect(t.flags, label(t)).toEqual(['ModifiedTag']);
      withAead(t.key, s.suite, (aead) => {
        expectPeerError(() => aead.open(hex(t.iv), hex(t.aad), sealedOf(t)), ErrorCode.DECRYPTION_FAILED, label(t));
        const sealed = toHex(aead.seal(hex(t.iv), hex(t.aad), hex(t.msg)));
        expect(sealed.slice(0, t.ct.length), `${label(t)}: ciphertext part`).toBe(t.ct);
        expect(sealed.slice(t.ct.length), `${label(t)}: tag part`).not.toBe(t.tag);
        // The real tag for that ciphertext does open: only the tag was wrong.
        expect(toHex(aead.open(hex(t.iv), hex(t.aad), hex(sealed))), label(t)).toBe(t.msg);
      });
      count++;
    }
    expect(count).toBeGreaterThan(0);
    expect(count).toBe(s.invalid);
  });

  it('valid vectors with the tag truncated (to 15, 12, 8, 4, 0 bytes) do not open', () => {
    let count = 0;
    for (const t of vectors.filter((v) => v.result === 'valid')) {
      withAead(t.key, s.suite, (aead) => {
        for (const tagBytes of [15, 12, 8, 4, 0]) {
          const truncated = Buffer.concat([hex(t.ct), hex(t.tag).subarray(0, tagBytes)]);
          expectPeerError(() => aead.open(hex(t.iv), hex(t.aad), truncated), ErrorCode.DECRYPTION_FAILED, `${label(t)} tag ${tagBytes}`);
          count++;
        }
      });
    }
    expect(count).toBe(5 * s.valid);
  });

  it('sealBatch/openBatch (one batch per group and key) reproduce the vectors', () => {
    let records = 0;
    let multi = 0;
    for (const batch of batchesByKey(supported)) {
      const key = batch[0]!.key;
      withAead(key, s.suite, (aead) => {
        const ids = batch.map(label).join(' ');
        // Seal: the vector bytes for valid records, the single-call bytes for every record.
        const sealed = aead.sealBatch(packBatch(batch.map((t) => recordOf(t, hex(t.msg)))));
        const single = Buffer.concat(batch.map((t) => aead.seal(hex(t.iv), hex(t.aad), hex(t.msg))));
        expect(toHex(sealed), ids).toBe(toHex(single));
        let offset = 0;
        for (const t of batch) {
          const n = t.msg.length / 2 + 16;
          if (t.result === 'valid') expect(toHex(sealed.subarray(offset, offset + n)), label(t)).toBe(t.ct + t.tag);
          offset += n;
        }
        expect(offset).toBe(sealed.length);

        // Open the valid vectors' own ciphertexts in one call.
        const valid = batch.filter((t) => t.result === 'valid');
        const opened = aead.openBatch(packBatch(valid.map((t) => recordOf(t, sealedOf(t)))));
        expect(toHex(opened), ids).toBe(valid.map((t) => t.msg).join(''));

        // Every record in file order: fails at the first invalid vector, if there is one.
        const firstInvalid = batch.findIndex((t) => t.result !== 'valid');
        const all = packBatch(batch.map((t) => recordOf(t, sealedOf(t))));
        if (firstInvalid < 0) {
          expect(toHex(aead.openBatch(all)), ids).toBe(batch.map((t) => t.msg).join(''));
        } else {
          const err = expectPeerError(() => aead.openBatch(all), ErrorCode.DECRYPTION_FAILED, ids);
          expect(err.details?.index, ids).toBe(firstInvalid);
        }

        // Each invalid vector placed in the middle of the valid ones is reported at its index.
        const middle = valid.length >> 1;
        for (const bad of batch.filter((t) => t.result !== 'valid')) {
          const mixed = [...valid.slice(0, middle), bad, ...valid.slice(middle)];
          const err = expectPeerError(
            () => aead.openBatch(packBatch(mixed.map((t) => recordOf(t, sealedOf(t))))),
            ErrorCode.DECRYPTION_FAILED,
            label(bad),
          );
          expect(err.details?.index, label(bad)).toBe(middle);
        }
      });
      records += batch.length;
      if (batch.length > 1) multi++;
    }
    expect(records).toBe(vectors.length);
    expect(multi).toBeGreaterThan(0);
  });

  it('groups with another key, nonce or tag size are refused with the documented PeerError', () => {
    let badKey = 0;
    let badNonce = 0;
    let badTag = 0;
    for (const g of unsupported) {
      for (const t of g.tests) {
        const key = hex(t.key);
        expect(key.length * 8, label(t)).toBe(g.keySize);
        if (g.keySize !== 256) {
          expectPeerError(() => createAead(key, s.suite), ErrorCode.INVALID_KEY, label(t));
          badKey++;
          continue;
        }
        withAead(t.key, s.suite, (aead) => {
          if (g.ivSize !== 96) {
            expect(hex(t.iv).length * 8, label(t)).toBe(g.ivSize);
            expectPeerError(() => aead.seal(hex(t.iv), hex(t.aad), hex(t.msg)), ErrorCode.INVALID_ARGUMENT, label(t));
            expectPeerError(() => aead.open(hex(t.iv), hex(t.aad), sealedOf(t)), ErrorCode.INVALID_ARGUMENT, label(t));
            expectPeerError(
              () => aead.sealInto(hex(t.iv), hex(t.aad), hex(t.msg), Buffer.alloc(t.msg.length / 2 + 16)),
              ErrorCode.INVALID_ARGUMENT,
              label(t),
            );
            expectPeerError(() => packBatch([recordOf(t, hex(t.msg))]), ErrorCode.INVALID_ARGUMENT, label(t));
            badNonce++;
          } else {
            // A tag of another size: the truncated sealed form must not open.
            expect(g.tagSize, label(t)).not.toBe(128);
            expectPeerError(() => aead.open(hex(t.iv), hex(t.aad), sealedOf(t)), ErrorCode.DECRYPTION_FAILED, label(t));
            badTag++;
          }
        });
      }
    }
    expect(badKey).toBe(s.rejectedKey);
    expect(badNonce).toBeGreaterThan(0);
    expect(badNonce).toBe(s.rejectedNonce);
    // Neither file has a group with a tag size other than 128 bits (truncation is covered above).
    expect(badTag).toBe(0);
    expect(badKey + badNonce + badTag + vectors.length).toBe(data.numberOfTests);
  });
});
