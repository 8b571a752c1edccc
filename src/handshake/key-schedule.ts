/**
 * Key schedule (docs/PROTOCOL.md §6):
 *   handshake_hash = SHA-256(handshake_init ‖ handshake_init_ack)        (exact bytes)
 *   session_key    = HKDF-SHA256(ikm = X25519(eph, eph_peer), salt = handshake_hash,
 *                                info = "peer-v1.1-session-key", L = 32)  (the spec's formula)
 *   then HKDF-Expand(session_key, label, L) for each directional key (32) and IV (12), the
 *   confirmation key (32) and the session id (8). One key is never used by both sides.
 */
import { HmacSha256Key, hkdf, hmacSha256, sha256, wipe, x25519, type X25519KeyPair } from '../crypto/index.js';
import { SESSION_ID_BYTES } from '../wire/index.js';
import { LABELS, SESSION_KEY_INFO, labelBytes } from './constants.js';

export type Role = 'initiator' | 'responder';

/** Two keys, two IVs, the confirm key and the session id. */
const KEY_BLOCK_BYTES = 32 + 12 + 32 + 12 + 32 + SESSION_ID_BYTES;

export interface DirectionalKeys {
  sessionId: Buffer;
  sendKey: Buffer;
  sendIv: Buffer;
  recvKey: Buffer;
  recvIv: Buffer;
  /** MAC key for session_established / session_confirm / ready; wiped when READY. */
  confirmKey: Buffer;
}

export function transcriptHash(init: Uint8Array, initAck: Uint8Array): Buffer {
  return sha256(Buffer.concat([init, initAck]));
}

/**
 * Derives every key from our ephemeral pair and the peer's ephemeral public key, then wipes the
 * ephemeral secret, the shared secret and session_key (forward secrecy).
 */
export function deriveKeys(ephemeral: X25519KeyPair, peerEphemeral: Uint8Array, handshakeHash: Uint8Array, role: Role): DirectionalKeys {
  let shared: Buffer | null = null;
  let sessionKey: Buffer | null = null;
  let prk: HmacSha256Key | null = null;
  try {
    shared = x25519.sharedSecret(ephemeral.secretKey, peerEphemeral);
    sessionKey = hkdf(shared, handshakeHash, labelBytes(SESSION_KEY_INFO), 32);
    // session_key is the PRK of six expansions: its HMAC states are computed once. The six
    // values share one allocation of their own (not Node's pool): a READY session holds one
    // ArrayBuffer for its keys, IVs and id instead of five; each is wiped in place as before.
    prk = new HmacSha256Key(sessionKey);
    const block = Buffer.allocUnsafeSlow(KEY_BLOCK_BYTES);
    let at = 0;
    const expand = (label: string, length: number): Buffer => prk!.expandInto(labelBytes(label), block.subarray(at, (at += length)));
    const i2rKey = expand(LABELS.keyInitiatorToResponder, 32);
    const i2rIv = expand(LABELS.ivInitiatorToResponder, 12);
    const r2iKey = expand(LABELS.keyResponderToInitiator, 32);
    const r2iIv = expand(LABELS.ivResponderToInitiator, 12);
    const initiator = role === 'initiator';
    return {
      sessionId: expand(LABELS.sessionId, SESSION_ID_BYTES),
      confirmKey: expand(LABELS.confirmKey, 32),
      sendKey: initiator ? i2rKey : r2iKey,
      sendIv: initiator ? i2rIv : r2iIv,
      recvKey: initiator ? r2iKey : i2rKey,
      recvIv: initiator ? r2iIv : i2rIv,
    };
  } finally {
    x25519.wipe(ephemeral);
    prk?.wipe();
    wipe(shared, sessionKey);
  }
}

/** HMAC-SHA256(confirmKey, context ‖ session_id): the key-confirmation values of steps 4–6. */
export function confirmation(confirmKey: Uint8Array, context: string, sessionId: Uint8Array): Buffer {
  return hmacSha256(confirmKey, Buffer.concat([labelBytes(context), sessionId]));
}
