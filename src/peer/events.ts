/**
 * The events of Peer and Session, typed: `peer.on('mesage', …)` or a listener with the wrong
 * arguments does not compile. Also the Peer's listeners that count and forward its sessions'
 * events.
 */
import type { Mail } from '../relay/mail-agent.js';
import type { EventEmitter } from 'node:events';
import type { V1Message } from '../compat/v1/receiver.js';
import type { PeerError } from '../errors.js';
import type { RateClass } from '../ratelimit/index.js';
import type { Message, MessageV11 } from './message.js';
import type { Request } from './request.js';
import type { Session } from './session.js';

/**
 * `details` of a 'rejected' error: the peer refused messages of ours (RATE_LIMITED or
 * CHUNK_ERROR) and the session goes on. `seq` (or `messageId`, a chunked message) names one;
 * with `count`, the peer refused every whole (unchunked) message of class `rateClass` numbered
 * `seq` … `seq + count − 1` (the numbers `send()` resolved with). Every refused message is
 * named by one event. An `ack: true` message or a request so named also has its promise
 * rejected (RATE_LIMITED, `details.id`, `details.retryAfter`).
 */
export interface RejectionDetails {
  remote: true;
  code: string;
  reason: string;
  seq?: number;
  /** Messages refused from `seq` (absent: 1). */
  count?: number;
  messageId?: number;
  retryAfter?: number;
  rateClass?: string;
}

export interface SessionEvents {
  /** The handshake reached READY. */
  ready: [];
  message: [message: MessageV11];
  /**
   * The plain messages of one socket read, at once (before each goes to 'message' listeners):
   * one call per read instead of one per message, in order. An envelope (`ack: true`) or a
   * streamed message ends its batch; requests are never in one. Listeners may keep the array
   * but not change it (the Peer's 'messages' listeners get the same one).
   */
  messages: [batch: MessageV11[]];
  /** write() returned false and there is room again (as node:net's 'drain'). */
  drain: [];
  /** A request (`session.request()` on the other side): answer with `req.reply()` or `req.fail()`. */
  request: [request: Request];
  /** The peer refused one of our messages (details: RejectionDetails). */
  rejected: [error: PeerError];
  /** We refused a message of the peer's over its rate limit. */
  rateLimited: [cls: RateClass];
  /** A chunked message refused or abandoned, either way. */
  chunkError: [error: PeerError];
  /** A replayed record, or a malformed envelope/ack/reply, was dropped (the session goes on). */
  dropped: [error: PeerError];
  /**
   * A 'request' listener threw: the request is failed with HANDLER_ERROR and the session goes on.
   * (A 'message' listener that throws ends its session: 'internalError', then 'close'.)
   */
  handlerError: [error: unknown, item: Request];
  /** A fresh handshake renewed the keys. */
  renewed: [];
  /** Something unexpected was thrown inside the session's I/O handling; the session ended instead of the process. */
  internalError: [error: unknown];
  /** The session failed (only emitted when someone listens; 'close' always follows). */
  error: [error: PeerError];
  /** The session is over: `reason` is undefined for an orderly close, else the PeerError that ended it. */
  close: [reason: PeerError | undefined];
}

export interface PeerEvents {
  /** A message on any session, or from the v1.0 endpoint (`m.version === '1.0'`). */
  message: [message: Message];
  /** The plain v1.1 messages of one socket read of `session`, before each goes to 'message' (see SessionEvents). */
  messages: [batch: MessageV11[], session: Session];
  request: [request: Request];
  /** A session reached READY (incoming or outgoing). */
  session: [session: Session];
  rejected: [error: PeerError, session: Session];
  sessionError: [error: PeerError, session: Session];
  chunkError: [error: PeerError, session: Session];
  /** A request listener threw (the request failed with HANDLER_ERROR), or a v1.0 message listener threw. */
  handlerError: [error: unknown, item: V1Message | Request];
  internalError: [error: unknown, session: Session];
  /** Our DHT record could not be published (e.g. the first node of a network). */
  dhtError: [error: PeerError];
  /** connectAny() fell back to v1.0. */
  v1Fallback: [info: { entityId: string; url: string; reason: unknown }];
  /** connect(entityId) (or a handle) reached the entity: directly, or through relays (docs/RELAY.md). */
  route: [info: { entityId: string; path: 'direct' | 'relay'; via: string[]; session: Session }];
  /** A message from our mailbox, opened and its sender's signature verified (docs/RELAY.md "Mailboxes"). */
  mail: [mail: Mail];
}

/** What the Peer counts from its sessions' events. */
export interface SessionCounters {
  messagesReceived: number;
  recordsDropped: number;
  internalErrors: number;
  chunkErrors: number;
  sessionErrors: Partial<Record<PeerError['code'], number>>;
}

/**
 * The Peer's listeners on its sessions' events, made once per Peer and shared by every session
 * (`this` is the session that emitted): no closures per session. They count and forward to the
 * peer; `closed` also runs `onClose(session)`.
 */
export function sessionForwarders(peer: EventEmitter<PeerEvents>, counters: SessionCounters, onClose: (session: Session) => void) {
  return {
    messages(this: Session, batch: MessageV11[]): void {
      counters.messagesReceived += batch.length;
      if (peer.listenerCount('messages') > 0) peer.emit('messages', batch, this);
      if (peer.listenerCount('message') > 0) for (const m of batch) peer.emit('message', m);
    },
    dropped(): void {
      counters.recordsDropped++;
    },
    internalError(this: Session, err: unknown): void {
      counters.internalErrors++;
      if (peer.listenerCount('internalError') > 0) peer.emit('internalError', err, this);
    },
    chunkError(this: Session, err: PeerError): void {
      counters.chunkErrors++;
      if (peer.listenerCount('chunkError') > 0) peer.emit('chunkError', err, this);
    },
    request(this: Session, req: Request): void {
      // A request nobody handles is failed with NO_HANDLER (delivery.ts) instead of hanging.
      if (peer.listenerCount('request') > 0) peer.emit('request', req);
      else if (this.listenerCount('request') === 1) void req.fail('NO_HANDLER', 'no request handler on this peer').catch(() => undefined);
    },
    rejected(this: Session, err: PeerError): void {
      peer.emit('rejected', err, this);
    },
    handlerError(err: unknown, item: Request): void {
      peer.emit('handlerError', err, item);
    },
    closed(this: Session, err?: PeerError): void {
      onClose(this);
      if (err) {
        counters.sessionErrors[err.code] = (counters.sessionErrors[err.code] ?? 0) + 1;
        if (peer.listenerCount('sessionError') > 0) peer.emit('sessionError', err, this);
      }
    },
  };
}

export type SessionForwarders = ReturnType<typeof sessionForwarders>;
