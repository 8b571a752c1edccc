/** The AEAD error contract: destroyed contexts, wrong sizes and bad arguments, each with its code. */
import { describe, expect, it } from 'vitest';
import { AEAD_SUITES, createAead, ErrorCode, packBatch, type Aead, type AeadBatch, type AeadSuite } from '../../src/index.js';
import { expectPeerError } from '../helpers/errors.js';
import { bytesFrom, hexOf } from '../helpers/aead.js';

const key = bytesFrom(11, 32);
const nonce = bytesFrom(12, 12);
const aad = bytesFrom(13, 5);
const pt = bytesFrom(14, 40);
const none = new Uint8Array(0);

describe.each(AEAD_SUITES)('%s error contract', (suite: AeadSuite) => {
  it('destroy(): every later call throws INVALID_STATE; destroy again is harmless', () => {
    const aead = createAead(key, suite);
    const sealed = aead.seal(nonce, aad, pt);
    const batch = packBatch([{ nonce, aad, data: pt }]);
    const sealedBatch = packBatch([{ nonce, aad, data: sealed }]);
    aead.destroy();
    const calls: [string, (a: Aead) => unknown][] = [
      ['seal', (a) => a.seal(nonce, aad, pt)],
      ['open', (a) => a.open(nonce, aad, sealed)],
      ['sealInto', (a) => a.sealInto(nonce, aad, pt, Buffer.alloc(pt.length + 16))],
      ['openInto', (a) => a.openInto(nonce, aad, sealed, Buffer.alloc(pt.length))],
      ['sealBatch', (a) => a.sealBatch(batch)],
      ['openBatch', (a) => a.openBatch(sealedBatch)],
    ];
    for (const [name, call] of calls) expectPeerError(() => call(aead), ErrorCode.INVALID_STATE, name);
    expect(() => aead.destroy()).not.toThrow();
    expectPeerError(() => aead.seal(nonce, aad, pt), ErrorCode.INVALID_STATE);
    // Another context for the same key is unaffected and still interoperates.
    const other = createAead(key, suite);
    expect(hexOf(other.open(nonce, aad, sealed))).toBe(hexOf(pt));
    other.destroy();
  });

  it('the key is copied: wiping the caller’s key does not change the context', () => {
    const mine = Buffer.from(key);
    const aead = createAead(mine, suite);
    const before = aead.seal(nonce, aad, pt);
    mine.fill(0);
    expect(hexOf(aead.seal(nonce, aad, pt))).toBe(hexOf(before));
    aead.destroy();
  });

  it('a key of the wrong size or type is INVALID_KEY', () => {
    for (const size of [0, 1, 16, 24, 31, 33, 64]) {
      expectPeerError(() => createAead(new Uint8Array(size), suite), ErrorCode.INVALID_KEY, `key ${size}`);
    }
    for (const notBytes of [null, undefined, 'k'.repeat(32), Array.from(key), new Uint16Array(16)]) {
      expectPeerError(() => createAead(notBytes as unknown as Uint8Array, suite), ErrorCode.INVALID_KEY, String(notBytes));
    }
  });

  it('a nonce of the wrong size or type is INVALID_ARGUMENT on every call', () => {
    const aead = createAead(key, suite);
    const sealed = aead.seal(nonce, aad, pt);
    for (const size of [0, 1, 8, 11, 13, 16, 24]) {
      const n = new Uint8Array(size);
      const m = `nonce ${size}`;
      expectPeerError(() => aead.seal(n, aad, pt), ErrorCode.INVALID_ARGUMENT, m);
      expectPeerError(() => aead.open(n, aad, sealed), ErrorCode.INVALID_ARGUMENT, m);
      expectPeerError(() => aead.sealInto(n, aad, pt, Buffer.alloc(pt.length + 16)), ErrorCode.INVALID_ARGUMENT, m);
      expectPeerError(() => aead.openInto(n, aad, sealed, Buffer.alloc(pt.length)), ErrorCode.INVALID_ARGUMENT, m);
      expectPeerError(() => packBatch([{ nonce: n, aad, data: pt }]), ErrorCode.INVALID_ARGUMENT, m);
    }
    expectPeerError(() => aead.seal('x'.repeat(12) as unknown as Uint8Array, aad, pt), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => aead.seal(nonce, 'aad' as unknown as Uint8Array, pt), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => aead.seal(nonce, aad, [1, 2] as unknown as Uint8Array), ErrorCode.INVALID_ARGUMENT);
    aead.destroy();
  });

  it('sealed input shorter than the 16-byte tag is DECRYPTION_FAILED', () => {
    const aead = createAead(key, suite);
    for (let size = 0; size < 16; size++) {
      expectPeerError(() => aead.open(nonce, aad, new Uint8Array(size)), ErrorCode.DECRYPTION_FAILED, `sealed ${size}`);
      expectPeerError(() => aead.openInto(nonce, aad, new Uint8Array(size), Buffer.alloc(16)), ErrorCode.DECRYPTION_FAILED, `sealed ${size}`);
    }
    // Exactly a tag (empty plaintext) is a well-formed input: a random one fails the tag check.
    expectPeerError(() => aead.open(nonce, aad, new Uint8Array(16)), ErrorCode.DECRYPTION_FAILED);
    expect(aead.open(nonce, aad, aead.seal(nonce, aad, none)).length).toBe(0);
    aead.destroy();
  });

  it('output regions that do not fit, or bad offsets, are INVALID_ARGUMENT and leave out unchanged', () => {
    const aead = createAead(key, suite);
    const sealed = aead.seal(nonce, aad, pt);
    const cases: [string, () => unknown, Uint8Array][] = [];
    const small = Buffer.alloc(pt.length + 15, 0x33);
    cases.push(['sealInto too small', () => aead.sealInto(nonce, aad, pt, small), small]);
    const shifted = Buffer.alloc(pt.length + 16, 0x33);
    cases.push(['sealInto offset overflows', () => aead.sealInto(nonce, aad, pt, shifted, 1), shifted]);
    const plain = Buffer.alloc(pt.length - 1, 0x33);
    cases.push(['openInto too small', () => aead.openInto(nonce, aad, sealed, plain), plain]);
    for (const offset of [-1, 0.5, Number.NaN]) {
      const out = Buffer.alloc(pt.length + 64, 0x33);
      cases.push([`offset ${offset}`, () => aead.sealInto(nonce, aad, pt, out, offset), out]);
    }
    const batchOut = Buffer.alloc(pt.length + 15, 0x33);
    cases.push(['sealBatch out too small', () => aead.sealBatch(packBatch([{ nonce, aad, data: pt }]), batchOut), batchOut]);
    for (const [name, call, out] of cases) {
      expectPeerError(call, ErrorCode.INVALID_ARGUMENT, name);
      expect(out.every((b) => b === 0x33), name).toBe(true);
    }
    expectPeerError(() => aead.sealInto(nonce, aad, pt, 'out' as unknown as Uint8Array), ErrorCode.INVALID_ARGUMENT);
    aead.destroy();
  });

  it('malformed batches are INVALID_ARGUMENT', () => {
    const aead = createAead(key, suite);
    const good = packBatch([{ nonce, aad, data: pt }, { nonce, aad: none, data: none }]);
    const variants: [string, AeadBatch][] = [
      ['nonces short', { ...good, nonces: good.nonces.subarray(0, 23) }],
      ['aad lengths table too short', { ...good, aadLengths: new Uint32Array(1) }],
      ['lengths exceed data', { ...good, lengths: Uint32Array.of(pt.length + 1, 0) }],
      ['aad lengths exceed aad', { ...good, aadLengths: Uint32Array.of(aad.length + 1, 0) }],
      ['lengths not a Uint32Array', { ...good, lengths: Array.from(good.lengths) as unknown as Uint32Array }],
      ['data not bytes', { ...good, data: 'data' as unknown as Uint8Array }],
    ];
    for (const [name, batch] of variants) {
      expectPeerError(() => aead.sealBatch(batch), ErrorCode.INVALID_ARGUMENT, name);
    }
    expectPeerError(() => aead.sealBatch(null as unknown as AeadBatch), ErrorCode.INVALID_ARGUMENT);
    aead.destroy();
  });
});

it('an unknown suite is INVALID_ARGUMENT', () => {
  expectPeerError(() => createAead(key, 'aes-128-gcm' as AeadSuite), ErrorCode.INVALID_ARGUMENT);
});
