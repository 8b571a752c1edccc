// Handshake primitives: Ed25519 sign/verify, X25519 (fresh key pair + shared secret) and one
// 32-byte HKDF-SHA256 derive, against the node:crypto equivalents on the same keys and inputs.
// node:crypto keys are KeyObjects prepared outside the timed call (the peer's public key
// included), which favours the reference: a real handshake would also import raw peer keys.
//
// X25519: the subject wipes its ephemeral secret and the shared secret, as a handshake does
// (ordinary buffers since this bench found sodium_malloc's per-call mmap exhausted the maps).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Identity, hkdf, wipe, x25519 } from '../dist/index.js';
import { sink } from './common.js';

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
/** What a handshake signs: a transcript of the hello messages. */
const TRANSCRIPT_BYTES = 128;

const GROUP = 'Handshake primitives';

function ed25519Keys() {
  const seed = crypto.randomBytes(32);
  const identity = Identity.fromSeed(seed);
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, identity.publicKey]), format: 'der', type: 'spki' });
  return { identity, privateKey, publicKey, message: crypto.randomBytes(TRANSCRIPT_BYTES) };
}

export function handshakeCases() {
  return [
    {
      id: 'ed25519/sign',
      group: GROUP,
      title: `Ed25519 sign (${TRANSCRIPT_BYTES} B)`,
      records: 1,
      bytes: TRANSCRIPT_BYTES,
      unit: 'ops',
      gated: true,
      quick: true,
      make() {
        const { identity, privateKey, message } = ed25519Keys();
        assert.deepEqual(identity.sign(message), crypto.sign(null, message, privateKey));
        return {
          subject: { name: 'peercomm Identity.sign (libsodium)', fn: () => { sink.v ^= identity.sign(message)[0]; } },
          reference: { name: 'node:crypto sign(null, msg, KeyObject)', fn: () => { sink.v ^= crypto.sign(null, message, privateKey)[0]; } },
        };
      },
    },
    {
      id: 'ed25519/verify',
      group: GROUP,
      title: `Ed25519 verify (${TRANSCRIPT_BYTES} B)`,
      records: 1,
      bytes: TRANSCRIPT_BYTES,
      unit: 'ops',
      make() {
        const { identity, publicKey, message } = ed25519Keys();
        const sig = identity.sign(message);
        const pub = identity.publicKey;
        Identity.verify(pub, message, sig);
        assert.equal(crypto.verify(null, message, publicKey, sig), true);
        return {
          subject: { name: 'peercomm Identity.verify (libsodium)', fn: () => { Identity.verify(pub, message, sig); } },
          reference: { name: 'node:crypto verify(null, msg, KeyObject, sig)', fn: () => { sink.v ^= crypto.verify(null, message, publicKey, sig) ? 1 : 0; } },
        };
      },
    },
    {
      id: 'x25519/keypair+shared',
      group: GROUP,
      title: 'X25519 key pair + shared secret',
      records: 1,
      bytes: 32,
      unit: 'ops',
      gated: true,
      make() {
        const peer = x25519.generateKeyPair();
        const peerKey = crypto.createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peer.publicKey]), format: 'der', type: 'spki' });
        // Both sides agree on one exchange before timing.
        const mine = crypto.generateKeyPairSync('x25519');
        const mineRaw = mine.privateKey.export({ format: 'jwk' }).d;
        const ours = x25519.sharedSecret(Buffer.from(mineRaw, 'base64url'), peer.publicKey);
        assert.ok(ours.equals(crypto.diffieHellman({ privateKey: mine.privateKey, publicKey: peerKey })), 'X25519 results differ');
        return {
          subject: {
            name: 'peercomm x25519.generateKeyPair + sharedSecret (libsodium; both secrets wiped)',
            fn: () => {
              const kp = x25519.generateKeyPair();
              const shared = x25519.sharedSecret(kp.secretKey, peer.publicKey);
              sink.v ^= shared[0] ^ kp.publicKey[0];
              wipe(shared);
              x25519.wipe(kp);
            },
          },
          reference: {
            name: "node:crypto generateKeyPairSync('x25519') + diffieHellman",
            fn: () => { const kp = crypto.generateKeyPairSync('x25519'); sink.v ^= crypto.diffieHellman({ privateKey: kp.privateKey, publicKey: peerKey })[0]; },
          },
        };
      },
    },
    {
      id: 'hkdf/32B',
      group: GROUP,
      title: 'HKDF-SHA256 derive 32 B',
      records: 1,
      bytes: 32,
      unit: 'ops',
      make() {
        const ikm = crypto.randomBytes(32);
        const salt = crypto.randomBytes(32);
        const info = Buffer.from('peercomm v1.1 session keys i->r');
        assert.deepEqual(hkdf(ikm, salt, info, 32), Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, 32)));
        return {
          subject: { name: 'peercomm hkdf (HMAC on node:crypto)', fn: () => { sink.v ^= hkdf(ikm, salt, info, 32)[0]; } },
          reference: { name: "node:crypto hkdfSync('sha256')", fn: () => { sink.v ^= new Uint8Array(crypto.hkdfSync('sha256', ikm, salt, info, 32))[0]; } },
        };
      },
    },
  ];
}
