/**
 * The 6-step handshake as a sans-I/O state machine: frame bodies and `now` (ms) in, frame
 * bodies to send out, plus the next deadline. No sockets, no timers, no clock reads.
 *
 *   A (initiator)                                   B (responder)
 *   1 handshake_init       versions, suites, A's keys, timestamp, nonce, entity  →
 *   2                  ←  handshake_init_ack  choice, B's keys, challenge, sig_B(h(1) ‖ 2)
 *   3 challenge_response   sig_A(handshake_hash)                                   →
 *   5 session_confirm      session id, MAC (pipelined right behind 3)             →
 *   4                  ←  session_established  session id, MAC
 *   6                  ←  ready                session id, MAC
 *
 * The initiator holds its keys once message 2 verifies, so it sends session_confirm right
 * behind challenge_response without waiting for session_established (PROTOCOL.md §4,
 * "Pipelining"): two round trips instead of three, the bytes of every message unchanged. Each
 * side still accepts only the next message of its direction, in order: the responder takes 5
 * only after 3 verified (whether 5 came in the same read or after its 4), the initiator takes 6
 * only after 4 verified, and a responder that waits for 5 until it sent 4 works unchanged.
 *
 * A fatal problem throws a PeerError (the spec's code) and leaves the machine in ERROR or
 * EXPIRED with every secret wiped; `errorFrame(err)` encodes it for the peer.
 */
import { AEAD_SUITES, constantTimeEqual, Identity, randomBytes, sha256, wipe, x25519, fingerprintOf,
  type AeadSuite, type X25519KeyPair } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { FrameType } from '../wire/index.js';
import {
  CHALLENGE_BYTES, CONTEXTS, DEFAULT_CHALLENGE_LIFETIME_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, INIT_NONCE_BYTES,
  SUITE_NAMES, SUPPORTED_VERSIONS, labelBytes, suiteId, type SuiteId,
} from './constants.js';
import { confirmation, deriveKeys, transcriptHash, type DirectionalKeys, type Role } from './key-schedule.js';
import {
  decodeHandshakeMessage, encodeChallengeResponse, encodeConfirmation, encodeCookie, encodeHandshakeError, encodeHandshakeInit,
  encodeInitAckSigned, initAckSignedPart, type Confirmation, type HandshakeInit, type HandshakeInitAck,
} from './messages.js';
import { InitReplayGuard } from './replay-guard.js';
import { isTerminal, phaseOf, SessionState, type Phase } from './state.js';

/** A responder asking for more than this many cookie round trips is refused (INVALID_STATE). */
const MAX_COOKIE_REPLIES = 2;

export interface RemoteIdentity {
  entityId: string;
  publicKey: Uint8Array;
  fingerprint: string;
}

export interface HandshakeOptions {
  identity: Identity;
  entityId: string;
  /** Suites in order of preference (default: AES-256-GCM, then ChaCha20-Poly1305). */
  suites?: readonly AeadSuite[];
  /** Versions offered (default [0x11]); tests use others to provoke INVALID_VERSION. */
  versions?: readonly number[];
  challengeLifetimeMs?: number;
  handshakeTimeoutMs?: number;
  /** Trust policy: throw a PeerError to refuse the remote (pinned key mismatch, unknown entity). */
  verifyRemote?: (remote: RemoteIdentity) => void;
  /** Responder: shared across handshakes so a replayed handshake_init is caught. */
  replayGuard?: InitReplayGuard;
  /** Fixed randomness, for reproducible test vectors only. */
  fixed?: { ephemeral?: X25519KeyPair; nonce?: Uint8Array; challenge?: Uint8Array };
}

export interface HandshakeResult extends DirectionalKeys {
  role: Role;
  version: number;
  suite: AeadSuite;
  remote: RemoteIdentity;
  handshakeHash: Buffer;
}

/** Deterministic simultaneous-open tie-break: the lower (identity key, ephemeral key) stays initiator. */
function winsTieBreak(ours: Uint8Array, oursEph: Uint8Array, theirs: Uint8Array, theirsEph: Uint8Array): boolean {
  const c = Buffer.compare(ours, theirs);
  return c !== 0 ? c < 0 : Buffer.compare(oursEph, theirsEph) < 0;
}

export class Handshake {
  private _state = SessionState.Initial;
  private _role: Role;
  private ephemeral: X25519KeyPair | null = null;
  private init: Buffer | null = null;
  private handshakeHash: Buffer | null = null;
  private keys: DirectionalKeys | null = null;
  private remote: RemoteIdentity | null = null;
  private chosen: { version: number; suite: AeadSuite } | null = null;
  private remoteIdentityKey: Uint8Array | null = null;
  /** Responder: the initiator's ephemeral key, used once challenge_response verifies. */
  private peerEphemeral: Buffer | null = null;
  private challengeExpiry = Infinity;
  private readonly timeoutAt: number;
  private _result: HandshakeResult | null = null;
  private cookieReplies = 0;

  private constructor(private readonly opts: HandshakeOptions, role: Role, now: number) {
    this._role = role;
    this.timeoutAt = now + (opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
  }

  /** Starts as initiator; returns the machine and handshake_init to send. */
  static initiate(opts: HandshakeOptions, now: number): { handshake: Handshake; send: Buffer[] } {
    const h = new Handshake(opts, 'initiator', now);
    h.ephemeral = opts.fixed?.ephemeral ?? x25519.generateKeyPair();
    h.init = encodeHandshakeInit({
      versions: [...(opts.versions ?? SUPPORTED_VERSIONS)],
      suites: (opts.suites ?? AEAD_SUITES).map(suiteId),
      identityKey: opts.identity.publicKey,
      ephemeralKey: h.ephemeral.publicKey,
      timestamp: now,
      nonce: opts.fixed?.nonce ?? randomBytes(INIT_NONCE_BYTES),
      entityId: opts.entityId,
    });
    h._state = SessionState.HandshakeInitSent;
    return { handshake: h, send: [h.init] };
  }

  /** Starts as responder, waiting for handshake_init. */
  static respond(opts: HandshakeOptions, now: number): Handshake {
    return new Handshake(opts, 'responder', now);
  }

  /** Encodes a PeerError as the unsealed handshake error frame. */
  static errorFrame(err: PeerError): Buffer {
    return encodeHandshakeError(err.code, err.message);
  }

  get state(): SessionState {
    return this._state;
  }

  get phase(): Phase {
    return phaseOf(this._state);
  }

  get role(): Role {
    return this._role;
  }

  /** Keys and the authenticated remote, once READY; the session takes ownership of the keys. */
  get result(): HandshakeResult | null {
    return this._result;
  }

  /** When poll() must next be called: the challenge or handshake deadline; null when done. */
  get deadline(): number | null {
    if (this._state === SessionState.Ready || isTerminal(this._state)) return null;
    return Math.min(this.challengeExpiry, this.timeoutAt);
  }

  /** Applies deadlines: throws CHALLENGE_EXPIRED or SESSION_EXPIRED (state EXPIRED) when one passed. */
  poll(now: number): void {
    const deadline = this.deadline;
    if (deadline === null || now < deadline) return;
    const code = now >= this.challengeExpiry ? ErrorCode.CHALLENGE_EXPIRED : ErrorCode.SESSION_EXPIRED;
    this.abort(new PeerError(code, 'handshake did not complete in time'), SessionState.Expired);
  }

  /** Feeds one handshake frame body; returns the frame bodies to send in reply. */
  receive(body: Uint8Array, now: number): Buffer[] {
    if (isTerminal(this._state)) throw new PeerError(ErrorCode.INVALID_STATE, `handshake is ${this._state}`);
    try {
      this.poll(now);
      return this.dispatch(body, now);
    } catch (err) {
      if (!isTerminal(this._state)) {
        this.abort(err instanceof PeerError ? err : new PeerError(ErrorCode.INVALID_STATE, String(err)), SessionState.Error);
      }
      throw err;
    }
  }

  /** Abandons the handshake (connection lost, closed locally): wipes every secret. */
  destroy(): void {
    if (!isTerminal(this._state)) this._state = SessionState.Closed;
    this.wipeSecrets();
  }

  private dispatch(body: Uint8Array, now: number): Buffer[] {
    const m = decodeHandshakeMessage(body);
    const s = this._state;
    switch (m.type) {
      case FrameType.HandshakeInit:
        if (s === SessionState.Initial && this._role === 'responder') return this.onInit(body, m, now);
        return this.onUnexpectedInit(body, m, now);
      case FrameType.HandshakeInitAck:
        this.expect(this._role === 'initiator' && s === SessionState.HandshakeInitSent, m.type);
        return this.onInitAck(body, m);
      case FrameType.ChallengeResponse:
        this.expect(this._role === 'responder' && s === SessionState.HandshakeAckReceived, m.type);
        return this.onChallengeResponse(m.signature, now);
      case FrameType.SessionEstablished:
        this.expect(this._role === 'initiator' && s === SessionState.ChallengeSent, m.type);
        return this.onSessionEstablished(m);
      case FrameType.SessionConfirm:
        this.expect(this._role === 'responder' && s === SessionState.SessionEstablished, m.type);
        return this.onSessionConfirm(m);
      case FrameType.Ready:
        this.expect(this._role === 'initiator' && s === SessionState.SessionConfirmed, m.type);
        this.checkConfirmation(m, CONTEXTS.ready);
        this.finish();
        return [];
      case FrameType.CookieReply:
        // The responder is under load: send its cookie back, then our init again, unchanged.
        this.expect(this._role === 'initiator' && s === SessionState.HandshakeInitSent && ++this.cookieReplies <= MAX_COOKIE_REPLIES, m.type);
        return [encodeCookie(FrameType.CookieEcho, m.cookie), this.init!];
      case FrameType.CookieEcho:
        // Admission (cookie checks) happens before the machine, in the listener.
        throw new PeerError(ErrorCode.INVALID_STATE, 'cookie_echo reached the handshake');
      case FrameType.HandshakeError:
        if (m.code === ErrorCode.HANDSHAKE_IN_PROGRESS && this._role === 'responder') return []; // we lost the tie-break already
        throw new PeerError(m.code as ErrorCode, `peer reported: ${m.message}`, { remote: true }); // both cleaned by the decoder
    }
  }

  private expect(ok: boolean, type: FrameType): void {
    if (!ok) throw new PeerError(ErrorCode.INVALID_STATE, `${FrameType[type]} not expected by the ${this._role} in ${this._state}`);
  }

  /** handshake_init while not a fresh responder: simultaneous open, or a second handshake. */
  private onUnexpectedInit(body: Uint8Array, m: HandshakeInit, now: number): Buffer[] {
    if (constantTimeEqual(m.identityKey, this.opts.identity.publicKey)) {
      // Our own init reflected back: answering it as responder would sign for the attacker.
      throw new PeerError(ErrorCode.INVALID_STATE, 'handshake_init carries our own identity key (reflected)');
    }
    const inProgress = Handshake.errorFrame(new PeerError(ErrorCode.HANDSHAKE_IN_PROGRESS, 'a handshake is already in progress'));
    if (this._role !== 'initiator' || this._state !== SessionState.HandshakeInitSent) return [inProgress];
    if (winsTieBreak(this.opts.identity.publicKey, this.ephemeral!.publicKey, m.identityKey, m.ephemeralKey)) return [inProgress];
    // We lose: drop our own attempt and answer theirs as responder.
    this.wipeSecrets();
    this._role = 'responder';
    this._state = SessionState.Initial;
    return this.onInit(body, m, now);
  }

  private onInit(body: Uint8Array, m: HandshakeInit, now: number): Buffer[] {
    const ours = this.opts.versions ?? SUPPORTED_VERSIONS;
    const version = ours.find((v) => m.versions.includes(v));
    const suite = (this.opts.suites ?? AEAD_SUITES).find((s) => m.suites.includes(suiteId(s)));
    if (version === undefined || suite === undefined) {
      throw new PeerError(ErrorCode.INVALID_VERSION, `no common ${version === undefined ? 'version' : 'cipher suite'}`);
    }
    (this.opts.replayGuard ?? new InitReplayGuard(1)).check(m.identityKey, m.nonce, m.timestamp, now);
    this.acceptRemote(m.entityId, m.identityKey);
    this._state = SessionState.HandshakeInitSent;
    this.init = Buffer.from(body);
    this.ephemeral = this.opts.fixed?.ephemeral ?? x25519.generateKeyPair();
    this.chosen = { version, suite };
    const signed = encodeInitAckSigned({
      version, suite: suiteId(suite), identityKey: this.opts.identity.publicKey, ephemeralKey: this.ephemeral.publicKey,
      challenge: this.opts.fixed?.challenge ?? randomBytes(CHALLENGE_BYTES), entityId: this.opts.entityId,
    });
    const signature = this.opts.identity.sign(Buffer.concat([labelBytes(CONTEXTS.initAckSignature), sha256(this.init), signed]));
    const ack = Buffer.concat([signed, signature]);
    this.handshakeHash = transcriptHash(this.init, ack);
    this.peerEphemeral = Buffer.from(m.ephemeralKey);
    this.challengeExpiry = now + (this.opts.challengeLifetimeMs ?? DEFAULT_CHALLENGE_LIFETIME_MS);
    this._state = SessionState.HandshakeAckReceived;
    return [ack];
  }

  private onInitAck(body: Uint8Array, m: HandshakeInitAck): Buffer[] {
    const offeredVersions = this.opts.versions ?? SUPPORTED_VERSIONS;
    const offeredSuites = (this.opts.suites ?? AEAD_SUITES).map(suiteId);
    if (!offeredVersions.includes(m.version) || !offeredSuites.includes(m.suite)) {
      throw new PeerError(ErrorCode.INVALID_VERSION, 'responder chose a version or suite we did not offer');
    }
    this.acceptRemote(m.entityId, m.identityKey);
    const signedBy = Buffer.concat([labelBytes(CONTEXTS.initAckSignature), sha256(this.init!), initAckSignedPart(body)]);
    Identity.verify(m.identityKey, signedBy, m.signature);
    this.chosen = { version: m.version, suite: SUITE_NAMES[m.suite as SuiteId] };
    this.handshakeHash = transcriptHash(this.init!, body);
    this.keys = deriveKeys(this.ephemeral!, m.ephemeralKey, this.handshakeHash, 'initiator');
    this._state = SessionState.HandshakeAckReceived;
    const sig = this.opts.identity.sign(Buffer.concat([labelBytes(CONTEXTS.challengeSignature), this.handshakeHash]));
    this._state = SessionState.ChallengeSent;
    // Pipelined: session_confirm needs only our keys; we enter SESSION_CONFIRMED once 4 verifies.
    const sid = this.keys.sessionId;
    const confirm = encodeConfirmation(FrameType.SessionConfirm, sid, confirmation(this.keys.confirmKey, CONTEXTS.initiatorConfirm, sid));
    return [encodeChallengeResponse(sig), confirm];
  }

  private onChallengeResponse(signature: Uint8Array, now: number): Buffer[] {
    if (now > this.challengeExpiry) throw new PeerError(ErrorCode.CHALLENGE_EXPIRED, 'challenge_response arrived after the challenge lifetime');
    const signed = Buffer.concat([labelBytes(CONTEXTS.challengeSignature), this.handshakeHash!]);
    if (!Identity.isValidSignature(this.remoteIdentityKey!, signed, signature)) {
      throw new PeerError(ErrorCode.CHALLENGE_INVALID, 'challenge_response signature does not verify');
    }
    this.challengeExpiry = Infinity;
    this.keys = deriveKeys(this.ephemeral!, this.peerEphemeral!, this.handshakeHash!, 'responder');
    this._state = SessionState.ChallengeSent;
    const sid = this.keys.sessionId;
    const reply = encodeConfirmation(FrameType.SessionEstablished, sid, confirmation(this.keys.confirmKey, CONTEXTS.responderConfirm, sid));
    this._state = SessionState.SessionEstablished;
    return [reply];
  }

  /** session_confirm already went out with challenge_response: nothing to send. */
  private onSessionEstablished(m: Confirmation): Buffer[] {
    this.checkConfirmation(m, CONTEXTS.responderConfirm);
    this._state = SessionState.SessionConfirmed;
    return [];
  }

  private onSessionConfirm(m: Confirmation): Buffer[] {
    this.checkConfirmation(m, CONTEXTS.initiatorConfirm);
    this._state = SessionState.SessionConfirmed;
    const sid = this.keys!.sessionId;
    const ready = encodeConfirmation(FrameType.Ready, sid, confirmation(this.keys!.confirmKey, CONTEXTS.ready, sid));
    this.finish();
    return [ready];
  }

  /** A wrong session id or MAC means the two sides hold different keys. */
  private checkConfirmation(m: Confirmation, context: string): void {
    const k = this.keys!;
    const expected = confirmation(k.confirmKey, context, k.sessionId);
    const ok = constantTimeEqual(m.sessionId, k.sessionId) && constantTimeEqual(m.confirm, expected);
    if (!ok) throw new PeerError(ErrorCode.DECRYPTION_FAILED, `${context}: key confirmation failed`);
  }

  private acceptRemote(entityId: string, identityKey: Uint8Array): void {
    const remote = { entityId, publicKey: Buffer.from(identityKey), fingerprint: fingerprintOf(identityKey) };
    this.opts.verifyRemote?.(remote);
    this.remote = remote;
    this.remoteIdentityKey = remote.publicKey;
  }

  private finish(): void {
    const k = this.keys!;
    wipe(k.confirmKey);
    this._result = {
      sessionId: k.sessionId, sendKey: k.sendKey, sendIv: k.sendIv, recvKey: k.recvKey, recvIv: k.recvIv, confirmKey: k.confirmKey,
      role: this._role, version: this.chosen!.version, suite: this.chosen!.suite, remote: this.remote!, handshakeHash: this.handshakeHash!,
    };
    this.keys = null;
    this._state = SessionState.Ready;
  }

  private abort(err: PeerError, state: SessionState.Error | SessionState.Expired): never {
    this._state = state;
    this.wipeSecrets();
    throw err;
  }

  private wipeSecrets(): void {
    if (this.ephemeral) x25519.wipe(this.ephemeral);
    if (this.keys) wipe(this.keys.sendKey, this.keys.recvKey, this.keys.sendIv, this.keys.recvIv, this.keys.confirmKey);
    this.ephemeral = null;
    this.keys = null;
  }
}
