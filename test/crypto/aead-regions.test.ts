/** sealRegions/openRegions: many records sealed or opened in place inside one buffer, one call. */
import crypto from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AEAD_SUITES, createAead } from '../../src/index.js';
import { expectPeerError } from '../helpers/errors.js';

interface Layout {
  buffer: Buffer;
  nonces: Buffer;
  table: Uint32Array;
  records: { nonce: Buffer; aad: Buffer; plain: Buffer; at: number }[];
}

/** Records back to back: aad ‖ data ‖ tag space, with a gap byte between records. */
function layout(sizes: [number, number][]): Layout {
  const records = sizes.map(([aadLen, len]) => ({ nonce: crypto.randomBytes(12), aad: crypto.randomBytes(aadLen), plain: crypto.randomBytes(len), at: 0 }));
  const total = records.reduce((n, r) => n + r.aad.length + r.plain.length + 16 + 1, 0);
  const buffer = Buffer.alloc(total);
  const table = new Uint32Array(4 * records.length);
  let at = 0;
  records.forEach((r, k) => {
    r.aad.copy(buffer, at);
    r.plain.copy(buffer, at + r.aad.length);
    table.set([at, r.aad.length, at + r.aad.length, r.plain.length], 4 * k);
    r.at = at + r.aad.length;
    at += r.aad.length + r.plain.length + 16 + 1;
  });
  return { buffer, nonces: Buffer.concat(records.map((r) => r.nonce)), table, records };
}

const sizes = fc.array(fc.tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 3000 })), { minLength: 1, maxLength: 24 });

describe.each(AEAD_SUITES)('%s regions', (suite) => {
  const key = crypto.randomBytes(32);

  it('seal in place equals single seals, and open restores the plaintexts (property)', () => {
    fc.assert(fc.property(sizes, (s) => {
      const aead = createAead(key, suite);
      const l = layout(s);
      aead.sealRegions(l.nonces, l.buffer, l.table);
      for (const r of l.records) {
        expect(l.buffer.subarray(r.at, r.at + r.plain.length + 16).equals(Buffer.from(aead.seal(r.nonce, r.aad, r.plain)))).toBe(true);
      }
      expect(aead.openRegions(l.nonces, l.buffer, l.table)).toBe(l.records.length);
      for (const r of l.records) expect(l.buffer.subarray(r.at, r.at + r.plain.length).equals(r.plain)).toBe(true);
      aead.destroy();
    }), { numRuns: 60 });
  });

  it('open stops at the first record whose tag fails, and wipes it', () => {
    const aead = createAead(key, suite);
    const l = layout([[24, 100], [24, 200], [24, 300], [24, 50]]);
    aead.sealRegions(l.nonces, l.buffer, l.table);
    const bad = l.records[2]!;
    l.buffer[bad.at + 7]! ^= 1;
    expect(aead.openRegions(l.nonces, l.buffer, l.table)).toBe(2);
    expect(l.buffer.subarray(l.records[1]!.at, l.records[1]!.at + 200).equals(l.records[1]!.plain)).toBe(true);
    expect(l.buffer.subarray(bad.at, bad.at + 300).every((b) => b === 0)).toBe(true);
  });

  it('refuses tables that reach outside the buffer or do not match the nonces', () => {
    const aead = createAead(key, suite);
    const l = layout([[8, 16]]);
    expectPeerError(() => aead.sealRegions(l.nonces, l.buffer, Uint32Array.of(0, 8, 8, 1000)), 'INVALID_ARGUMENT');
    expectPeerError(() => aead.sealRegions(l.nonces, l.buffer, Uint32Array.of(l.buffer.length, 1, 8, 16)), 'INVALID_ARGUMENT');
    expectPeerError(() => aead.sealRegions(Buffer.alloc(24), l.buffer, l.table), 'INVALID_ARGUMENT');
    expectPeerError(() => aead.sealRegions(l.nonces, l.buffer, Uint32Array.of(0, 8, 8)), 'INVALID_ARGUMENT');
    aead.destroy();
    expectPeerError(() => aead.openRegions(l.nonces, l.buffer, l.table), 'INVALID_STATE');
  });
});
