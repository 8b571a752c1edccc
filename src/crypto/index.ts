export { engine, type Engine } from './native.js';
export {
  createAead, packBatch, AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, AEAD_SUITES,
  type Aead, type AeadBatch, type AeadRecord, type AeadSuite,
} from './aead.js';
export { Identity, fingerprintOf, ED25519_PUBLIC_KEY_BYTES, ED25519_SEED_BYTES, ED25519_SIGNATURE_BYTES } from './identity.js';
export { x25519, X25519_KEY_BYTES, type X25519KeyPair } from './x25519.js';
export { hkdf, hkdfExtract, hkdfExpand, hmacSha256, hmacSha256Verify, HmacSha256Key, HKDF_MAX_LENGTH } from './hkdf.js';
export { constantTimeEqual, randomBytes, sha256, wipe } from './bytes.js';
