/**
 * Mailbox envelopes (docs/RELAY.md "Mailboxes", PROTOCOL.md §10): a message sealed to the
 * recipient's mailbox X25519 key, with the sender's identity and signature inside the seal, so
 * the mailbox learns the recipient, size and timing, never the content or the sender.
 *
 *   eph      = fresh X25519 key pair (one per envelope)
 *   key      = HKDF-SHA256(X25519(eph, mailbox_key), salt = eph_pub ‖ mailbox_key, "peercomm mailbox v1", 32)
 *   aad      = recipient Ed25519 key (32) ‖ id (16) ‖ expires_at (u64)
 *   inner    = sender key (32) ‖ entity id (u8 len ‖ UTF-8) ‖ type (u8) ‖ signature (64) ‖ payload
 *   signature = Ed25519(sender, "peercomm mailbox envelope v1" ‖ 0x00 ‖ aad ‖ type ‖ payload)
 *   envelope = eph_pub (32) ‖ AES-256-GCM(key, nonce = 0^12, aad, inner) (ciphertext ‖ tag)
 *
 * The key is used once (fresh ephemeral), so the fixed nonce never repeats under a key.
 */
import { Identity, createAead, hkdf, wipe, x25519 } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { ByteReader, ByteWriter } from '../wire/reader.js';
import { writeU64 } from '../wire/u64.js';

const INFO = 'peercomm mailbox v1';
const SIGN_CONTEXT = Buffer.from('peercomm mailbox envelope v1\0', 'utf8');
const NONCE = new Uint8Array(12);

export interface Letter {
  id: Uint8Array;
  expiresAt: number;
  type: number;
  payload: Uint8Array;
}

export interface OpenedLetter extends Letter {
  from: string;
  senderKey: Uint8Array;
}

export function envelopeAad(recipient: Uint8Array, id: Uint8Array, expiresAt: number): Buffer {
  const aad = Buffer.alloc(56);
  Buffer.from(recipient).copy(aad, 0);
  Buffer.from(id).copy(aad, 32);
  writeU64(new DataView(aad.buffer, aad.byteOffset, aad.length), 48, expiresAt, 'expires_at');
  return aad;
}

function keyFor(shared: Buffer, ephPub: Uint8Array, mailboxKey: Uint8Array): Buffer {
  const k = hkdf(shared, Buffer.concat([ephPub, mailboxKey]), INFO, 32);
  wipe(shared);
  return k;
}

export function sealLetter(sender: Identity, senderId: string, recipient: Uint8Array, mailboxKey: Uint8Array, l: Letter): Buffer {
  const aad = envelopeAad(recipient, l.id, l.expiresAt);
  const signature = sender.sign(Buffer.concat([SIGN_CONTEXT, aad, Uint8Array.of(l.type), l.payload]));
  const inner = new ByteWriter().raw(sender.publicKey).shortString(senderId).u8(l.type).raw(signature).raw(l.payload).finish();
  const eph = x25519.generateKeyPair();
  const key = keyFor(x25519.sharedSecret(eph.secretKey, mailboxKey), eph.publicKey, mailboxKey);
  x25519.wipe(eph);
  const aead = createAead(key);
  wipe(key);
  try {
    return Buffer.concat([eph.publicKey, aead.seal(NONCE, aad, inner)]);
  } finally {
    aead.destroy();
  }
}

/** Opens an envelope with our mailbox secret; INVALID_SIGNATURE / DECRYPTION_FAILED / MALFORMED_FRAME otherwise. */
export function openLetter(mailboxSecret: Uint8Array, recipient: Uint8Array, id: Uint8Array, expiresAt: number, envelope: Uint8Array): OpenedLetter {
  if (envelope.length < 32 + 16) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'mailbox envelope too short');
  const ephPub = envelope.subarray(0, 32);
  const key = keyFor(x25519.sharedSecret(mailboxSecret, ephPub), ephPub, x25519.publicKeyOf(mailboxSecret));
  const aead = createAead(key);
  wipe(key);
  const aad = envelopeAad(recipient, id, expiresAt);
  let inner: Uint8Array;
  try {
    inner = aead.open(NONCE, aad, envelope.subarray(32));
  } catch {
    throw new PeerError(ErrorCode.DECRYPTION_FAILED, 'mailbox envelope does not open');
  } finally {
    aead.destroy();
  }
  const r = new ByteReader(inner, 'mailbox envelope');
  const senderKey = new Uint8Array(r.bytesView(32));
  const from = r.shortString();
  const type = r.u8();
  const signature = r.bytesView(64);
  const payload = new Uint8Array(r.bytesView(r.remaining));
  if (!Identity.isValidSignature(senderKey, Buffer.concat([SIGN_CONTEXT, aad, Uint8Array.of(type), payload]), signature)) {
    throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'mailbox envelope: the sender signature does not verify');
  }
  return { id, expiresAt, type, payload, from, senderKey };
}
