/**
 * Admission control at the listener, before any expensive crypto (DESIGN.md §3, issue
 * "hostile peers"): connections per source address, a cap on half-open handshakes, handshakes
 * per address (the rate limiter's `handshake` class), and under load a stateless cookie round
 * trip (handshake/cookie.ts) so a flood of handshake_init costs one HMAC each and no state.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { CookieJar } from '../handshake/index.js';

export interface ListenerLimits {
  /** Open connections from one source address (default 64). */
  maxConnectionsPerAddress?: number;
  /** Connections not yet READY, listener-wide; more are closed at once (default 1024). */
  maxHalfOpen?: number;
  /** With this many half-open connections, handshake_init needs a cookie (default 64). */
  cookieThreshold?: number;
  /** A READY session with no record either way for this long is closed (default 10 min; 0: never). */
  idleTimeoutMs?: number;
}

/** Takes one token of a class for a key; 0 when allowed, else the ms until it would be. */
export interface TokenTaker {
  take(key: string, cls: 'handshake', now: number): number;
}

export interface ListenerStats {
  connectionsRefused: number;
  halfOpenRefused: number;
  cookiesIssued: number;
  cookiesRejected: number;
  handshakesRateLimited: number;
  idleClosed: number;
  halfOpen: number;
}

export type Admission = 'accept' | 'cookie';

export class ListenerGuard {
  readonly limits: Required<ListenerLimits>;
  private readonly perAddress = new Map<string, number>();
  private halfOpen = 0;
  private readonly cookies: CookieJar;
  private readonly counters = { connectionsRefused: 0, halfOpenRefused: 0, cookiesIssued: 0, cookiesRejected: 0, handshakesRateLimited: 0, idleClosed: 0 };

  constructor(limits: ListenerLimits, private readonly limiter: TokenTaker, now: number) {
    this.limits = {
      maxConnectionsPerAddress: limits.maxConnectionsPerAddress ?? 64,
      maxHalfOpen: limits.maxHalfOpen ?? 1024,
      cookieThreshold: limits.cookieThreshold ?? 64,
      idleTimeoutMs: limits.idleTimeoutMs ?? 600_000,
    };
    this.cookies = new CookieJar(now);
  }

  stats(): ListenerStats {
    return { ...this.counters, halfOpen: this.halfOpen };
  }

  /** A new connection from `address`: false means close it now. Counts as half-open until READY. */
  connect(address: string): boolean {
    const open = this.perAddress.get(address) ?? 0;
    if (open >= this.limits.maxConnectionsPerAddress) {
      this.counters.connectionsRefused++;
      return false;
    }
    if (this.halfOpen >= this.limits.maxHalfOpen) {
      this.counters.halfOpenRefused++;
      return false;
    }
    this.perAddress.set(address, open + 1);
    this.halfOpen++;
    return true;
  }

  /** The connection reached READY. */
  established(): void {
    this.halfOpen--;
  }

  /** The connection closed; `ready` says whether it had reached READY. */
  disconnect(address: string, ready: boolean): void {
    if (!ready) this.halfOpen--;
    const open = (this.perAddress.get(address) ?? 1) - 1;
    if (open <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, open);
  }

  /**
   * A handshake_init from `address`, with the cookie it echoed (if any). 'cookie' means answer
   * with cookie(); a rate-limited address gets PeerError RATE_LIMITED (with retryAfter).
   */
  admit(address: string, cookie: Uint8Array | null, now: number): Admission {
    if (this.halfOpen >= this.limits.cookieThreshold) {
      if (cookie === null) return 'cookie';
      if (!this.cookies.verify(address, cookie, now)) {
        this.counters.cookiesRejected++;
        return 'cookie';
      }
    }
    const retryAfter = this.limiter.take(address, 'handshake', now);
    if (retryAfter > 0) {
      this.counters.handshakesRateLimited++;
      throw new PeerError(ErrorCode.RATE_LIMITED, `too many handshakes from ${address}`, { retryAfter, class: 'handshake' });
    }
    return 'accept';
  }

  cookie(address: string, now: number): Buffer {
    this.counters.cookiesIssued++;
    return this.cookies.issue(address, now);
  }

  idleClosed(): void {
    this.counters.idleClosed++;
  }
}
