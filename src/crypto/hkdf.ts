/**
 * HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) on libsodium's incremental SHA-256. A key's
 * inner and outer states (SHA-256 after its ipad and opad block) are computed once
 * (`HmacSha256Key`) and copied for each MAC, so the handshake's key schedule (one PRK, six
 * expansions) hashes the key blocks once, and no node:crypto Hmac object is built per call
 * (about 10 µs each on Node 20, ten or so per handshake and side).
 */
import sodium from 'sodium-native';
import { ErrorCode, PeerError } from '../errors.js';
import { assertBytes, constantTimeEqual, SHA256_BYTES, wipe } from './bytes.js';

/** RFC 5869 §2.3: L ≤ 255 · HashLen. */
export const HKDF_MAX_LENGTH = 255 * SHA256_BYTES;
/** Shortest HMAC tag we accept when verifying a truncated tag (RFC 2104 §5: ≥ half the hash). */
export const HMAC_MIN_TAG_BYTES = 16;
/** SHA-256's block size B (RFC 2104 §2). */
const BLOCK_BYTES = 64;
const STATE_BYTES: number = sodium.crypto_hash_sha256_STATEBYTES;
/** One allocation holds a key's states, the running state, the inner hash and the key block. */
const INNER = 0;
const OUTER = STATE_BYTES;
const WORK = 2 * STATE_BYTES;
const INNER_HASH = 3 * STATE_BYTES;
const BLOCK = INNER_HASH + SHA256_BYTES;
const MEMORY_BYTES = BLOCK + BLOCK_BYTES;

/**
 * An HMAC-SHA256 key as its two precomputed SHA-256 states (after the ipad and the opad block),
 * copied for each MAC. Holds key material: wipe() it when done. Its memory is one allocation of
 * its own, never in Node's shared pool, wiped with one call.
 */
export class HmacSha256Key {
  private readonly memory = Buffer.alloc(MEMORY_BYTES);
  private readonly inner = this.memory.subarray(INNER, OUTER);
  private readonly outer = this.memory.subarray(OUTER, WORK);
  private readonly work = this.memory.subarray(WORK, INNER_HASH);
  private readonly innerHash = this.memory.subarray(INNER_HASH, BLOCK);
  private readonly block = this.memory.subarray(BLOCK, MEMORY_BYTES);

  constructor(key?: Uint8Array) {
    if (key !== undefined) this.setKey(key);
  }

  /** (Re)keys: computes the two states; the padded key block is wiped at once. */
  setKey(key: Uint8Array): this {
    assertBytes(key, 'key');
    const block = this.block;
    block.fill(0);
    // RFC 2104 §2: a key longer than B is hashed first; shorter keys are zero-padded to B.
    if (key.length > BLOCK_BYTES) sodium.crypto_hash_sha256(block.subarray(0, SHA256_BYTES), key);
    else block.set(key);
    for (let i = 0; i < BLOCK_BYTES; i++) block[i]! ^= 0x36;
    sodium.crypto_hash_sha256_init(this.inner);
    sodium.crypto_hash_sha256_update(this.inner, block);
    for (let i = 0; i < BLOCK_BYTES; i++) block[i]! ^= 0x36 ^ 0x5c;
    sodium.crypto_hash_sha256_init(this.outer);
    sodium.crypto_hash_sha256_update(this.outer, block);
    block.fill(0);
    return this;
  }

  /** HMAC(key, a ‖ b ‖ c) into `out` (32 bytes); b and c optional. */
  macInto(out: Uint8Array, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): void {
    const work = this.work;
    this.inner.copy(work);
    sodium.crypto_hash_sha256_update(work, a);
    if (b !== undefined) sodium.crypto_hash_sha256_update(work, b);
    if (c !== undefined) sodium.crypto_hash_sha256_update(work, c);
    sodium.crypto_hash_sha256_final(work, this.innerHash);
    this.outer.copy(work);
    sodium.crypto_hash_sha256_update(work, this.innerHash);
    sodium.crypto_hash_sha256_final(work, out);
  }

  mac(data: Uint8Array): Buffer {
    const out = Buffer.alloc(SHA256_BYTES);
    this.macInto(out, data);
    return out;
  }

  /** HKDF-Expand(this key as PRK, info, L) → OKM, T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i). */
  expand(info: Uint8Array, length: number): Buffer {
    if (!Number.isInteger(length) || length < 0 || length > HKDF_MAX_LENGTH) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `HKDF length must be 0 to ${HKDF_MAX_LENGTH}, got ${length}`);
    }
    // Key material gets its own allocation, never a slice of Node's shared pool beside other data.
    return this.expandInto(info, Buffer.allocUnsafeSlow(length));
  }

  /**
   * HKDF-Expand into `out` (L = out.length), e.g. a view of one allocation holding a session's
   * keys together. Returns `out`.
   */
  expandInto<T extends Uint8Array>(info: Uint8Array, out: T): T {
    assertBytes(info, 'info');
    const length = out.length;
    if (length > HKDF_MAX_LENGTH) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `HKDF length must be 0 to ${HKDF_MAX_LENGTH}, got ${length}`);
    const counter = Uint8Array.of(1);
    if (length <= SHA256_BYTES) {
      // One block (every key the handshake derives): straight into out when it is whole.
      if (length === SHA256_BYTES) this.macInto(out, info, counter);
      else {
        this.macInto(this.innerHash, info, counter);
        out.set(this.innerHash.subarray(0, length));
      }
      return out;
    }
    const t = Buffer.alloc(SHA256_BYTES);
    for (let offset = 0; offset < length; offset += SHA256_BYTES) {
      if (counter[0] === 1) this.macInto(t, info, counter);
      else this.macInto(t, t, info, counter);
      out.set(t.subarray(0, Math.min(SHA256_BYTES, length - offset)), offset);
      counter[0]!++;
    }
    wipe(t);
    return out;
  }

  wipe(): void {
    wipe(this.memory);
  }
}

/** The key of one-shot MACs: rekeyed and wiped around each call (everything here is synchronous). */
const oneShot = new HmacSha256Key();

export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  assertBytes(data, 'data');
  try {
    return oneShot.setKey(key).mac(data);
  } finally {
    oneShot.wipe();
  }
}

/**
 * Checks a tag, full or truncated to its leading bytes (≥ 16), in constant time.
 * Throws PeerError INVALID_SIGNATURE when it does not match.
 */
export function hmacSha256Verify(key: Uint8Array, data: Uint8Array, tag: Uint8Array): void {
  assertBytes(tag, 'tag');
  if (tag.length < HMAC_MIN_TAG_BYTES || tag.length > SHA256_BYTES) {
    throw new PeerError(ErrorCode.INVALID_SIGNATURE, `HMAC tag must be ${HMAC_MIN_TAG_BYTES} to ${SHA256_BYTES} bytes`);
  }
  const expected = hmacSha256(key, data);
  const ok = constantTimeEqual(expected.subarray(0, tag.length), tag);
  wipe(expected);
  if (!ok) throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'HMAC tag does not match');
}

/** HKDF-Extract(salt, IKM) → PRK. An empty salt means HashLen zero bytes (RFC 5869 §2.2). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Buffer {
  assertBytes(salt, 'salt');
  assertBytes(ikm, 'ikm');
  return hmacSha256(salt.length === 0 ? Buffer.alloc(SHA256_BYTES) : salt, ikm);
}

/** HKDF-Expand(PRK, info, L) → OKM (RFC 5869 §2.3). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  try {
    return oneShot.setKey(prk).expand(info, length);
  } finally {
    oneShot.wipe();
  }
}

/** HKDF-SHA256 (RFC 5869): Expand(Extract(salt, ikm), info, length). The PRK is wiped. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length: number): Buffer {
  const prk = hkdfExtract(salt, ikm);
  try {
    return hkdfExpand(prk, typeof info === 'string' ? Buffer.from(info, 'utf8') : info, length);
  } finally {
    wipe(prk);
  }
}
