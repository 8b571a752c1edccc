/**
 * Node ids and the XOR metric. A node id is SHA-256 of the node's Ed25519 public key, so ids are
 * spread uniformly and cannot be chosen freely; record keys are SHA-256 digests too.
 */
import { sha256 } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { ID_BITS, ID_BYTES } from './constants.js';

export type NodeId = Uint8Array;

export function nodeIdOf(publicKey: Uint8Array): Buffer {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new PeerError(ErrorCode.INVALID_KEY, 'a node public key must be 32 bytes');
  }
  return sha256(publicKey);
}

export function assertId(id: unknown, name = 'id'): asserts id is Uint8Array {
  if (!(id instanceof Uint8Array) || id.length !== ID_BYTES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `${name} must be ${ID_BYTES} bytes`);
  }
}

/**
 * Orders a and b by XOR distance to target: negative when a is closer, 0 when a equals b.
 * `ao`/`bo` are offsets into a and b, so ids stored inside larger buffers compare in place.
 */
export function compareDistance(a: Uint8Array, b: Uint8Array, target: Uint8Array, ao = 0, bo = 0): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const t = target[i]!;
    const x = a[ao + i]! ^ t;
    const y = b[bo + i]! ^ t;
    if (x !== y) return x - y;
  }
  return 0;
}

/**
 * The leading 45 bits of the XOR distance from the id at `a[ao..]` to `target`, as an exact
 * integer: orders ids by distance with one number comparison, except the rare ids whose
 * distances share those 45 bits (compare them with compareDistance).
 */
export function distancePrefix(a: Uint8Array, ao: number, target: Uint8Array): number {
  const hi = (((a[ao]! ^ target[0]!) << 16) | ((a[ao + 1]! ^ target[1]!) << 8) | (a[ao + 2]! ^ target[2]!)) >>> 0;
  const lo = (((a[ao + 3]! ^ target[3]!) << 13) | ((a[ao + 4]! ^ target[4]!) << 5) | ((a[ao + 5]! ^ target[5]!) >> 3)) >>> 0;
  return hi * 0x200000 + lo;
}

/** Shared leading bits of a and b (256 when equal): the index of b's bucket in a's table. */
export function commonPrefixLength(a: Uint8Array, b: Uint8Array, bo = 0): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = a[i]! ^ b[bo + i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return ID_BITS;
}

export function idsEqual(a: Uint8Array, b: Uint8Array, bo = 0): boolean {
  for (let i = 0; i < ID_BYTES; i++) if (a[i] !== b[bo + i]) return false;
  return true;
}

/** A uniformly random id sharing exactly `prefix` leading bits with `self` (bucket `prefix`). */
export function randomIdInBucket(self: Uint8Array, prefix: number, random: Uint8Array): Uint8Array {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix >= ID_BITS) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `bucket index must be 0..${ID_BITS - 1}`);
  }
  const out = new Uint8Array(ID_BYTES);
  out.set(random.subarray(0, ID_BYTES));
  const byte = prefix >> 3;
  const bit = prefix & 7;
  for (let i = 0; i < byte; i++) out[i] = self[i]!;
  // Bits above `bit` in this byte come from self, bit `bit` is flipped, the rest stay random.
  const keep = (0xff00 >> bit) & 0xff;
  const flip = 0x80 >> bit;
  out[byte] = (self[byte]! & keep) | (~self[byte]! & flip) | (out[byte]! & ~(keep | flip) & 0xff);
  return out;
}

export function idHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.length).toString('hex');
}
