/**
 * Admission control at the listener, before any expensive crypto (DESIGN.md §3, issue 10):
 * connections and half-open handshakes per source *address prefix* (util/ip.ts: IPv4 /32 or
 * /24, IPv6 /64, so one host's /64 is one address), a listener-wide half-open cap shared
 * fairly between prefixes, handshakes per prefix (the rate limiter's `handshake` class), and
 * under load a stateless cookie round trip (handshake/cookie.ts) so a flood of handshake_init
 * costs one HMAC each and no state. Prefixes on the allow-list (a load balancer, a private
 * network) are exempt from every per-address limit; the listener-wide cap still holds.
 *
 * Fair sharing: when the half-open cap is reached, a new connection takes the slot of the
 * oldest half-open connection of the prefix holding the most, if that prefix holds more than
 * the newcomer's; otherwise it is refused. Silent connections from many addresses therefore
 * cannot keep a new address out, and a connection that sends no handshake_init is closed
 * after `initTimeoutMs` anyway.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { CookieJar } from '../handshake/index.js';
import { AddressKeys, type AddressLimits } from '../util/ip.js';

export type { AddressLimits } from '../util/ip.js';

/** Largest handshake body (handshake_error: 2 + 1 + 64 + 2 + 512 = 581 bytes; handshake_init ≤ 364), with room. */
export const DEFAULT_MAX_HANDSHAKE_FRAME_BYTES = 1024;

export interface ListenerLimits {
  /** Open connections from one address prefix (default 64). */
  maxConnectionsPerAddress?: number;
  /** Connections not yet READY, listener-wide (default 1024); shared fairly between prefixes. */
  maxHalfOpen?: number;
  /** Connections not yet READY from one address prefix (default 32). */
  maxHalfOpenPerAddress?: number;
  /** With this many half-open connections, handshake_init needs a cookie (default 64). */
  cookieThreshold?: number;
  /** A connection whose handshake_init has not been accepted within this is closed (default 3 s). */
  initTimeoutMs?: number;
  /** Largest frame body accepted before READY (default 1024 bytes; every handshake message fits). */
  maxHandshakeFrameBytes?: number;
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
  /** Half-open connections closed to give their slot to a prefix holding fewer. */
  evicted: number;
  /** Connections closed because no handshake_init was accepted within initTimeoutMs. */
  initTimeouts: number;
  cookiesIssued: number;
  cookiesRejected: number;
  handshakesRateLimited: number;
  idleClosed: number;
  halfOpen: number;
}

export type Admission = 'accept' | 'cookie';

/** One accepted connection, as the guard tracks it. `close` ends it with a handshake_error. */
export interface Ticket {
  readonly address: string;
  /** The prefix key it counts under; null when its address is exempt. */
  readonly key: string | null;
  /** Arrival order: the oldest half-open connection of a prefix is evicted first. */
  readonly order: number;
  state: 'half-open' | 'ready' | 'closed';
  close(err: PeerError): void;
}

interface PrefixEntry {
  open: number;
  /** Its half-open connections, oldest first. */
  halfOpen: Set<Ticket>;
}

export class ListenerGuard {
  readonly limits: Required<ListenerLimits>;
  private readonly keys: AddressKeys;
  private readonly prefixes = new Map<string, PrefixEntry>();
  private halfOpen = 0;
  private arrivals = 0;
  private readonly cookies: CookieJar;
  private readonly counters = {
    connectionsRefused: 0, halfOpenRefused: 0, evicted: 0, initTimeouts: 0, cookiesIssued: 0, cookiesRejected: 0, handshakesRateLimited: 0, idleClosed: 0,
  };

  constructor(limits: ListenerLimits, private readonly limiter: TokenTaker, now: number, address: AddressLimits = {}) {
    this.limits = {
      maxConnectionsPerAddress: limits.maxConnectionsPerAddress ?? 64,
      maxHalfOpen: limits.maxHalfOpen ?? 1024,
      maxHalfOpenPerAddress: limits.maxHalfOpenPerAddress ?? 32,
      cookieThreshold: limits.cookieThreshold ?? 64,
      initTimeoutMs: limits.initTimeoutMs ?? 3_000,
      maxHandshakeFrameBytes: limits.maxHandshakeFrameBytes ?? DEFAULT_MAX_HANDSHAKE_FRAME_BYTES,
      idleTimeoutMs: limits.idleTimeoutMs ?? 600_000,
    };
    this.keys = new AddressKeys(address);
    this.cookies = new CookieJar(now);
  }

  stats(): ListenerStats {
    return { ...this.counters, halfOpen: this.halfOpen };
  }

  /**
   * A new connection from `address`: its ticket (half-open until established()), or a
   * PeerError RATE_LIMITED to send before closing it. May close another half-open
   * connection (its ticket's close()) to make room.
   */
  connect(address: string, close: (err: PeerError) => void): Ticket | PeerError {
    const key = this.keys.keyOf(address);
    const entry = key === null ? undefined : this.prefixes.get(key);
    if (entry !== undefined && entry.open >= this.limits.maxConnectionsPerAddress) {
      this.counters.connectionsRefused++;
      return new PeerError(ErrorCode.RATE_LIMITED, `too many connections from this address (${this.limits.maxConnectionsPerAddress})`);
    }
    const mine = entry?.halfOpen.size ?? 0;
    if (key !== null && mine >= this.limits.maxHalfOpenPerAddress) {
      this.counters.halfOpenRefused++;
      return new PeerError(ErrorCode.RATE_LIMITED, `too many handshakes in progress from this address (${this.limits.maxHalfOpenPerAddress})`);
    }
    if (this.halfOpen >= this.limits.maxHalfOpen) {
      const victim = this.largestHolder();
      if (victim === undefined || victim.halfOpen.size <= mine) {
        this.counters.halfOpenRefused++;
        return new PeerError(ErrorCode.RATE_LIMITED, 'the listener has too many handshakes in progress');
      }
      const oldest = victim.halfOpen.values().next().value!;
      this.counters.evicted++;
      this.disconnect(oldest);
      oldest.close(new PeerError(ErrorCode.RATE_LIMITED, 'the listener is full: this handshake gave its slot to another address'));
    }
    const ticket: Ticket = { address, key, order: this.arrivals++, state: 'half-open', close };
    if (key !== null) {
      const e = entry ?? { open: 0, halfOpen: new Set<Ticket>() };
      e.open++;
      e.halfOpen.add(ticket);
      this.prefixes.set(key, e);
    }
    this.halfOpen++;
    return ticket;
  }

  /** The prefix holding the most half-open connections (the oldest such connection on a tie). */
  private largestHolder(): PrefixEntry | undefined {
    let best: PrefixEntry | undefined;
    const oldest = (e: PrefixEntry): number => e.halfOpen.values().next().value!.order;
    for (const e of this.prefixes.values()) {
      const n = e.halfOpen.size;
      if (n === 0) continue;
      if (best === undefined || n > best.halfOpen.size || (n === best.halfOpen.size && oldest(e) < oldest(best))) best = e;
    }
    return best;
  }

  /** The connection reached READY. */
  established(ticket: Ticket): void {
    if (ticket.state !== 'half-open') return;
    ticket.state = 'ready';
    this.halfOpen--;
    if (ticket.key !== null) this.prefixes.get(ticket.key)!.halfOpen.delete(ticket);
  }

  /** The connection closed (or is being closed): its slots are free. Idempotent. */
  disconnect(ticket: Ticket): void {
    if (ticket.state === 'closed') return;
    if (ticket.state === 'half-open') this.halfOpen--;
    ticket.state = 'closed';
    if (ticket.key === null) return;
    const e = this.prefixes.get(ticket.key)!;
    e.halfOpen.delete(ticket);
    if (--e.open <= 0) this.prefixes.delete(ticket.key);
  }

  /** No handshake_init was accepted in time: the connection is closed. */
  initTimeout(ticket: Ticket): void {
    if (ticket.state !== 'half-open') return;
    this.counters.initTimeouts++;
    this.disconnect(ticket);
    ticket.close(new PeerError(ErrorCode.SESSION_EXPIRED, `no handshake_init within ${this.limits.initTimeoutMs} ms`));
  }

  /**
   * A handshake_init from `ticket`'s address, with the cookie it echoed (if any). 'cookie'
   * means answer with cookie(); a rate-limited prefix gets PeerError RATE_LIMITED (with retryAfter).
   */
  admit(ticket: Ticket, cookie: Uint8Array | null, now: number): Admission {
    if (this.halfOpen >= this.limits.cookieThreshold) {
      if (cookie === null) return 'cookie';
      if (!this.cookies.verify(ticket.address, cookie, now)) {
        this.counters.cookiesRejected++;
        return 'cookie';
      }
    }
    const retryAfter = ticket.key === null ? 0 : this.limiter.take(ticket.key, 'handshake', now);
    if (retryAfter > 0) {
      this.counters.handshakesRateLimited++;
      throw new PeerError(ErrorCode.RATE_LIMITED, 'too many handshakes from this address', { retryAfter, class: 'handshake' });
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
