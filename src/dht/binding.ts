/**
 * Names bound to keys (docs/DHT.md §4.3). A valid record signature proves only that the record's
 * own key signed it; an entity id means something only once it is *bound* to a key:
 *
 * - self-certifying: `agent-<hex>`, 16..64 lower-case hex digits that begin the SHA-256
 *   fingerprint of the record's public key (the default entity id of a Peer). Anyone can check
 *   it, storing nodes included, so nobody else can even store a record under such a name;
 * - pinned: the caller's trust store (or an explicit petname) maps the name to this key;
 * - first-seen: the caller opted in to trust-on-first-use and this key was the one pinned then;
 * - none: a claim nobody has vouched for. `connect(name)` refuses it; discover() reports it.
 */
import { constantTimeEqual, sha256 } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';

export type Binding = 'self-certifying' | 'pinned' | 'first-seen' | 'none';

/** Says how `publicKey` is bound to `entityId` for this caller ('none' when it is not). */
export type BindingCheck = (entityId: string, publicKey: Uint8Array) => Binding;

const SELF_CERTIFYING = /^agent-([0-9a-f]{16,64})$/;
/** Fewest fingerprint bits a self-certifying id carries: 16 hex digits, a 2^64 key search to forge. */
export const MIN_SELF_CERTIFYING_HEX = 16;

/** True when `entityId` has the self-certifying form (whatever key it is checked against). */
export function isSelfCertifyingName(entityId: string): boolean {
  return SELF_CERTIFYING.test(entityId);
}

/** True when `entityId` is `agent-<hex>` and <hex> begins the fingerprint of `publicKey`. */
export function selfCertifies(entityId: string, publicKey: Uint8Array): boolean {
  const m = SELF_CERTIFYING.exec(entityId);
  if (!m) return false;
  const hex = m[1]!;
  const fp = sha256(publicKey).toString('hex').slice(0, hex.length);
  return constantTimeEqual(Buffer.from(fp, 'latin1'), Buffer.from(hex, 'latin1'));
}

/** The self-certifying id of a key: `agent-` and the first `hexDigits` of its fingerprint. */
export function selfCertifyingName(publicKey: Uint8Array, hexDigits = MIN_SELF_CERTIFYING_HEX): string {
  if (!Number.isInteger(hexDigits) || hexDigits < MIN_SELF_CERTIFYING_HEX || hexDigits > 64) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `a self-certifying id carries ${MIN_SELF_CERTIFYING_HEX}..64 hex digits`);
  }
  return `agent-${sha256(publicKey).toString('hex').slice(0, hexDigits)}`;
}

/** The check a caller with no trust store uses: only self-certifying ids are bound. */
export const selfCertifyingOnly: BindingCheck = (entityId, publicKey) => (selfCertifies(entityId, publicKey) ? 'self-certifying' : 'none');

/** The error for a name whose records carry no key the caller can verify. */
export function unboundError(entityId: string, keys: number): PeerError {
  return new PeerError(
    ErrorCode.DHT_ERROR,
    `no verifiable binding for ${JSON.stringify(entityId)}: ${keys} key(s) claim it; pin one (trust store or petname), opt in to first-seen pinning, or use a self-certifying agent-<fingerprint> id`,
    { reason: keys > 1 ? 'conflict' : 'unbound', keys },
  );
}
