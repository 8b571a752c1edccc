/** Byte helpers shared by the crypto layer: checks, randomness, hashing, wiping. */
import sodium from 'sodium-native';
import { ErrorCode, PeerError } from '../errors.js';

export const SHA256_BYTES = 32;

/** Throws PeerError(code) unless `value` is a Uint8Array, of exactly `size` bytes if given. */
export function assertBytes(
  value: unknown,
  name: string,
  size?: number,
  code: ErrorCode = ErrorCode.INVALID_ARGUMENT,
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PeerError(code, `${name} must be a Uint8Array`);
  if (size !== undefined && value.length !== size) {
    throw new PeerError(code, `${name} must be ${size} bytes, got ${value.length}`);
  }
}

export function randomBytes(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  sodium.randombytes_buf(out);
  return out;
}

export function sha256(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SHA256_BYTES);
  sodium.crypto_hash_sha256(out, data);
  return out;
}

/** Overwrites secret bytes in place (sodium_memzero cannot be optimised away). */
export function wipe(...buffers: (Uint8Array | null | undefined)[]): void {
  for (const b of buffers) if (b && b.length > 0) sodium.sodium_memzero(b);
}

/** Constant-time equality; different lengths compare unequal without reading the contents. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && (a.length === 0 || sodium.sodium_memcmp(a, b));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/** Strict hex decoding: even length, hex digits only, optionally an exact size. */
export function fromHex(hex: string, name: string, size?: number, code: ErrorCode = ErrorCode.INVALID_ARGUMENT): Buffer {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new PeerError(code, `${name} must be a hex string`);
  }
  const out = Buffer.from(hex, 'hex');
  if (size !== undefined && out.length !== size) {
    throw new PeerError(code, `${name} must be ${size} bytes (${size * 2} hex chars)`);
  }
  return out;
}
