/**
 * Remembers recent handshake_init nonces so a recorded handshake_init replayed to a responder
 * is REPLAY_DETECTED. A nonce needs remembering only while its timestamp is inside the ±60 s
 * window (older ones fail the timestamp check), so entries expire after the window's width.
 * Memory is bounded: past `maxEntries` the oldest entry is dropped; at the listener the
 * per-address handshake rate limit keeps a flood from cycling the cache.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { TIMESTAMP_WINDOW_MS } from './constants.js';

export class InitReplayGuard {
  /** key → expiry time (ms); a Map iterates in insertion order, which is expiry order. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxEntries = 65_536,
    private readonly windowMs = TIMESTAMP_WINDOW_MS,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** Throws REPLAY_DETECTED for a timestamp outside ±window or a nonce seen before; else records it. */
  check(identityKey: Uint8Array, nonce: Uint8Array, timestamp: number, now: number): void {
    if (Math.abs(now - timestamp) > this.windowMs) {
      throw new PeerError(ErrorCode.REPLAY_DETECTED, `handshake_init timestamp is ${Math.round((now - timestamp) / 1000)} s off`);
    }
    this.prune(now);
    const key = Buffer.concat([identityKey, nonce]).toString('base64');
    if (this.seen.has(key)) throw new PeerError(ErrorCode.REPLAY_DETECTED, 'handshake_init nonce was already used');
    if (this.seen.size >= this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, now + 2 * this.windowMs);
  }

  private prune(now: number): void {
    for (const [key, expiry] of this.seen) {
      if (expiry > now) break;
      this.seen.delete(key);
    }
  }
}
