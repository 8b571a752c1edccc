/**
 * What the endpoint does with one POSTed body, without the HTTP: parse and check the envelope,
 * let the caller admit it (rate limits, before any crypto), find the sender's key, verify,
 * check time and nonce, then deliver a message or advance a handshake. Sans-I/O: `now` comes
 * in, the outcome (and any reply to send) goes out.
 *
 * Whose key verifies a message (v1.0's sender_id is a free-form name, not derived from a key):
 * 1. the key pinned for sender_id in the key directory, if any: anything else is refused;
 * 2. otherwise, only when the directory accepts unknown entities, the key the sender proved in
 *    a v1.0 handshake (a `handshake` or `handshake_ack` is verified with the key its payload
 *    claims, and the challenge proves possession), for as long as that session lives;
 * 3. otherwise UNKNOWN_SENDER.
 */
import { constantTimeEqual } from '../../crypto/index.js';
import { ErrorCode, PeerError } from '../../errors.js';
import { parseEnvelope, verifyEnvelope, type V1Envelope } from './envelope.js';
import { V1Handshakes, claimedKey, type HandshakeType, type V1Session } from './handshake.js';
import { toPlain, type JsonInput, type JsonLimits, type PlainJson } from './json.js';
import type { ReplayGuard } from './replay.js';

/** A key directory: TrustStore satisfies it. */
export interface KeyDirectory {
  pinned(entityId: string): Uint8Array | undefined;
  readonly acceptUnknown: boolean;
}

/** A verified v1.0 message, as `'message'` listeners receive it. */
export interface V1Message {
  version: '1.0';
  /** v1.0 traffic is signed, never encrypted. */
  encrypted: false;
  /** sender_id: signed, and its key was pinned or proven in a handshake. */
  from: string;
  /** msg_type (signed). */
  type: string;
  /** The payload as plain JS: safe integers and floats as numbers, larger integers as bigint. */
  payload: { [key: string]: PlainJson };
  /** sequence_num: not signed, informative only. */
  seq: number | null;
  /** session_id: not signed, informative only. */
  sessionId: string | null;
  /** The live v1.0 session that session_id names, if it is one with this sender. */
  session: V1Session | undefined;
  /** The key that verified the signature. */
  publicKey: Buffer;
  /** Everything, losslessly (numbers keep their text). */
  envelope: V1Envelope;
}

/** A handshake message to POST back to the sender. */
export interface V1Reply {
  to: string;
  msgType: HandshakeType;
  sessionId: string;
  payload: Record<string, JsonInput>;
}

export type V1Outcome =
  | { kind: 'message'; message: V1Message }
  | { kind: 'handshake'; envelope: V1Envelope; reply: V1Reply; publicKey: Buffer }
  | { kind: 'handshake_ack'; envelope: V1Envelope; session: V1Session; reply: V1Reply }
  | { kind: 'handshake_confirm'; envelope: V1Envelope; session: V1Session };

export interface ReceiveHooks {
  /** Called after parsing, before any signature check: throw (e.g. RATE_LIMITED) to refuse. */
  admit?(envelope: V1Envelope): void;
  /** Whether a reply to `peerId` can be sent (an address is known); checked before a handshake is accepted. */
  canReply?(peerId: string): boolean;
}

export interface V1ReceiverOptions {
  trust: KeyDirectory;
  handshakes: V1Handshakes;
  replay: ReplayGuard;
  limits?: JsonLimits;
}

export class V1Receiver {
  constructor(private readonly options: V1ReceiverOptions) {}

  receive(body: string | Uint8Array, now: number, hooks: ReceiveHooks = {}): V1Outcome {
    const { handshakes, replay } = this.options;
    const env = parseEnvelope(body, this.options.limits);
    hooks.admit?.(env);
    replay.checkTime(env.timestampMs, now); // cheap: stale messages cost no signature check
    handshakes.expire(now);
    const from = env.senderId;
    // Refused before any signature work or nonce stored: a handshake we could not answer.
    if (env.msgType === 'handshake' && hooks.canReply && !hooks.canReply(from)) {
      throw new PeerError(ErrorCode.UNKNOWN_SENDER, `no address is known for ${from}: cannot answer its handshake`);
    }
    const key = this.keyFor(env, now);
    verifyEnvelope(env, key);
    replay.check(from, env.nonce, env.timestampMs, now, this.options.trust.pinned(from) !== undefined);
    switch (env.msgType) {
      case 'handshake': {
        const ack = handshakes.receiveHandshake(from, key, env.payload, now);
        return { kind: 'handshake', envelope: env, reply: { to: from, msgType: 'handshake_ack', ...ack }, publicKey: key };
      }
      case 'handshake_ack': {
        let acked;
        try {
          acked = handshakes.receiveAck(from, key, env.payload, now);
        } catch (err) {
          // The envelope verified: this is the peer's own answer, and it failed. Say which
          // handshake, so the initiator waiting for it can stop waiting.
          if (!(err instanceof PeerError)) throw err;
          throw new PeerError(err.code, err.message.replace(/^[A-Z_]+: /, ''), { ...err.details, sessionId: env.payload.get('session_id'), authenticated: true });
        }
        const { session, payload } = acked;
        return { kind: 'handshake_ack', envelope: env, session, reply: { to: from, msgType: 'handshake_confirm', sessionId: session.id, payload } };
      }
      case 'handshake_confirm':
        return { kind: 'handshake_confirm', envelope: env, session: handshakes.receiveConfirm(from, key, env.payload, now) };
      default: {
        const session = env.sessionId === null ? undefined : handshakes.session(env.sessionId, now);
        return {
          kind: 'message',
          message: {
            version: '1.0', encrypted: false, from, type: env.msgType,
            payload: toPlain(env.payload) as { [key: string]: PlainJson },
            seq: env.sequenceNum, sessionId: env.sessionId,
            session: session?.peerId === from ? session : undefined,
            publicKey: key, envelope: env,
          },
        };
      }
    }
  }

  /** The key that must have signed `env` (see the file comment), or why there is none. */
  private keyFor(env: V1Envelope, now: number): Buffer {
    const { trust, handshakes } = this.options;
    const from = env.senderId;
    const pin = trust.pinned(from);
    const pinned = pin === undefined ? undefined : Buffer.from(pin);
    const mismatch = (): PeerError => new PeerError(ErrorCode.INVALID_SIGNATURE, `${from} claims a key other than the one pinned for it`);
    switch (env.msgType) {
      case 'handshake': {
        const claimed = claimedKey(env.payload);
        if (pinned !== undefined) {
          if (!constantTimeEqual(pinned, claimed)) throw mismatch();
          return pinned;
        }
        if (!trust.acceptUnknown) throw new PeerError(ErrorCode.UNKNOWN_SENDER, `entity ${from} is not trusted`);
        // First come, first served for the life of a session: a name is not taken over by another key.
        const live = handshakes.sessionWith(from, now);
        if (live !== undefined && !constantTimeEqual(live.publicKey, claimed)) {
          throw new PeerError(ErrorCode.INVALID_SIGNATURE, `${from} has a live v1.0 session under another key`);
        }
        return claimed;
      }
      case 'handshake_ack': {
        const id = env.payload.get('session_id');
        if (typeof id !== 'string' || !handshakes.awaitingAck(from, id)) {
          throw new PeerError(ErrorCode.SESSION_NOT_FOUND, `unsolicited handshake_ack from ${from}`);
        }
        const claimed = claimedKey(env.payload);
        if (pinned !== undefined && !constantTimeEqual(pinned, claimed)) throw mismatch();
        return claimed; // unpinned: we chose to contact this peer (start() checked the directory)
      }
      default: {
        if (pinned !== undefined) return pinned;
        if (env.msgType === 'handshake_confirm') {
          const id = env.payload.get('session_id');
          const key = typeof id === 'string' ? handshakes.pendingKey(from, id) : undefined;
          if (key !== undefined) return key;
        }
        const live = trust.acceptUnknown ? handshakes.sessionWith(from, now) : undefined;
        if (live !== undefined) return live.publicKey;
        throw new PeerError(ErrorCode.UNKNOWN_SENDER, `no key is pinned for ${from} and it has no live v1.0 session`);
      }
    }
  }
}
