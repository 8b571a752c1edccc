/** Ephemeral X25519 (RFC 7748) on libsodium. One key pair per handshake, wiped after use. */
import sodium from 'sodium-native';
import { ErrorCode, PeerError } from '../errors.js';
import { assertBytes, wipe } from './bytes.js';

export const X25519_KEY_BYTES = 32;

export interface X25519KeyPair {
  publicKey: Buffer;
  /** Wipe it (x25519.wipe) as soon as the shared secret is derived. */
  secretKey: Buffer;
}

/*
 * Ephemeral secrets live in ordinary buffers, wiped explicitly, not in sodium_malloc memory:
 * sodium_malloc maps guard pages per call (~27 µs) and is only unmapped when the buffer is
 * collected, so thousands of handshakes in a burst exhaust the process's memory maps.
 */

function generateKeyPair(): X25519KeyPair {
  const secretKey = Buffer.alloc(X25519_KEY_BYTES);
  sodium.randombytes_buf(secretKey);
  const publicKey = Buffer.allocUnsafe(X25519_KEY_BYTES);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey };
}

function publicKeyOf(secretKey: Uint8Array): Buffer {
  assertBytes(secretKey, 'X25519 secret key', X25519_KEY_BYTES, ErrorCode.INVALID_KEY);
  const publicKey = Buffer.allocUnsafe(X25519_KEY_BYTES);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return publicKey;
}

/**
 * X25519(secretKey, peerPublicKey). A low-order peer key gives the all-zero secret, which
 * libsodium refuses: that is PeerError INVALID_KEY, never a zero key.
 */
function sharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Buffer {
  assertBytes(secretKey, 'X25519 secret key', X25519_KEY_BYTES, ErrorCode.INVALID_KEY);
  assertBytes(peerPublicKey, 'X25519 public key', X25519_KEY_BYTES, ErrorCode.INVALID_KEY);
  const out = Buffer.alloc(X25519_KEY_BYTES);
  try {
    sodium.crypto_scalarmult(out, secretKey, peerPublicKey);
  } catch {
    wipe(out);
    throw new PeerError(ErrorCode.INVALID_KEY, 'X25519 result is all zero (low-order public key)');
  }
  return out;
}

export const x25519 = {
  generateKeyPair,
  publicKeyOf,
  sharedSecret,
  /** Wipes a key pair's secret half (forward secrecy). */
  wipe(pair: X25519KeyPair): void {
    wipe(pair.secretKey);
  },
} as const;
