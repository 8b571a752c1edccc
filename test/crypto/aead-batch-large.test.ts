/**
 * Batches of large, uneven records: the output must be exactly that of single seals, and a
 * failing record anywhere must be found with its index.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AEAD_SUITES, createAead, packBatch } from '../../src/index.js';
import { expectPeerError } from '../helpers/errors.js';

function records(sizes: number[]) {
  return sizes.map((n) => ({ nonce: crypto.randomBytes(12), aad: crypto.randomBytes(24), data: crypto.randomBytes(n) }));
}

describe.each(AEAD_SUITES)('%s large batches', (suite) => {
  const key = crypto.randomBytes(32);

  it('seal equals single seals and open restores, for uneven record sizes', () => {
    const aead = createAead(key, suite);
    for (const sizes of [[1 << 20, 1 << 20, 1 << 20, 1 << 20], [900_000, 3, 200_000, 700_000, 17], [1, 600_000]]) {
      const rs = records(sizes);
      const sealed = aead.sealBatch(packBatch(rs));
      const expected = Buffer.concat(rs.map((r) => aead.seal(r.nonce, r.aad, r.data)));
      expect(Buffer.from(sealed).equals(expected)).toBe(true);
      const opened = aead.openBatch(packBatch(rs.map((r, i) => ({ ...r, data: expected.subarray(
        rs.slice(0, i).reduce((a, x) => a + x.data.length + 16, 0),
        rs.slice(0, i + 1).reduce((a, x) => a + x.data.length + 16, 0)) }))));
      expect(Buffer.from(opened).equals(Buffer.concat(rs.map((r) => r.data)))).toBe(true);
    }
  });

  it('finds a bad tag in any record and reports its index', () => {
    const aead = createAead(key, suite);
    const rs = records([400_000, 400_000, 400_000, 400_000]);
    const sealed = rs.map((r) => Buffer.from(aead.seal(r.nonce, r.aad, r.data)));
    for (const bad of [0, 1, 2, 3]) {
      const copy = sealed.map((b) => Buffer.from(b));
      copy[bad]![100]! ^= 1;
      const err = expectPeerError(() => aead.openBatch(packBatch(rs.map((r, i) => ({ ...r, data: copy[i]! })))), 'DECRYPTION_FAILED');
      expect(err.details).toMatchObject({ index: bad });
    }
  });
});
