/**
 * Property tests for both AEAD suites: round trips against node:crypto as the reference, single
 * bit flips, in-place calls, and the batch calls against the single ones. The project runs the
 * suite twice (with and without PEERCOMM_NO_NATIVE=1), so AES covers the addon and the fallback.
 */
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AEAD_SUITES, createAead, engine, ErrorCode, packBatch, type AeadRecord } from '../../src/index.js';
import { expectPeerError } from '../helpers/errors.js';
import { bytesFrom, hexOf, key32, nonce12, offsetView, payload, record, referenceSeal, smallBytes } from '../helpers/aead.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('engine()', () => {
  it('is native unless PEERCOMM_NO_NATIVE=1 (the addon is built), fallback when it is', () => {
    const prebuildDir = `${root}prebuilds/${process.platform}-${process.arch}`;
    const addonPresent =
      existsSync(`${root}build/Release/peercomm.node`) ||
      (existsSync(prebuildDir) && readdirSync(prebuildDir).some((f) => f.endsWith('.node')));
    const disabled = process.env.PEERCOMM_NO_NATIVE === '1';
    expect(engine()).toBe(disabled || !addonPresent ? 'fallback' : 'native');
    const aead = createAead(new Uint8Array(32));
    expect(aead.implementation).toBe(engine() === 'native' ? 'native' : 'node:crypto');
    aead.destroy();
  });
});

describe.each(AEAD_SUITES)('%s properties', (suite) => {
  it('seal equals node:crypto and open inverts it, 0 B to 1 MiB, inputs untouched', () => {
    let large = 0;
    fc.assert(
      fc.property(key32, nonce12, smallBytes(64), payload, fc.integer({ min: 1, max: 15 }), (key, nonce, aad, pt, shift) => {
        const aead = createAead(key, suite);
        try {
          const copies = [Buffer.from(key), Buffer.from(nonce), Buffer.from(aad), Buffer.from(pt)];
          const sealed = aead.seal(offsetView(nonce, shift), offsetView(aad, shift), offsetView(pt, shift));
          expect(sealed.length).toBe(pt.length + 16);
          expect(hexOf(sealed)).toBe(hexOf(referenceSeal(suite, key, nonce, aad, pt)));
          expect(hexOf(aead.open(nonce, aad, offsetView(sealed, shift)))).toBe(hexOf(pt));
          expect([key, nonce, aad, pt].map(hexOf)).toEqual(copies.map(hexOf));
          if (pt.length > 65_536) large++;
        } finally {
          aead.destroy();
        }
      }),
      { numRuns: 60 },
    );
    expect(large).toBeGreaterThan(0);
  });

  it('edge sizes round trip and match node:crypto', () => {
    const aead = createAead(bytesFrom(1, 32), suite);
    const nonce = bytesFrom(2, 12);
    for (const n of [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 4095, 4096, 4097, 65_535, 65_536, (1 << 20) - 1, 1 << 20]) {
      const pt = bytesFrom(n, n);
      const aad = bytesFrom(n + 1, n % 100);
      const sealed = aead.seal(nonce, aad, pt);
      expect(hexOf(sealed), `size ${n}`).toBe(hexOf(referenceSeal(suite, bytesFrom(1, 32), nonce, aad, pt)));
      expect(hexOf(aead.open(nonce, aad, sealed)), `size ${n}`).toBe(hexOf(pt));
    }
    aead.destroy();
  });

  it('flipping any one bit of nonce, AAD, ciphertext or tag makes open throw DECRYPTION_FAILED', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(key32, nonce12, smallBytes(40), smallBytes(100), fc.nat(), (key, nonce, aad, pt, pick) => {
        const aead = createAead(key, suite);
        try {
          const sealed = aead.seal(nonce, aad, pt);
          const bits = [nonce.length * 8, aad.length * 8, pt.length * 8, 16 * 8];
          let i = pick % bits.reduce((a, b) => a + b, 0);
          let region = 0;
          while (i >= bits[region]!) i -= bits[region++]!;
          const n = Buffer.from(nonce);
          const a = Buffer.from(aad);
          const s = Buffer.from(sealed);
          const target = region === 0 ? n : region === 1 ? a : s;
          const index = region === 3 ? pt.length * 8 + i : i;
          target[index >> 3]! ^= 1 << (index & 7);
          seen.add(['nonce', 'aad', 'ciphertext', 'tag'][region]!);
          expectPeerError(() => aead.open(n, a, s), ErrorCode.DECRYPTION_FAILED, `region ${region} bit ${index}`);
          expectPeerError(() => aead.openInto(n, a, s, Buffer.alloc(pt.length)), ErrorCode.DECRYPTION_FAILED);
        } finally {
          aead.destroy();
        }
      }),
      { numRuns: 300 },
    );
    expect([...seen].sort()).toEqual(['aad', 'ciphertext', 'nonce', 'tag']);
  });

  it('every single bit flip of one fixed record is detected (exhaustive)', () => {
    const aead = createAead(bytesFrom(7, 32), suite);
    const nonce = bytesFrom(8, 12);
    const aad = bytesFrom(9, 9);
    const sealed = aead.seal(nonce, aad, bytesFrom(10, 21));
    let count = 0;
    for (const which of [0, 1, 2] as const) {
      const bytes = [nonce, aad, sealed][which]!;
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const copy = Buffer.from(bytes);
        copy[bit >> 3]! ^= 1 << (bit & 7);
        const args = [nonce, aad, sealed];
        args[which] = copy;
        expectPeerError(() => aead.open(args[0]!, args[1]!, args[2]!), ErrorCode.DECRYPTION_FAILED, `${which}:${bit}`);
        count++;
      }
    }
    expect(count).toBe((12 + 9 + 21 + 16) * 8);
    expect(hexOf(aead.open(nonce, aad, sealed))).toBe(hexOf(bytesFrom(10, 21)));
    aead.destroy();
  });

  it('sealInto/openInto in place (out is the same buffer) equal seal/open; bytes around are untouched', () => {
    fc.assert(
      fc.property(key32, nonce12, smallBytes(32), smallBytes(2000), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }),
        (key, nonce, aad, pt, before, after) => {
          const aead = createAead(key, suite);
          try {
            const expected = aead.seal(nonce, aad, pt);
            const buf = Buffer.alloc(before + pt.length + 16 + after, 0xa5);
            buf.set(pt, before);
            const plain = buf.subarray(before, before + pt.length);
            expect(aead.sealInto(nonce, aad, plain, buf, before)).toBe(pt.length + 16);
            expect(hexOf(buf.subarray(before, before + pt.length + 16))).toBe(hexOf(expected));
            const sealedView = buf.subarray(before, before + pt.length + 16);
            expect(aead.openInto(nonce, aad, sealedView, buf, before)).toBe(pt.length);
            expect(hexOf(buf.subarray(before, before + pt.length))).toBe(hexOf(pt));
            expect(buf.subarray(0, before).every((b) => b === 0xa5)).toBe(true);
            expect(buf.subarray(before + pt.length + 16).every((b) => b === 0xa5)).toBe(true);

            // out === sealed exactly: the plaintext lands at the front of the same buffer.
            const whole = Buffer.from(expected);
            expect(aead.openInto(nonce, aad, whole, whole)).toBe(pt.length);
            expect(hexOf(whole.subarray(0, pt.length))).toBe(hexOf(pt));
            // and sealing from the front of a buffer into that whole buffer.
            const room = Buffer.alloc(pt.length + 16);
            room.set(pt);
            expect(aead.sealInto(nonce, aad, room.subarray(0, pt.length), room)).toBe(pt.length + 16);
            expect(hexOf(room)).toBe(hexOf(expected));
          } finally {
            aead.destroy();
          }
        }),
      { numRuns: 150 },
    );
  });

  it('sealBatch equals the single seals back to back; openBatch inverts it', () => {
    fc.assert(
      fc.property(key32, fc.array(record, { maxLength: 24 }), fc.integer({ min: 0, max: 33 }), (key, records, slack) => {
        const aead = createAead(key, suite);
        try {
          const singles = Buffer.concat(records.map((r) => aead.seal(r.nonce, r.aad, r.data)));
          const reference = Buffer.concat(records.map((r) => referenceSeal(suite, key, r.nonce, r.aad, r.data)));
          const sealed = aead.sealBatch(packBatch(records));
          expect(hexOf(sealed)).toBe(hexOf(singles));
          expect(hexOf(sealed)).toBe(hexOf(reference));

          // With a caller buffer larger than needed: written from offset 0, the rest untouched.
          const out = Buffer.alloc(singles.length + slack, 0x5a);
          const intoOut = aead.sealBatch(packBatch(records), out);
          expect(hexOf(intoOut)).toBe(hexOf(singles));
          expect(hexOf(out.subarray(0, singles.length))).toBe(hexOf(singles));
          expect(out.subarray(singles.length).every((b) => b === 0x5a)).toBe(true);

          const sealedRecords = splitSealed(records, sealed);
          const opened = aead.openBatch(packBatch(sealedRecords));
          expect(hexOf(opened)).toBe(records.map((r) => hexOf(r.data)).join(''));
          const plainOut = Buffer.alloc(opened.length + slack, 0x5a);
          aead.openBatch(packBatch(sealedRecords), plainOut);
          expect(hexOf(plainOut.subarray(0, opened.length))).toBe(hexOf(opened));
        } finally {
          aead.destroy();
        }
      }),
      { numRuns: 120 },
    );
  });

  it('batches whose arrays are views at non-zero byte offsets give the same bytes', () => {
    const u32View = (t: Uint32Array): Uint32Array => {
      const backing = new Uint32Array(t.length + 3).fill(0xffffffff);
      backing.set(t, 3);
      return backing.subarray(3);
    };
    fc.assert(
      fc.property(key32, fc.array(record, { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 9 }), (key, records, shift) => {
        const aead = createAead(key, suite);
        try {
          const b = packBatch(records);
          const expected = Buffer.concat(records.map((r) => referenceSeal(suite, key, r.nonce, r.aad, r.data)));
          const views = {
            nonces: offsetView(b.nonces, shift), aad: offsetView(b.aad, shift), data: offsetView(b.data, shift),
            aadLengths: u32View(b.aadLengths), lengths: u32View(b.lengths),
          };
          expect(views.lengths.byteOffset).toBe(12);
          const sealed = aead.sealBatch(views);
          expect(hexOf(sealed)).toBe(hexOf(expected));
          const s = packBatch(splitSealed(records, sealed));
          const opened = aead.openBatch({
            nonces: offsetView(s.nonces, shift), aad: offsetView(s.aad, shift), data: offsetView(s.data, shift),
            aadLengths: u32View(s.aadLengths), lengths: u32View(s.lengths),
          });
          expect(hexOf(opened)).toBe(records.map((r) => hexOf(r.data)).join(''));
        } finally {
          aead.destroy();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('openBatch with one corrupted record throws DECRYPTION_FAILED with details.index = that record', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(key32, fc.array(record, { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), fc.constantFrom('data', 'nonce', 'aad'),
        (key, records, pickRecord, pickBit, kind) => {
          const aead = createAead(key, suite);
          try {
            const sealed = splitSealed(records, aead.sealBatch(packBatch(records)));
            const bad = pickRecord % sealed.length;
            const r = sealed[bad]!;
            const field = kind === 'aad' && r.aad.length === 0 ? 'data' : kind;
            const bytes = Buffer.from(r[field]);
            const bit = pickBit % (bytes.length * 8);
            bytes[bit >> 3]! ^= 1 << (bit & 7);
            sealed[bad] = { ...r, [field]: bytes };
            kinds.add(field);
            const out = Buffer.alloc(records.reduce((n, x) => n + x.data.length, 0), 0x77);
            const err = expectPeerError(() => aead.openBatch(packBatch(sealed), out), ErrorCode.DECRYPTION_FAILED);
            expect(err.details?.index).toBe(bad);
            // Nothing of the output is to be trusted, and no plaintext is left in it.
            expect(out.every((b) => b === 0)).toBe(true);
            // A second corruption after the first does not change the index reported.
            if (bad + 1 < sealed.length) {
              const later = sealed[bad + 1]!;
              const tampered = Buffer.from(later.data);
              tampered[tampered.length - 1]! ^= 0x80;
              sealed[bad + 1] = { ...later, data: tampered };
              expect(expectPeerError(() => aead.openBatch(packBatch(sealed)), ErrorCode.DECRYPTION_FAILED).details?.index).toBe(bad);
            }
          } finally {
            aead.destroy();
          }
        }),
      { numRuns: 200 },
    );
    expect([...kinds].sort()).toEqual(['aad', 'data', 'nonce']);
  });

  it('openBatch: a record shorter than the tag is DECRYPTION_FAILED at its index; empty batches are fine', () => {
    const aead = createAead(bytesFrom(3, 32), suite);
    const nonce = bytesFrom(4, 12);
    const good = { nonce, aad: new Uint8Array(0), data: aead.seal(nonce, new Uint8Array(0), bytesFrom(5, 3)) };
    for (const short of [0, 1, 15]) {
      const batch = packBatch([good, good, { nonce, aad: new Uint8Array(0), data: new Uint8Array(short) }, good]);
      expect(expectPeerError(() => aead.openBatch(batch), ErrorCode.DECRYPTION_FAILED).details?.index).toBe(2);
    }
    expect(aead.sealBatch(packBatch([])).length).toBe(0);
    expect(aead.openBatch(packBatch([])).length).toBe(0);
    aead.destroy();
  });
});

/** Splits sealBatch output back into records whose data is each ciphertext ‖ tag. */
function splitSealed(records: readonly AeadRecord[], sealed: Uint8Array): AeadRecord[] {
  let offset = 0;
  return records.map((r) => {
    const data = sealed.slice(offset, offset + r.data.length + 16);
    offset += r.data.length + 16;
    return { nonce: r.nonce, aad: r.aad, data };
  });
}
