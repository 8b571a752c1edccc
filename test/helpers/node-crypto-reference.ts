/**
 * The protocol's key schedule written from docs/PROTOCOL.md with node:crypto only (no peercomm
 * code), so tests can check the library against an independent reading of the document.
 */
import crypto from 'node:crypto';

const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519Key(seed: Uint8Array): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519Public(seed: Uint8Array): Buffer {
  return crypto.createPublicKey(ed25519Key(seed)).export({ format: 'der', type: 'spki' }).subarray(-32);
}

export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' });
  return crypto.verify(null, message, key, signature);
}

export function x25519Public(secret: Uint8Array): Buffer {
  const key = crypto.createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' });
  return crypto.createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32);
}

export function x25519(secret: Uint8Array, peerPublic: Uint8Array): Buffer {
  return crypto.diffieHellman({
    privateKey: crypto.createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' }),
    publicKey: crypto.createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPublic]), format: 'der', type: 'spki' }),
  });
}

export const sha256 = (...parts: Uint8Array[]): Buffer => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
export const hmac = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => crypto.createHmac('sha256', key).update(Buffer.concat(parts)).digest();

/** RFC 5869 expand, written out (node's hkdfSync always extracts first). */
export function expand(prk: Uint8Array, info: string, length: number): Buffer {
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; out.length * 32 < length; i++) {
    t = hmac(prk, t, Buffer.from(info), Buffer.of(i));
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

/** Every value of PROTOCOL.md §5 from the shared secret and the transcript. */
export function keySchedule(shared: Uint8Array, init: Uint8Array, initAck: Uint8Array) {
  const handshakeHash = sha256(init, initAck);
  const sessionKey = Buffer.from(crypto.hkdfSync('sha256', shared, handshakeHash, 'peer-v1.1-session-key', 32));
  return {
    handshakeHash,
    sessionKey,
    keyI2R: expand(sessionKey, 'peer-v1.1 key initiator->responder', 32),
    ivI2R: expand(sessionKey, 'peer-v1.1 iv initiator->responder', 12),
    keyR2I: expand(sessionKey, 'peer-v1.1 key responder->initiator', 32),
    ivR2I: expand(sessionKey, 'peer-v1.1 iv responder->initiator', 12),
    confirmKey: expand(sessionKey, 'peer-v1.1 key confirmation', 32),
    sessionId: expand(sessionKey, 'peer-v1.1 session id', 8),
  };
}

/** nonce = IV XOR u64be(seq) in the last 8 bytes. */
export function recordNonce(iv: Uint8Array, seq: number): Buffer {
  const n = Buffer.from(iv);
  const s = Buffer.alloc(12);
  s.writeBigUInt64BE(BigInt(seq), 4);
  for (let i = 0; i < 12; i++) n[i]! ^= s[i]!;
  return n;
}

export function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

export function aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer {
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}
