/**
 * Stateless cookies against handshake floods (after WireGuard's cookie reply, DESIGN.md §3).
 * Under load, a responder answers handshake_init with a cookie_reply instead of doing any
 * X25519 or Ed25519 work, and keeps no handshake state; the initiator sends the cookie back
 * (cookie_echo) before the same handshake_init, and only then is the init processed.
 *   cookie = HMAC-SHA256(secret, "peer-v1.1 cookie" ‖ source address)
 * The secret is random and replaced every two minutes; a cookie is accepted under the current
 * or the previous secret, so it lives two to four minutes and costs one HMAC to check.
 */
import { constantTimeEqual, hmacSha256, randomBytes, wipe } from '../crypto/index.js';

export const COOKIE_BYTES = 32;
/** How often the cookie secret is replaced (WireGuard: 120 s). */
export const COOKIE_SECRET_LIFETIME_MS = 120_000;
const LABEL = Buffer.from('peer-v1.1 cookie');

export class CookieJar {
  private current: Buffer;
  private previous: Buffer | null = null;
  private rotatedAt: number;

  constructor(now: number) {
    this.current = randomBytes(32);
    this.rotatedAt = now;
  }

  issue(source: string, now: number): Buffer {
    this.rotate(now);
    return this.mac(this.current, source);
  }

  verify(source: string, cookie: Uint8Array, now: number): boolean {
    this.rotate(now);
    if (cookie.length !== COOKIE_BYTES) return false;
    if (constantTimeEqual(this.mac(this.current, source), cookie)) return true;
    return this.previous !== null && constantTimeEqual(this.mac(this.previous, source), cookie);
  }

  private mac(secret: Buffer, source: string): Buffer {
    return hmacSha256(secret, Buffer.concat([LABEL, Buffer.from(source, 'utf8')]));
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < COOKIE_SECRET_LIFETIME_MS) return;
    wipe(this.previous);
    // After a long idle both secrets are stale: drop the old one too.
    this.previous = now - this.rotatedAt < 2 * COOKIE_SECRET_LIFETIME_MS ? this.current : null;
    if (this.previous === null) wipe(this.current);
    this.current = randomBytes(32);
    this.rotatedAt = now;
  }
}
