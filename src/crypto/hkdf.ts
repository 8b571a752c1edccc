/**
 * HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869). They run a handful of times per
 * handshake, never per record, so node:crypto's HMAC is used as is.
 */
import crypto from 'node:crypto';
import { ErrorCode, PeerError } from '../errors.js';
import { assertBytes, constantTimeEqual, SHA256_BYTES, wipe } from './bytes.js';

/** RFC 5869 §2.3: L ≤ 255 · HashLen. */
export const HKDF_MAX_LENGTH = 255 * SHA256_BYTES;
/** Shortest HMAC tag we accept when verifying a truncated tag (RFC 2104 §5: ≥ half the hash). */
export const HMAC_MIN_TAG_BYTES = 16;

export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  assertBytes(key, 'key');
  assertBytes(data, 'data');
  return crypto.createHmac('sha256', key).update(data).digest();
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

/** HKDF-Expand(PRK, info, L) → OKM, T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  assertBytes(prk, 'prk');
  assertBytes(info, 'info');
  if (!Number.isInteger(length) || length < 0 || length > HKDF_MAX_LENGTH) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `HKDF length must be 0 to ${HKDF_MAX_LENGTH}, got ${length}`);
  }
  // Key material gets its own allocation, never a slice of Node's shared pool beside other data.
  const out = Buffer.allocUnsafeSlow(length);
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    const t = crypto.createHmac('sha256', prk).update(previous).update(info).update(Uint8Array.of(i)).digest();
    wipe(previous);
    t.copy(out, offset, 0, Math.min(SHA256_BYTES, length - offset));
    offset += SHA256_BYTES;
    previous = t;
  }
  wipe(previous);
  return out;
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
