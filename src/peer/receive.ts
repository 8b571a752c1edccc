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
import { chargedAlone } from './envelope.js';
import { once as single, type MessageV11 } from './message.js';
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

const EMPTY = Buffer.alloc(0);

function noop(): void {}

/** stream() of a whole message: its payload as one chunk (`this` is the message, also when copied by `{ ...m }`). */
function wholeStream(this: MessageV11): AsyncIterable<Uint8Array> {
  return single(this.payload);
}

export class Receiver {
  /** Streamed messages being received, by message id. */
  private readonly incoming = new Map<number, IncomingStream>();
  /** RATE_LIMITED notices naming every refused whole message (refusals.ts). */
  private readonly notices: RefusalNotices;
  private readonly overLimit: OverLimitMeter | null;
  /** Set when this side ended the session mid-batch: the rest of the batch is not acted on. */
  private stopped = false;
  /** Plain messages of the current read not yet handed out (see handOut()). */
  private batch: MessageV11[] = [];

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

  /** The records of one read, opened with one native call per shared buffer; one clock read for all. */
  onRecords(bodies: Uint8Array[]): void {
    const now = Date.now();
    this.timer.lastActivity = now;
    this.apply(this.chain.receiveMany(bodies, now), now);
  }

  /**
   * Delivers what the record layer produced, writes its replies, and ends on its error. `now`
   * is the time of the read (or of the deadline) that produced it, used for every message in it.
   */
  apply(r: ReceiveResult, now: number): void {
    try {
      this.applyEvents(r, now);
    } finally {
      this.handOut();
    }
  }

  private applyEvents(r: ReceiveResult, now: number): void {
    const from = this.chain.session.remote.entityId;
    for (let i = 0; i < r.dropped; i++) this.session.emit('dropped', new PeerError(ErrorCode.REPLAY_DETECTED, 'replayed record dropped'));
    for (const reply of r.replies) this.stream.write(reply);
    for (const e of r.events) {
      if (this.stopped) return;
      if (e.kind !== 'run') this.handOut();
      switch (e.kind) {
        case 'message':
          // Only chunked messages come whole (data records come as runs): charged at their chunk 0.
          this.overLimit?.accept(now, 1);
          this.notices.acceptedChunked();
          this.deliver(this.message(from, e.type, e.seq, e.payload, false));
          break;
        case 'run':
          this.deliverRun(from, e.plain, e.seq, e.count, now);
          break;
        case 'limited':
          this.refused(e.rateClass, e.seq, e.retryAfter, now, e.messageId);
          break;
        case 'stream-start': {
          this.overLimit?.accept(now, 1);
          this.notices.acceptedChunked();
          const s = new IncomingStream(this.opts.maxBufferedChunks ?? 16, () => this.stream.pause(), () => this.stream.resume());
          this.incoming.set(e.messageId, s);
          const m = this.message(from, e.type, e.seq, EMPTY, true);
          m.size = e.total;
          m.stream = () => s;
          this.deliver(m);
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

  /**
   * A checked run's messages, each charged to its class first: a refused one is never
   * materialised. Consecutive messages of one class are charged with one limiter call that
   * takes their tokens one by one, as separate calls would (ratelimit takeRun); envelopes,
   * acks and replies are classified one at a time (delivery.ts).
   */
  private deliverRun(from: string, plain: Uint8Array, seq: number, count: number, now: number): void {
    let i = 0;
    let at = 0;
    while (i < count && !this.stopped) {
      const type = plain[at]!;
      if (chargedAlone(type)) {
        this.handOut();
        const start = at + MESSAGE_HEADER_BYTES;
        at = start + runPayloadLength(plain, at);
        if (!this.charged(type, plain, start, at, seq + i, now)) this.deliver(this.message(from, type, seq + i, plain.subarray(start, at), false));
        i++;
        continue;
      }
      // The stretch of messages from i of the same class, charged together.
      const cls = rateClassOf(type);
      let j = i + 1;
      let end = at + MESSAGE_HEADER_BYTES + runPayloadLength(plain, at);
      while (j < count) {
        const t = plain[end]!;
        if (chargedAlone(t) || rateClassOf(t) !== cls) break;
        end += MESSAGE_HEADER_BYTES + runPayloadLength(plain, end);
        j++;
      }
      const admitted = this.admit(cls, now, j - i);
      for (let k = i; k < j && !this.stopped; k++) {
        const t = plain[at]!;
        const start = at + MESSAGE_HEADER_BYTES;
        at = start + runPayloadLength(plain, at);
        if (k - i >= admitted) {
          this.handOut();
          if (this.limited(cls, seq + k, now)) continue;
        }
        this.batchOrDeliver(this.message(from, t, seq + k, plain.subarray(start, at), false));
      }
      i = j;
    }
  }

  /**
   * Takes up to `count` tokens of `cls` one by one (as `count` rateLimit calls would); returns
   * how many messages were admitted. The first one refused, if any, goes through limited().
   */
  private admit(cls: RateClass, now: number, count: number): number {
    const run = this.opts.rateLimitRun;
    const admitted = run ? run(this.chain.session.remote, cls, now, count) : this.opts.rateLimit ? 0 : count;
    if (admitted > 0) {
      this.overLimit?.accept(now, admitted);
      this.notices.accepted(cls);
    }
    return admitted;
  }

  /**
   * Charges a message of a run. Acks, replies to our own requests and queue acks of what we
   * queued to the peer are admitted by credit; an
   * envelope is charged to its inner type and refused with a reply naming it (delivery.ts).
   */
  private charged(type: number, plain: Uint8Array, start: number, end: number, seq: number, now: number): boolean {
    const payload = plain.subarray(start, end);
    const charge = this.sender.delivery.classify(type, payload);
    return charge !== null && this.limited(charge.cls, seq, now, charge.tracked === null ? undefined : payload);
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
  private limited(cls: RateClass, seq: number, now: number, envelope?: Uint8Array): boolean {
    const retryAfter = this.opts.rateLimit?.(this.chain.session.remote, cls, now) ?? 0;
    if (retryAfter === 0) {
      this.overLimit?.accept(now, 1);
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

  /** One object per message: its methods are shared functions (no closure per message). */
  private message(from: string, type: number, seq: number, payload: Uint8Array, streamed: boolean): MessageV11 {
    return {
      from, type: messageTypeName(type) ?? type, payload, seq, session: this.session, version: '1.1', encrypted: true,
      size: payload.length, streamed, stream: wholeStream, id: null, ack: false, accept: noop, reject: noop,
    };
  }

  private failIncoming(messageId: number | undefined, err: PeerError): void {
    if (messageId === undefined) return;
    this.incoming.get(messageId)?.fail(err);
    this.incoming.delete(messageId);
  }

  /**
   * Hands a message to the application (acks, replies and requests go to delivery.ts instead)
   * after the plain messages before it (handOut()).
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
    this.batch.push(out);
    this.handOut();
  }

  /** A plain message (no envelope): joins the batch of this read. */
  private batchOrDeliver(m: MessageV11): void {
    if (this.opts.divert?.(m) === true) return;
    this.batch.push(m);
  }

  /**
   * Hands the batch to the application: once to 'messages' listeners, then each message to
   * 'message' listeners and the async iterator, and, unless `manualAck`, acknowledges each once
   * every listener returned. A listener that throws ends this session only (the backstop); the
   * messages after it in the batch are not delivered.
   */
  private handOut(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    const session = this.session;
    if (session.listenerCount('messages') > 0) session.emit('messages', batch);
    const each = session.listenerCount('message') > 0;
    const ack = !this.sender.delivery.manualAck;
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      if (each) session.emit('message', m);
      if (this.inbox.reading) this.inbox.push(m);
      if (ack && m.ack) m.accept(); // a message that asked for no ack has nothing to accept
    }
  }
}
