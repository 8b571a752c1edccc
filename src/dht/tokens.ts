/**
 * Store tokens (as in BitTorrent's DHT): a FIND_NODE answer carries HMAC-SHA256(secret,
 * requester's wire address) truncated to 16 bytes, and a STORE must echo a token for its own
 * source address. A spoofed source never sees the token sent to the address it forges. The
 * secret rotates every TOKEN_ROTATION_MS; tokens of the previous secret are still accepted.
 */
import { constantTimeEqual, hmacSha256 } from '../crypto/index.js';
import { TOKEN_BYTES, TOKEN_ROTATION_MS } from './constants.js';
import type { RandomSource } from './random.js';

export class StoreTokens {
  private current: Uint8Array;
  private previous: Uint8Array;
  private rotatedAt: number;

  constructor(private readonly random: RandomSource, now: number, private readonly rotationMs = TOKEN_ROTATION_MS) {
    this.current = random.bytes(32);
    this.previous = random.bytes(32);
    this.rotatedAt = now;
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < this.rotationMs) return;
    // Two periods without any token request: both secrets are replaced.
    this.previous = now - this.rotatedAt >= 2 * this.rotationMs ? this.random.bytes(32) : this.current;
    this.current = this.random.bytes(32);
    this.rotatedAt = now;
  }

  issue(address: Uint8Array, now: number): Uint8Array {
    this.rotate(now);
    return hmacSha256(this.current, address).subarray(0, TOKEN_BYTES);
  }

  check(address: Uint8Array, token: Uint8Array, now: number): boolean {
    this.rotate(now);
    if (token.length !== TOKEN_BYTES) return false;
    return (
      constantTimeEqual(hmacSha256(this.current, address).subarray(0, TOKEN_BYTES), token) ||
      constantTimeEqual(hmacSha256(this.previous, address).subarray(0, TOKEN_BYTES), token)
    );
  }
}
