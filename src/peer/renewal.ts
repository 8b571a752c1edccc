/**
 * Renewal of a READY session: a fresh handshake on the same connection, which the initiator
 * starts before the TTL. It must authenticate the same remote key, which the trust store must
 * still accept; either side switches to the new keys when its handshake is READY (SessionChain
 * keeps the old keys receiving, and sending until a stream in progress ends).
 *
 * A renewal costs a full handshake (X25519, Ed25519 sign and verify), so the responder takes
 * one only inside the renewal window, the last 2 × lead of the TTL (lead: renewBeforeMs, by
 * default a tenth of the TTL, at most 60 s), and charges it to the remote's `handshake` rate
 * class; anything else ends the session (INVALID_STATE, RATE_LIMITED) before any crypto.
 */
import type { Duplex } from 'node:stream';
import { ErrorCode, PeerError } from '../errors.js';
import { Handshake, SessionState, isTerminal, type HandshakeOptions, type HandshakeResult } from '../handshake/index.js';
import { DEFAULT_SESSION_TTL_MS, type SecureSession, type SessionChain } from '../session/index.js';
import { FrameType } from '../wire/index.js';
import { writeFrames } from './send.js';

/** The default renewal lead is a tenth of the TTL, at most this. */
const MAX_DEFAULT_LEAD_MS = 60_000;
import type { SessionIoOptions } from './session.js';

export class Renewal {
  /** The renewal handshake in progress. */
  private handshake: Handshake | null = null;
  /** How long before the TTL the initiator renews (0: never). */
  private readonly beforeMs: number;
  /** The responder accepts a renewal only this close to the TTL. */
  private readonly windowMs: number;

  constructor(
    private readonly stream: Duplex,
    private readonly chain: SessionChain,
    private readonly role: 'initiator' | 'responder',
    private readonly handshakeOptions: HandshakeOptions,
    private readonly opts: SessionIoOptions,
    /** The SecureSession of a completed handshake. */
    private readonly secureSession: (result: HandshakeResult, now: number) => SecureSession,
  ) {
    const ttl = opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    const defaultLead = Math.min(MAX_DEFAULT_LEAD_MS, ttl / 10);
    this.beforeMs = opts.renewBeforeMs ?? defaultLead;
    // Twice the lead: room for a peer whose clock or READY moment differs from ours.
    this.windowMs = 2 * (this.beforeMs > 0 ? this.beforeMs : defaultLead);
  }

  /** The earlier of when the next renewal starts and the deadline of the one in progress (Infinity: none). */
  get deadline(): number {
    return Math.min(this.renewAt() ?? Infinity, this.handshake?.deadline ?? Infinity);
  }

  /**
   * A handshake frame on the READY session. The responder answers a handshake_init with a
   * fresh handshake. True once the new keys are installed.
   */
  onFrame(body: Uint8Array, type: number, now: number): boolean {
    if (this.handshake === null || isTerminal(this.handshake.state)) {
      if (type !== FrameType.HandshakeInit || this.role !== 'responder') {
        throw new PeerError(ErrorCode.INVALID_STATE, 'handshake message on an established session');
      }
      this.admit(now);
      this.handshake = Handshake.respond(this.options(), now);
    }
    writeFrames(this.stream, this.handshake.receive(body, now));
    if (this.handshake.state !== SessionState.Ready) return false;
    this.complete(now);
    return true;
  }

  /** A renewal handshake_init, before any work: inside the renewal window and the handshake rate. */
  private admit(now: number): void {
    const session = this.chain.session;
    if (now < session.expiresAt - this.windowMs) {
      throw new PeerError(ErrorCode.INVALID_STATE, `renewal ${Math.round(session.expiresAt - this.windowMs - now)} ms before the renewal window`);
    }
    const retryAfter = this.opts.rateLimit?.(session.remote, 'handshake', now) ?? 0;
    if (retryAfter > 0) throw new PeerError(ErrorCode.RATE_LIMITED, 'renewal over the handshake rate limit', { retryAfter });
  }

  /** Applies the deadline of the renewal in progress (throws when it passed). */
  poll(now: number): void {
    this.handshake?.poll(now);
  }

  startIfDue(now: number): void {
    const renewAt = this.renewAt();
    if (renewAt === null || now < renewAt) return;
    const started = Handshake.initiate(this.options(), now);
    this.handshake = started.handshake;
    writeFrames(this.stream, started.send);
  }

  destroy(): void {
    this.handshake?.destroy();
  }

  private complete(now: number): void {
    const result = this.handshake!.result!;
    this.handshake = null;
    const tail = this.chain.install(this.secureSession(result, now), now);
    if (tail) this.stream.write(tail);
  }

  /** When the initiator starts a renewal: `beforeMs` (default a tenth of the TTL, at most 60 s) before it ends. */
  private renewAt(): number | null {
    if (this.role !== 'initiator' || this.handshake !== null) return null;
    return this.beforeMs > 0 ? this.chain.session.expiresAt - this.beforeMs : null;
  }

  /** The renewal must authenticate exactly the key this session already trusts, and the trust store must still accept it. */
  private options(): HandshakeOptions {
    const current = this.chain.session.remote;
    const trust = this.handshakeOptions.verifyRemote;
    return {
      ...this.handshakeOptions,
      verifyRemote: (remote) => {
        if (remote.entityId !== current.entityId || !Buffer.from(remote.publicKey).equals(current.publicKey)) {
          throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'a renewal must authenticate the same remote identity');
        }
        trust?.(remote);
      },
    };
  }
}
