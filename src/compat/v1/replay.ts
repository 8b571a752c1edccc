/**
 * Replay protection for v1.0 traffic, which v1.0 documents require and v1.0 code does not do:
 * a timestamp within ±60 s of our clock, and each (sender, nonce) accepted once within 300 s.
 * Sans-I/O: the caller passes `now`.
 *
 * Call check() only after the signature verified: an unverified message must not be able to
 * plant a nonce (copied from a genuine message in flight) and get the genuine one refused.
 * Memory is bounded by `maxNonces`; when the cache is full of live entries the guard refuses
 * new messages (RATE_LIMITED) rather than forgetting one, since forgetting would let that
 * message be replayed: it fails closed, and only senders whose signatures verify can fill it.
 */
import { ErrorCode, PeerError } from '../../errors.js';

/** V1_COMPAT.md "Replay and time": ±60 s timestamp tolerance. */
export const TIMESTAMP_TOLERANCE_MS = 60_000;
/** V1_COMPAT.md: each nonce is unique within a 300 s window. */
export const NONCE_WINDOW_MS = 300_000;
/** About 150 bytes an entry: 100k ≈ 15 MB, room for 330 messages/s sustained. */
export const DEFAULT_MAX_NONCES = 100_000;

export interface ReplayGuardOptions {
  toleranceMs?: number;
  nonceWindowMs?: number;
  maxNonces?: number;
}

export class ReplayGuard {
  /** key → expiry (ms). A Map iterates in insertion order, which is expiry order while `now` does not go back. */
  private readonly seen = new Map<string, number>();
  readonly toleranceMs: number;
  readonly nonceWindowMs: number;
  readonly maxNonces: number;

  constructor(options: ReplayGuardOptions = {}) {
    this.toleranceMs = options.toleranceMs ?? TIMESTAMP_TOLERANCE_MS;
    this.nonceWindowMs = options.nonceWindowMs ?? NONCE_WINDOW_MS;
    this.maxNonces = options.maxNonces ?? DEFAULT_MAX_NONCES;
    // A nonce must outlive the timestamp window, or a replay just after it expires would pass.
    if (!(this.nonceWindowMs >= 2 * this.toleranceMs) || !(this.maxNonces >= 1)) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'nonceWindowMs must be at least twice toleranceMs, maxNonces at least 1');
    }
  }

  get size(): number {
    return this.seen.size;
  }

  /** REPLAY_DETECTED unless |now − timestampMs| ≤ tolerance. */
  checkTime(timestampMs: number, now: number): void {
    const skew = now - timestampMs;
    if (!(Math.abs(skew) <= this.toleranceMs)) {
      throw new PeerError(ErrorCode.REPLAY_DETECTED, `timestamp is ${Math.round(skew / 1000)} s ${skew > 0 ? 'old' : 'in the future'} (tolerance ±${this.toleranceMs / 1000} s)`, { skewMs: skew });
    }
  }

  /**
   * Checks the timestamp, then records (senderId, nonce): REPLAY_DETECTED if seen within the
   * window, RATE_LIMITED if the cache is full of live entries.
   */
  check(senderId: string, nonce: string, timestampMs: number, now: number): void {
    this.checkTime(timestampMs, now);
    this.prune(now);
    const key = `${senderId}\u0000${nonce}`;
    const expiry = this.seen.get(key);
    if (expiry !== undefined && expiry > now) throw new PeerError(ErrorCode.REPLAY_DETECTED, `nonce ${nonce} from ${senderId} was already used`);
    if (expiry === undefined && this.seen.size >= this.maxNonces) {
      throw new PeerError(ErrorCode.RATE_LIMITED, `replay cache full (${this.maxNonces} nonces in ${this.nonceWindowMs / 1000} s)`, { retryAfter: this.retryAfter(now) });
    }
    this.seen.delete(key); // re-insert at the tail, keeping expiry order
    this.seen.set(key, now + this.nonceWindowMs);
  }

  /** Drops expired entries from the head. */
  prune(now: number): void {
    for (const [key, expiry] of this.seen) {
      if (expiry > now) break;
      this.seen.delete(key);
    }
  }

  private retryAfter(now: number): number {
    const first = this.seen.values().next();
    return first.done ? 0 : Math.max(1, Math.ceil(first.value - now));
  }
}
