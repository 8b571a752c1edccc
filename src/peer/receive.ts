/**
 * The receiving side of a READY session: opens records, charges each message to its rate class,
 * delivers whole messages and the chunks of streamed ones, and acts on what the peer reports.
 */
import type { Duplex } from 'node:stream';
import { ErrorCode, PeerError } from '../errors.js';
import type { RateClass } from '../ratelimit/index.js';
import { MESSAGE_HEADER_BYTES, runPayloadLength, type ReceiveResult, type SessionChain } from '../session/index.js';
import { messageTypeName, rateClassOf } from '../wire/index.js';
import type { Inbox } from './inbox.js';
import { IncomingStream } from './incoming-stream.js';
import { ACK_TYPE, ENVELOPE_TYPE } from './envelope.js';
import { NO_ACK, once as single, type MessageV11 } from './message.js';
import { OverLimitMeter } from './over-limit.js';
import { RefusalNotices } from './refusals.js';
import type { Sender } from './send.js';
import type { Session, SessionIoOptions } from './session.js';
import type { SessionTimer } from './timers.js';

/** What the receive side asks of its session. */
export interface ReceiveHooks {
  /** Ends the session on an error, telling the peer when `notify`. */
  fail(err: PeerError, notify: boolean): void;
  /** Marks the session over (an error when the peer's was fatal). */
  finish(err?: PeerError): void;
  /** Half-closes the connection. */
  endStream(): void;
  /** Sets the session's timer for its next deadline. */
  armTimer(): void;
}

export class Receiver {
  /** Streamed messages being received, by message id. */
  private readonly incoming = new Map<number, IncomingStream>();
  /** RATE_LIMITED notices naming every refused whole message (refusals.ts). */
  private readonly notices: RefusalNotices;
  private readonly overLimit: OverLimitMeter | null;
  /** Set when this side ended the session mid-batch: the rest of the batch is not acted on. */
  private stopped = false;

  constructor(
    private readonly session: Session,
    private readonly stream: Duplex,
    private readonly chain: SessionChain,
    private readonly opts: SessionIoOptions,
    private readonly inbox: Inbox<MessageV11>,
    private readonly sender: Sender,
    private readonly timer: SessionTimer,
    private readonly hooks: ReceiveHooks,
  ) {
    this.overLimit = opts.overLimit === false ? null : new OverLimitMeter(opts.overLimit);
    this.notices = new RefusalNotices(stream, chain);
  }

  /** The records of one read, opened with one native call per shared buffer. */
  onRecords(bodies: Uint8Array[]): void {
    const now = Date.now();
    this.timer.lastActivity = now;
    this.apply(this.chain.receiveMany(bodies, now));
  }

  /** Delivers what the record layer produced, writes its replies, and ends on its error. */
  apply(r: ReceiveResult): void {
    const from = this.chain.session.remote.entityId;
    for (let i = 0; i < r.dropped; i++) this.session.emit('dropped', new PeerError(ErrorCode.REPLAY_DETECTED, 'replayed record dropped'));
    for (const reply of r.replies) this.stream.write(reply);
    for (const e of r.events) {
      if (this.stopped) return;
      switch (e.kind) {
        case 'message':
          // Only chunked messages come whole (data records come as runs): charged at their chunk 0.
          this.overLimit?.accept(Date.now());
          this.notices.acceptedChunked();
          this.deliver(this.message(from, e.type, e.seq, e.payload.length, false, e.payload));
          break;
        case 'run':
          this.deliverRun(from, e.plain, e.seq, e.count);
          break;
        case 'limited':
          this.refused(e.rateClass, e.seq, e.retryAfter, Date.now(), e.messageId);
          break;
        case 'stream-start': {
          this.overLimit?.accept(Date.now());
          this.notices.acceptedChunked();
          const s = new IncomingStream(this.opts.maxBufferedChunks ?? 16, () => this.stream.pause(), () => this.stream.resume());
          this.incoming.set(e.messageId, s);
          this.deliver(this.message(from, e.type, e.seq, e.total, true, new Uint8Array(0), s));
          break;
        }
        case 'stream-data':
          this.incoming.get(e.messageId)?.push(e.data, e.last);
          if (e.last) this.incoming.delete(e.messageId);
          break;
        case 'chunk-error':
          this.failIncoming(e.error.details?.messageId as number | undefined, e.error);
          this.session.emit('chunkError', e.error);
          break;
        case 'error': {
          const err = new PeerError(e.error.code as ErrorCode, `peer reported: ${e.error.reason}`, { remote: true, ...e.error });
          if (e.fatal) {
            // The peer ended the session: end our side of the connection too (nothing else would).
            this.hooks.finish(err);
            this.hooks.endStream();
          } else {
            // Only a refusal naming a message of ours is kept (and rejects exactly that message).
            if (this.sender.onRefusal(err, e.error)) this.session.emit('rejected', err);
          }
          break;
        }
        case 'close':
          // The peer is done: end our side too, so neither end holds the connection open.
          this.hooks.finish();
          this.hooks.endStream();
          break;
      }
    }
    if (this.stopped) return;
    if (r.error) return this.hooks.fail(r.error, false); // its sealed error record is among the replies
    this.notices.flush();
    // Re-arm when a reassembly deadline appeared or moved; idleness is re-checked when the timer fires.
    if (this.chain.deadline !== this.timer.armedReassembly) this.hooks.armTimer();
  }

  /** A checked run's messages, each charged to its class first: a refused one is never materialised. */
  private deliverRun(from: string, plain: Uint8Array, seq: number, count: number): void {
    for (let i = 0, at = 0; i < count && !this.stopped; i++) {
      const type = plain[at]!;
      const start = at + MESSAGE_HEADER_BYTES;
      at = start + runPayloadLength(plain, at);
      if (this.charged(type, plain, start, at, seq + i)) continue;
      const payload = plain.subarray(start, at);
      this.deliver(this.message(from, type, seq + i, payload.length, false, payload));
    }
  }

  /**
   * Charges a message of a run. Acks and replies to our own requests are admitted by credit; an
   * envelope is charged to its inner type and refused with a reply naming it (delivery.ts).
   */
  private charged(type: number, plain: Uint8Array, start: number, end: number, seq: number): boolean {
    if (type < ENVELOPE_TYPE || type > ACK_TYPE) return this.limited(rateClassOf(type), seq);
    const payload = plain.subarray(start, end);
    const charge = this.sender.delivery.classify(type, payload);
    return charge !== null && this.limited(charge.cls, seq, charge.tracked === null ? undefined : payload);
  }

  /** The session is over: streamed messages still arriving end with `err`. */
  abandon(err: PeerError): void {
    for (const s of this.incoming.values()) s.fail(err);
    this.incoming.clear();
  }

  /**
   * Charges a received message to its class; over the limit it is refused (see refused()).
   * Chunked messages are charged by the reassembler at their chunk 0 and arrive here as
   * 'limited' events when refused.
   */
  private limited(cls: RateClass, seq: number, envelope?: Uint8Array): boolean {
    const now = Date.now();
    const retryAfter = this.opts.rateLimit?.(this.chain.session.remote, cls, now) ?? 0;
    if (retryAfter === 0) {
      this.overLimit?.accept(now);
      this.notices.accepted(cls);
      return false;
    }
    this.refused(cls, seq, retryAfter, now, undefined, envelope);
    return true;
  }

  /**
   * A message over its rate limit is dropped and counted, and the session goes on. The sender
   * is told which: an envelope by an error reply naming its id (delivery.ts), a chunked message
   * by a notice naming its message id (not while our socket is backed up), any other by a
   * range notice (refusals.ts). A peer that stays far over (over-limit.ts) is disconnected
   * with RATE_LIMITED.
   */
  private refused(cls: RateClass, seq: number, retryAfter: number, now: number, messageId?: number, envelope?: Uint8Array): void {
    this.session.emit('rateLimited', cls);
    if (this.overLimit?.refuse(now)) {
      this.stopped = true;
      this.hooks.fail(new PeerError(ErrorCode.RATE_LIMITED, 'far over the rate limit for too long', { rateClass: cls }), true);
      return;
    }
    if (envelope !== undefined) {
      // An ack: true message or a request: its sender waits for exactly this answer (a reply, bounded in delivery.ts).
      this.sender.delivery.refuseTracked(envelope, ErrorCode.RATE_LIMITED, `${cls} rate limit`, retryAfter);
      return;
    }
    if (messageId === undefined) return this.notices.refuse(cls, seq, retryAfter);
    if (this.stream.writableNeedDrain) return;
    const notice = this.chain.notify({ code: ErrorCode.RATE_LIMITED, reason: `${cls} rate limit`, seq, messageId, retryAfter, rateClass: cls });
    if (notice) this.stream.write(notice);
  }

  private message(from: string, type: number, seq: number, size: number, streamed: boolean, payload: Uint8Array, stream?: IncomingStream): MessageV11 {
    return {
      from, type: messageTypeName(type) ?? type, payload, seq, session: this.session, version: '1.1', encrypted: true, size, streamed,
      stream: () => stream ?? single(payload), ...NO_ACK,
    };
  }

  private failIncoming(messageId: number | undefined, err: PeerError): void {
    if (messageId === undefined) return;
    this.incoming.get(messageId)?.fail(err);
    this.incoming.delete(messageId);
  }

  /**
   * Hands a message to the application (acks, replies and requests go to delivery.ts instead)
   * and, unless `manualAck`, acknowledges it once every listener returned.
   */
  private deliver(m: MessageV11): void {
    if (this.opts.divert?.(m) === true) return;
    let out: MessageV11 | null;
    try {
      out = this.sender.delivery.receive(m, this.session);
    } catch (err) {
      // A malformed envelope, ack or reply: that message alone is dropped.
      this.session.emit('dropped', err instanceof PeerError ? err : new PeerError(ErrorCode.MALFORMED_FRAME, String(err)));
      return;
    }
    if (out === null) return;
    this.session.emit('message', out); // a listener that throws ends this session only (the backstop)
    this.inbox.push(out);
    if (!this.sender.delivery.manualAck) out.accept();
  }
}
