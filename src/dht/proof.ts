/**
 * Proven node ids (S/Kademlia §4, as BEP 42 and libp2p do it in their ways): a node id is
 * SHA-256 of an Ed25519 public key, and a contact enters a routing table only after it has
 * signed, with that key, a nonce we sent to the address it is entered with (docs/DHT.md §2.3):
 *
 *     PING body  = nonce (16 random bytes, fresh per PING)
 *     PONG body  = observed address (7 or 19) ‖ signature (64)
 *     signature  = Ed25519(responder's key, "peercomm dht pong v1" ‖ 0x00 ‖ nonce ‖ observed)
 *
 * A spoofed source never sees the nonce, so it never answers; a node that claims another's
 * public key from its own address cannot sign for it. One signature per PING answered and one
 * verification per contact admitted: both bounded (PINGs are rate limited, our own PINGs capped).
 */
import { constantTimeEqual, HmacSha256Key, Identity } from '../crypto/index.js';
import type { RandomSource } from './random.js';

export const NONCE_BYTES = 16;
export const SIGNATURE_BYTES = 64;
const CONTEXT = Buffer.from('peercomm dht pong v1\0', 'latin1');

/** The node's key: its public key is in every datagram, and it signs PONGs. */
export interface NodeSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** True when `signature` is `publicKey`'s signature of `message`. */
export type ProofVerifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

export const ed25519Verifier: ProofVerifier = (pk, message, sig) => Identity.isValidSignature(pk, message, sig);

/** The bytes a PONG's signature covers. */
export function proofMessage(nonce: Uint8Array, observed: Uint8Array): Uint8Array {
  const out = new Uint8Array(CONTEXT.length + nonce.length + observed.length);
  out.set(CONTEXT, 0);
  out.set(nonce, CONTEXT.length);
  out.set(observed, CONTEXT.length + nonce.length);
  return out;
}

/**
 * Keys for simulated networks (DhtSimulation), where Ed25519 (here ~0.1 ms to sign, ~0.3 ms to
 * verify) would dominate a 10,000-node run: a "signature" is HMAC-SHA256 under a secret the
 * keyring holds for each public key, twice (64 bytes). Nobody without the keyring's secret for a
 * key can make one, which is the property the routing rules rely on; never for a real network.
 */
export class SimulatedKeys {
  /** Each key's HMAC, keyed once (a PING answered and a PONG checked cost one MAC each). */
  private readonly secrets = new Map<string, HmacSha256Key>();

  /** A key pair: `publicKey` (random unless given: an adversary may grind public keys). */
  signer(random: RandomSource, publicKey: Uint8Array = random.bytes(32)): NodeSigner {
    const secret = new HmacSha256Key(random.bytes(32));
    this.secrets.set(Buffer.from(publicKey).toString('hex'), secret);
    return { publicKey, sign: (m) => simulatedSignature(secret, m) };
  }

  readonly verify: ProofVerifier = (pk, message, sig) => {
    const secret = this.secrets.get(Buffer.from(pk.buffer, pk.byteOffset, pk.length).toString('hex'));
    return secret !== undefined && sig.length === SIGNATURE_BYTES && constantTimeEqual(simulatedSignature(secret, message), sig);
  };
}

function simulatedSignature(secret: HmacSha256Key, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNATURE_BYTES);
  secret.macInto(out.subarray(0, 32), message);
  out.copyWithin(32, 0, 32);
  return out;
}
