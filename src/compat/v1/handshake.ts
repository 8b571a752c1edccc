/**
 * The v1.0 handshake (V1_COMPAT.md "v1.0 handshake") as a sans-I/O state machine, both roles:
 *
 *   initiator                      responder
 *   start() ── handshake ────────▶ receiveHandshake()     {session_id, challenge, public_key, …}
 *   receiveAck() ◀── handshake_ack  (challenge_response = responder's signature over the challenge hex)
 *   ── handshake_confirm ────────▶ receiveConfirm()       {session_id, confirm, timestamp ±60 s}
 *
 * Each message travels in an ordinary signed envelope; the caller verifies the envelope with
 * the key the payload claims (or the pinned one) and passes that key in. A v1.0 session is
 * bookkeeping, not a secure channel: it has no keys of its own and v1.0 traffic stays signed,
 * not encrypted. What it gives us is the sender's public key, learned with proof of possession
 * (the challenge), for senders that are not pinned. Half-open handshakes are dropped after
 * 300 s, sessions after 3600 s; both tables are bounded.
 */
import { randomUUID } from 'node:crypto';
import { Identity, constantTimeEqual, randomBytes } from '../../crypto/index.js';
import { ErrorCode, PeerError } from '../../errors.js';
import { V1_VERSIONS, decodeSignature, formatTimestamp, parseTimestamp, type V1Version } from './envelope.js';
import type { JsonInput, JsonObject } from './json.js';

/** V1_COMPAT.md: a half-open handshake is dropped after 300 s. */
export const HANDSHAKE_TTL_MS = 300_000;
/** V1_COMPAT.md: a session lives 3600 s. */
export const SESSION_TTL_MS = 3_600_000;
/** V1_COMPAT.md: handshake_confirm is rejected if its timestamp is more than 60 s off. */
export const CONFIRM_TOLERANCE_MS = 60_000;
/** The challenge: 32 random bytes, sent as 64 hex chars. */
export const CHALLENGE_BYTES = 32;
export const HANDSHAKE_TYPES = ['handshake', 'handshake_ack', 'handshake_confirm'] as const;
export type HandshakeType = (typeof HANDSHAKE_TYPES)[number];

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const MAX_CAPABILITIES = 64;
const MAX_CAPABILITY_LENGTH = 256;

export interface V1Session {
  id: string;
  peerId: string;
  /** The peer's Ed25519 key, proven by its signatures (and, for a responder, the challenge). */
  publicKey: Buffer;
  /** True when we sent `handshake`. */
  initiator: boolean;
  version: V1Version;
  /** What the peer announced in its `handshake` (empty when we initiated). */
  capabilities: string[];
  establishedAt: number;
  expiresAt: number;
}

export interface V1HandshakeOptions {
  /** Our capabilities, announced in `handshake` (default none). */
  capabilities?: string[];
  handshakeTtlMs?: number;
  sessionTtlMs?: number;
  /** Half-open handshakes held at once (default 1024); past it, RATE_LIMITED. */
  maxPending?: number;
  /** Sessions held at once (default 10,000); past it, the oldest is forgotten. */
  maxSessions?: number;
}

interface Pending {
  id: string;
  peerId: string;
  role: 'initiator' | 'responder';
  challenge: string;
  /** Responder: the initiator's key (from its handshake). */
  publicKey: Buffer | undefined;
  capabilities: string[];
  version: V1Version;
  expiresAt: number;
  /** Responder: our ack went out (after the endpoint checked the key); only then may a confirm complete it. */
  acked: boolean;
}

const malformed = (m: string): PeerError => new PeerError(ErrorCode.MALFORMED_FRAME, `v1.0 handshake: ${m}`);

function sessionIdOf(payload: JsonObject): string {
  const id = payload.get('session_id');
  if (typeof id !== 'string' || !UUID_RE.test(id)) throw malformed('session_id must be a UUID');
  return id;
}

function hexField(payload: JsonObject, field: string, chars: number): string {
  const v = payload.get(field);
  if (typeof v !== 'string' || v.length !== chars || !/^[0-9a-fA-F]*$/.test(v)) throw malformed(`${field} must be ${chars} hex chars`);
  return v;
}

function stringList(payload: JsonObject, field: string): string[] {
  const v = payload.get(field);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_CAPABILITIES || !v.every((x) => typeof x === 'string' && x.length <= MAX_CAPABILITY_LENGTH)) {
    throw malformed(`${field} must be a list of at most ${MAX_CAPABILITIES} strings`);
  }
  return v as string[];
}

function sameKey(a: Uint8Array, b: Uint8Array): void {
  if (!constantTimeEqual(a, b)) throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'v1.0 handshake: public_key is not the key that signed the envelope');
}

/** The Ed25519 key a handshake or handshake_ack payload claims (to verify its envelope with). */
export function claimedKey(payload: JsonObject): Buffer {
  return Buffer.from(hexField(payload, 'public_key', 64), 'hex');
}

export class V1Handshakes {
  /** By session id; a Map keeps insertion order, which is expiry order (one TTL for all). */
  private readonly pending = new Map<string, Pending>();
  private readonly sessions = new Map<string, V1Session>();
  /** Peer id → its latest session id. */
  private readonly latest = new Map<string, string>();
  private readonly handshakeTtlMs: number;
  private readonly sessionTtlMs: number;
  private readonly maxPending: number;
  private readonly maxSessions: number;
  private readonly capabilities: string[];

  constructor(private readonly identity: Identity, options: V1HandshakeOptions = {}) {
    this.handshakeTtlMs = options.handshakeTtlMs ?? HANDSHAKE_TTL_MS;
    this.sessionTtlMs = options.sessionTtlMs ?? SESSION_TTL_MS;
    this.maxPending = options.maxPending ?? 1024;
    this.maxSessions = options.maxSessions ?? 10_000;
    this.capabilities = [...(options.capabilities ?? [])];
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Initiator, step 1: the `handshake` payload for `peerId`. */
  start(peerId: string, now: number): { sessionId: string; payload: Record<string, JsonInput> } {
    const id = randomUUID();
    const challenge = randomBytes(CHALLENGE_BYTES).toString('hex');
    this.addPending({ id, peerId, role: 'initiator', challenge, publicKey: undefined, capabilities: [], version: '1.0', expiresAt: now + this.handshakeTtlMs, acked: false }, now);
    return {
      sessionId: id,
      payload: {
        version: '1.0', session_id: id, challenge, public_key: this.identity.publicKey.toString('hex'),
        supported_versions: [...V1_VERSIONS], capabilities: this.capabilities,
      },
    };
  }

  /** Responder, step 1 received (envelope verified with `key`): the `handshake_ack` payload. */
  receiveHandshake(peerId: string, key: Uint8Array, payload: JsonObject, now: number): { sessionId: string; payload: Record<string, JsonInput> } {
    this.expire(now);
    const id = sessionIdOf(payload);
    const challenge = hexField(payload, 'challenge', 2 * CHALLENGE_BYTES);
    sameKey(claimedKey(payload), key);
    const offered = stringList(payload, 'supported_versions');
    const own = payload.get('version');
    if (typeof own === 'string') offered.push(own);
    const version = V1_VERSIONS.find((v) => offered.includes(v));
    if (version === undefined) throw new PeerError(ErrorCode.INVALID_VERSION, 'v1.0 handshake offers neither "1.0" nor "0.3"');
    const capabilities = stringList(payload, 'capabilities');
    if (this.pending.has(id) || this.sessions.has(id)) throw new PeerError(ErrorCode.HANDSHAKE_IN_PROGRESS, `v1.0 session ${id} is already in use`);
    // One half-open responder handshake per peer. A new one under the same key (a restarted
    // peer) replaces it; one under another key cannot cancel it (it would let a newcomer who
    // claims the id knock out the real peer's handshake).
    for (const p of this.pending.values()) {
      if (p.peerId !== peerId || p.role !== 'responder') continue;
      if (!constantTimeEqual(p.publicKey!, key)) throw new PeerError(ErrorCode.HANDSHAKE_IN_PROGRESS, `a v1.0 handshake with ${peerId} under another key is in progress`);
      this.pending.delete(p.id);
    }
    this.addPending({ id, peerId, role: 'responder', challenge, publicKey: Buffer.from(key), capabilities, version, expiresAt: now + this.handshakeTtlMs, acked: false }, now);
    return {
      sessionId: id,
      payload: {
        session_id: id, public_key: this.identity.publicKey.toString('hex'),
        // Signature over the challenge's hex string as received; base64 like envelope signatures.
        challenge_response: this.identity.sign(Buffer.from(challenge, 'utf8')).toString('base64'),
        selected_version: version, confirm: true,
      },
    };
  }

  /** Initiator, step 2 received (envelope verified with `key`): the session and the `handshake_confirm` payload. */
  receiveAck(peerId: string, key: Uint8Array, payload: JsonObject, now: number): { session: V1Session; payload: Record<string, JsonInput> } {
    const p = this.takePending(sessionIdOf(payload), peerId, 'initiator', now);
    sameKey(claimedKey(payload), key);
    const selected = payload.get('selected_version');
    if (typeof selected !== 'string' || !(V1_VERSIONS as readonly string[]).includes(selected)) {
      throw new PeerError(ErrorCode.INVALID_VERSION, 'v1.0 handshake_ack selected a version we did not offer');
    }
    if (payload.get('confirm') !== true) throw malformed('handshake_ack must carry confirm: true');
    const response = decodeSignature(payload.get('challenge_response'));
    if (!Identity.isValidSignature(key, Buffer.from(p.challenge, 'utf8'), response)) {
      throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'v1.0 handshake_ack: challenge_response does not verify');
    }
    this.pending.delete(p.id);
    const session = this.establish(p, Buffer.from(key), selected as V1Version, now);
    return { session, payload: { session_id: p.id, confirm: true, timestamp: formatTimestamp(now) } };
  }

  /** Responder, step 3 received (envelope verified with `key`): the session. */
  receiveConfirm(peerId: string, key: Uint8Array, payload: JsonObject, now: number): V1Session {
    const p = this.takePending(sessionIdOf(payload), peerId, 'responder', now);
    if (!p.acked) throw new PeerError(ErrorCode.SESSION_NOT_FOUND, `v1.0 handshake ${p.id} with ${peerId} was not acknowledged`);
    sameKey(p.publicKey!, key);
    if (payload.get('confirm') !== true) throw malformed('handshake_confirm must carry confirm: true');
    const ts = payload.get('timestamp');
    const t = typeof ts === 'string' ? parseTimestamp(ts) : undefined;
    if (t === undefined) throw malformed('handshake_confirm timestamp must be ISO 8601 UTC');
    if (!(Math.abs(now - t) <= CONFIRM_TOLERANCE_MS)) {
      throw new PeerError(ErrorCode.REPLAY_DETECTED, `v1.0 handshake_confirm timestamp is ${Math.round((now - t) / 1000)} s off`);
    }
    this.pending.delete(p.id);
    return this.establish(p, p.publicKey!, p.version, now);
  }

  /** The key of the acknowledged responder-side half-open handshake `sessionId` with `peerId` (to verify its confirm). */
  pendingKey(peerId: string, sessionId: string): Buffer | undefined {
    const p = this.pending.get(sessionId);
    return p !== undefined && p.peerId === peerId && p.role === 'responder' && p.acked ? p.publicKey : undefined;
  }

  /** Responder: the ack to `sessionId` is going out; its handshake_confirm may complete it. */
  acknowledge(sessionId: string): void {
    const p = this.pending.get(sessionId);
    if (p !== undefined && p.role === 'responder') p.acked = true;
  }

  /** True while we wait for `peerId`'s handshake_ack to `sessionId`. */
  awaitingAck(peerId: string, sessionId: string): boolean {
    const p = this.pending.get(sessionId);
    return p !== undefined && p.peerId === peerId && p.role === 'initiator';
  }

  /** Forgets an initiator handshake that could not be sent. */
  cancel(sessionId: string): void {
    this.pending.delete(sessionId);
  }

  /** The peer's latest live session. */
  sessionWith(peerId: string, now: number): V1Session | undefined {
    const id = this.latest.get(peerId);
    return id === undefined ? undefined : this.session(id, now);
  }

  session(id: string, now: number): V1Session | undefined {
    const s = this.sessions.get(id);
    return s !== undefined && s.expiresAt > now ? s : undefined;
  }

  liveSessions(now: number): V1Session[] {
    return [...this.sessions.values()].filter((s) => s.expiresAt > now);
  }

  /** Drops half-open handshakes older than 300 s and sessions older than 3600 s. */
  expire(now: number): void {
    for (const p of this.pending.values()) {
      if (p.expiresAt > now) break;
      this.pending.delete(p.id);
    }
    for (const s of this.sessions.values()) {
      if (s.expiresAt > now) break;
      this.dropSession(s);
    }
  }

  private addPending(p: Pending, now: number): void {
    if (this.pending.size >= this.maxPending) this.expire(now);
    if (this.pending.size >= this.maxPending) throw new PeerError(ErrorCode.RATE_LIMITED, `${this.maxPending} v1.0 handshakes are already half-open`);
    this.pending.set(p.id, p);
  }

  private takePending(id: string, peerId: string, role: Pending['role'], now: number): Pending {
    const p = this.pending.get(id);
    if (p === undefined || p.peerId !== peerId || p.role !== role) {
      throw new PeerError(ErrorCode.SESSION_NOT_FOUND, `no half-open v1.0 handshake ${id} with ${peerId}`);
    }
    if (p.expiresAt <= now) {
      this.pending.delete(id);
      throw new PeerError(ErrorCode.SESSION_EXPIRED, `v1.0 handshake ${id} is older than ${this.handshakeTtlMs / 1000} s`);
    }
    return p;
  }

  private establish(p: Pending, publicKey: Buffer, version: V1Version, now: number): V1Session {
    if (this.sessions.size >= this.maxSessions) this.expire(now);
    if (this.sessions.size >= this.maxSessions) this.dropSession(this.sessions.values().next().value!);
    const session: V1Session = {
      id: p.id, peerId: p.peerId, publicKey, initiator: p.role === 'initiator', version,
      capabilities: p.capabilities, establishedAt: now, expiresAt: now + this.sessionTtlMs,
    };
    this.sessions.set(session.id, session);
    this.latest.set(session.peerId, session.id);
    return session;
  }

  private dropSession(s: V1Session): void {
    this.sessions.delete(s.id);
    if (this.latest.get(s.peerId) === s.id) this.latest.delete(s.peerId);
  }
}
