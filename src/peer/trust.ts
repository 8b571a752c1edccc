/**
 * Trust policy: keys pinned per entity id (the MITM defence: a pinned key that does not match
 * fails the handshake) and what to do with entities that have no pin.
 */
import { constantTimeEqual, fingerprintOf } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import type { RemoteIdentity } from '../handshake/index.js';

export type PublicKeyInput = Uint8Array | string;

function keyBytes(key: PublicKeyInput): Buffer {
  const b = typeof key === 'string' ? Buffer.from(key, 'hex') : Buffer.from(key);
  if (b.length !== 32) throw new PeerError(ErrorCode.INVALID_KEY, 'a pinned key must be a 32-byte Ed25519 public key (or 64 hex chars)');
  return b;
}

export class TrustStore {
  private readonly pins = new Map<string, Buffer>();
  /** Fingerprints of the pinned keys, for callers keyed by key (the rate limiter's levels). */
  private readonly fingerprints = new Map<string, number>();
  /** Called with a fingerprint when it becomes pinned or stops being pinned. */
  private readonly watchers = new Set<(fingerprint: string) => void>();

  constructor(pins: Iterable<[string, PublicKeyInput]> = [], readonly acceptUnknown = true) {
    for (const [entityId, key] of pins) this.pin(entityId, key);
  }

  pin(entityId: string, publicKey: PublicKeyInput): void {
    this.unpin(entityId);
    const key = keyBytes(publicKey);
    this.pins.set(entityId, key);
    const fp = fingerprintOf(key);
    const n = this.fingerprints.get(fp) ?? 0;
    this.fingerprints.set(fp, n + 1);
    if (n === 0) this.changed(fp);
  }

  unpin(entityId: string): void {
    const key = this.pins.get(entityId);
    if (key === undefined) return;
    this.pins.delete(entityId);
    const fp = fingerprintOf(key);
    const n = (this.fingerprints.get(fp) ?? 1) - 1;
    if (n === 0) {
      this.fingerprints.delete(fp);
      this.changed(fp);
    } else {
      this.fingerprints.set(fp, n);
    }
  }

  /** Calls `fn(fingerprint)` whenever a key becomes pinned or unpinned; returns the unsubscribe. */
  watch(fn: (fingerprint: string) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private changed(fingerprint: string): void {
    for (const fn of this.watchers) fn(fingerprint);
  }

  /** True when some entity is pinned to the key with this fingerprint. */
  isPinnedKey(fingerprint: string): boolean {
    return this.fingerprints.has(fingerprint);
  }

  pinned(entityId: string): Buffer | undefined {
    return this.pins.get(entityId);
  }

  /**
   * Throws INVALID_SIGNATURE when the entity is pinned to another key (the handshake proved
   * possession of a key that is not the one we expect), UNKNOWN_SENDER when it is not pinned
   * and unknown entities are refused.
   */
  check(remote: RemoteIdentity): void {
    const pinned = this.pins.get(remote.entityId);
    if (pinned === undefined) {
      if (!this.acceptUnknown) throw new PeerError(ErrorCode.UNKNOWN_SENDER, `entity ${remote.entityId} is not trusted`);
      return;
    }
    if (!constantTimeEqual(pinned, remote.publicKey)) {
      throw new PeerError(ErrorCode.INVALID_SIGNATURE, `entity ${remote.entityId} presented key ${remote.fingerprint}, pinned is ${fingerprintOf(pinned)}`);
    }
  }
}
