/**
 * Replay protection for v1.0 traffic, which v1.0 documents require and v1.0 code does not do:
 * a timestamp within ±60 s of our clock, and each (sender, nonce) accepted once within 300 s.
 * Sans-I/O: the caller passes `now`.
 *
 * Call check() only after the signature verified: an unverified message must not be able to
 * plant a nonce (copied from a genuine message in flight) and get the genuine one refused.
 * Memory is bounded: each sender holds at most `maxNoncesPerSender` live entries, and senders
 * that are not pinned hold at most `maxNonces` together. Past either, new messages are refused
 * (RATE_LIMITED) rather than an entry forgotten, since forgetting would let that message be
 * replayed: it fails closed, but only for the sender (or the unpinned senders) that filled it.
 * Pinned senders never count against the shared cap, so a full cache never refuses them.
 */
import { ErrorCode, PeerError } from '../../errors.js';

/** V1_COMPAT.md "Replay and time": ±60 s timestamp tolerance. */
export const TIMESTAMP_TOLERANCE_MS = 60_000;
/** V1_COMPAT.md: each nonce is unique within a 300 s window. */
export const NONCE_WINDOW_MS = 300_000;
/** About 150 bytes an entry: 100k ≈ 15 MB, room for 330 messages/s sustained. */
export const DEFAULT_MAX_NONCES = 100_000;
/** One sender's share: 10k in 300 s is 33 messages/s sustained. */
export const DEFAULT_MAX_NONCES_PER_SENDER = 10_000;

export interface ReplayGuardOptions {
  toleranceMs?: number;
  nonceWindowMs?: number;
  /** Entries of all unpinned senders together (default 100,000). */
  maxNonces?: number;
  /** Entries of one sender, pinned or not (default 10,000). */
  maxNoncesPerSender?: number;
}

interface Entry {
  expiry: number;
  sender: string;
  pinned: boolean;
}

export class ReplayGuard {
  /** key → entry. A Map iterates in insertion order, which is expiry order while `now` does not go back. */
  private readonly seen = new Map<string, Entry>();
  /** Live entries per sender. */
  private readonly perSender = new Map<string, number>();
  /** Live entries of unpinned senders. */
  private unpinned = 0;
  readonly toleranceMs: number;
  readonly nonceWindowMs: number;
  readonly maxNonces: number;
  readonly maxNoncesPerSender: number;

  constructor(options: ReplayGuardOptions = {}) {
    this.toleranceMs = options.toleranceMs ?? TIMESTAMP_TOLERANCE_MS;
    this.nonceWindowMs = options.nonceWindowMs ?? NONCE_WINDOW_MS;
    this.maxNonces = options.maxNonces ?? DEFAULT_MAX_NONCES;
    this.maxNoncesPerSender = options.maxNoncesPerSender ?? Math.min(DEFAULT_MAX_NONCES_PER_SENDER, this.maxNonces);
    // A nonce must outlive the timestamp window, or a replay just after it expires would pass.
    if (!(this.nonceWindowMs >= 2 * this.toleranceMs) || !(this.maxNonces >= 1) || !(this.maxNoncesPerSender >= 1)) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'nonceWindowMs must be at least twice toleranceMs, maxNonces and maxNoncesPerSender at least 1');
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
   * window, RATE_LIMITED if the sender's quota, or (for an unpinned sender) the shared cap, is
   * full of live entries.
   */
  check(senderId: string, nonce: string, timestampMs: number, now: number, pinned = false): void {
    this.checkTime(timestampMs, now);
    this.prune(now);
    const key = `${senderId}\u0000${nonce}`;
    if (this.seen.has(key)) throw new PeerError(ErrorCode.REPLAY_DETECTED, `nonce ${nonce} from ${senderId} was already used`);
    const mine = this.perSender.get(senderId) ?? 0;
    if (mine >= this.maxNoncesPerSender) {
      throw new PeerError(ErrorCode.RATE_LIMITED, `${senderId} sent ${mine} messages in ${this.nonceWindowMs / 1000} s`, { retryAfter: this.retryAfter(now) });
    }
    if (!pinned && this.unpinned >= this.maxNonces) {
      throw new PeerError(ErrorCode.RATE_LIMITED, `replay cache full (${this.maxNonces} nonces of unpinned senders in ${this.nonceWindowMs / 1000} s)`, { retryAfter: this.retryAfter(now) });
    }
    this.seen.set(key, { expiry: now + this.nonceWindowMs, sender: senderId, pinned });
    this.perSender.set(senderId, mine + 1);
    if (!pinned) this.unpinned++;
  }

  /** Drops expired entries from the head. */
  prune(now: number): void {
    for (const [key, e] of this.seen) {
      if (e.expiry > now) break;
      this.seen.delete(key);
      const n = this.perSender.get(e.sender)! - 1;
      if (n === 0) this.perSender.delete(e.sender);
      else this.perSender.set(e.sender, n);
      if (!e.pinned) this.unpinned--;
    }
  }

  private retryAfter(now: number): number {
    const first = this.seen.values().next();
    return first.done ? 0 : Math.max(1, Math.ceil(first.value.expiry - now));
  }
}
