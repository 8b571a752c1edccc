/**
 * Acknowledged messages and request/reply on one session (envelope.ts has the bytes).
 *
 * Sending: an `ack: true` message or a request is tracked by its 16-byte id, its message number
 * and (when chunked) its chunked message id, so that the ack, the reply, or the peer's refusal
 * settles exactly its promise; the session's end rejects every one still pending with its id.
 * At most `maxTrackedMessages` are pending; later ones wait in call order.
 * Receiving: envelopes become Messages with an id (acked when the application accepts them) or
 * Requests; acks and replies settle what we sent. An ack or a reply to a message of ours still
 * pending is admitted by it (no rate-limit token), anything else is charged to its type's class.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, PeerError } from '../errors.js';
import type { RateClass } from '../ratelimit/index.js';
import { messageTypeName, rateClassOf } from '../wire/index.js';
import {
  ACK_TYPE, ENVELOPE_HEADER_BYTES, ENVELOPE_TYPE, ID_BYTES, QUEUE_ACK_TYPE, REPLY_TYPE, decodeAck, decodeEnvelope, decodeReply,
  encodeAck, encodeEnvelope, encodeReplyError, encodeReplyOk, isApplicationType, newId, parseId, type EnvelopeKind,
} from './envelope.js';
import type { Message, MessageV11, Reply } from './message.js';
import { Request } from './request.js';
import type { Refused, Sender } from './send.js';

/** Tracked (ack: true or request) messages pending per session before later ones wait. */
export const DEFAULT_MAX_TRACKED = 65_536;
/** Default request timeout. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Ids acknowledged in one ack message (64 KiB). */
const MAX_IDS_PER_ACK = 4096;
/** Refusals and acks waiting for the socket beyond this many sends are dropped (a peer that does not read). */
const MAX_CONTROL_BACKLOG = 4096;

export interface TrackOptions {
  id?: Uint8Array | string;
  timeout?: number;
  signal?: AbortSignal;
}

interface Pending {
  kind: EnvelopeKind;
  hex: string;
  /** The rate class the peer charges it to (a range refusal names one). */
  cls: RateClass;
  seq: number;
  chunkId: number | null;
  resolve(value: number | Reply): void;
  reject(err: PeerError): void;
  cleanup(): void;
}

export interface DeliveryOptions {
  /** Messages sent with ack: true and requests pending at once per session (default 65,536). */
  maxTrackedMessages?: number;
  /**
   * Acknowledge ack: true messages only when the application calls `m.accept()` (default false:
   * once every 'message' listener returned without throwing, or the iterator took the message).
   */
  manualAck?: boolean;
}

export class Delivery {
  private readonly byId = new Map<string, Pending>();
  private readonly bySeq = new Map<number, Pending>();
  private readonly byChunk = new Map<number, Pending>();
  private readonly maxTracked: number;
  private readonly gate = (): boolean => this.byId.size < this.maxTracked;
  private closedWith: PeerError | null = null;
  /** Ids accepted this tick, sent as one ack message. */
  private acks: Uint8Array[] = [];
  readonly manualAck: boolean;

  constructor(private readonly sender: Sender, opts: DeliveryOptions) {
    this.maxTracked = opts.maxTrackedMessages ?? DEFAULT_MAX_TRACKED;
    this.manualAck = opts.manualAck ?? false;
  }

  /** Tracked messages not yet settled. */
  get pending(): number {
    return this.byId.size;
  }

  /** Sends an ack: true message (resolves with its number once accepted) or a request (resolves with the reply). */
  track(kind: 'ack', type: number, payload: Uint8Array, opts: TrackOptions): Promise<number>;
  track(kind: 'request', type: number, payload: Uint8Array, opts: TrackOptions): Promise<Reply>;
  track(kind: EnvelopeKind, type: number, payload: Uint8Array, opts: TrackOptions): Promise<number | Reply> {
    let id: Buffer;
    try {
      id = opts.id === undefined ? newId() : parseId(opts.id);
    } catch (err) {
      return Promise.reject(err);
    }
    const hex = id.toString('hex');
    if (this.closedWith) return Promise.reject(sessionClosed(kind, hex, -1, this.closedWith));
    if (this.byId.has(hex)) return Promise.reject(new PeerError(ErrorCode.INVALID_ARGUMENT, `message ${hex} is already pending on this session`));
    if (opts.signal?.aborted) return Promise.reject(aborted(hex));
    return new Promise<number | Reply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => this.settle(p, aborted(hex));
      const p: Pending = {
        kind, hex, cls: rateClassOf(type), seq: -1, chunkId: null, resolve, reject,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
        },
      };
      this.byId.set(hex, p);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (kind === 'request') {
        const ms = opts.timeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
        timer = setTimeout(() => this.settle(p, new PeerError(ErrorCode.TIMEOUT, `no reply to request ${hex} within ${ms} ms`, { id: hex, seq: p.seq })), ms);
        timer.unref();
      }
      this.sender.send(ENVELOPE_TYPE, encodeEnvelope(kind, type, id, payload), {
        classType: type,
        gate: this.gate,
        onQueued: (seq, chunkId) => {
          p.seq = seq;
          p.chunkId = chunkId;
          if (this.byId.get(hex) !== p) return; // settled (aborted, timed out) while waiting
          this.bySeq.set(seq, p);
          if (chunkId !== null) this.byChunk.set(chunkId, p);
        },
      }).catch((err: PeerError) => this.settle(p, err));
    });
  }

  /**
   * The peer refused message `seq` (or chunked message `messageId`), or the whole messages of
   * class `rateClass` numbered seq … seq + count − 1: exactly their promises reject.
   */
  onRefusal(err: PeerError, refused: Refused): void {
    const { seq, messageId, rateClass, count = 1 } = refused;
    const named = (p: Pending): void => this.settle(p, new PeerError(err.code, err.message, { ...err.details, id: p.hex, seq: p.seq }));
    if (messageId !== undefined || seq === undefined) {
      const p = (messageId !== undefined ? this.byChunk.get(messageId) : undefined) ?? (seq !== undefined ? this.bySeq.get(seq) : undefined);
      if (p) named(p);
      return;
    }
    const inRange = (p: Pending | undefined): p is Pending => p !== undefined && p.chunkId === null && (count === 1 || p.cls === rateClass);
    if (count <= this.bySeq.size) {
      for (let s = seq; s < seq + count; s++) {
        const p = this.bySeq.get(s);
        if (inRange(p)) named(p);
      }
    } else {
      for (const p of [...this.bySeq.values()]) if (p.seq >= seq && p.seq < seq + count && inRange(p)) named(p);
    }
  }

  /** The session is over: every pending message rejects with its id. */
  close(err: PeerError): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const p of [...this.byId.values()]) {
      this.settle(p, sessionClosed(p.kind, p.hex, p.seq, err));
    }
  }

  /**
   * The rate class a received message is charged to, or null when it is admitted by credit (an
   * ack, a reply to a request of ours). `tracked` is the id of an envelope: its refusal is
   * answered with an error reply naming it.
   */
  classify(type: number, payload: Uint8Array): { cls: RateClass; tracked: Uint8Array | null } | null {
    if (type === ACK_TYPE) return null;
    // One queue_ack per `queued` envelope we sent on this session goes free (a queue ack is
    // heartbeat class: a fast queue would stall at its burst); any beyond that is charged.
    if (type === QUEUE_ACK_TYPE && this.sender.takeQueueAckCredit()) return null;
    if (type === REPLY_TYPE) {
      // The answer to a request or an ack: true message of ours (each answered once: settling removes it).
      if (payload.length >= ENVELOPE_HEADER_BYTES && this.byId.has(hexOf(payload.subarray(2, ENVELOPE_HEADER_BYTES)))) return null;
      return { cls: rateClassOf(payload[1] ?? type), tracked: null };
    }
    if (type === ENVELOPE_TYPE && payload.length >= ENVELOPE_HEADER_BYTES && isApplicationType(payload[1]!)) {
      return { cls: rateClassOf(payload[1]!), tracked: payload.subarray(2, ENVELOPE_HEADER_BYTES) };
    }
    return { cls: rateClassOf(type), tracked: null };
  }

  /** Answers a refused envelope (e.g. rate-limited) with an error reply naming its id. */
  refuseTracked(envelope: Uint8Array, code: ErrorCode, reason: string, retryAfter: number): void {
    if (this.sender.backlog > MAX_CONTROL_BACKLOG) return;
    const type = envelope[1]!;
    const id = envelope.subarray(2, ENVELOPE_HEADER_BYTES);
    void this.sender.send(REPLY_TYPE, encodeReplyError(type, id, code, reason, retryAfter), { control: true }).catch(() => undefined);
  }

  /**
   * A received message: returns the Message to deliver (an envelope unwrapped), or null when it
   * was ours to consume (ack, reply, request — handed to `emitter` as 'request').
   * Throws MALFORMED_FRAME for a malformed envelope, ack or reply (the message is dropped).
   */
  receive(m: MessageV11, emitter: EventEmitter): MessageV11 | null {
    const type = m.type as number;
    if (type === ACK_TYPE) {
      for (const id of decodeAck(m.payload)) {
        const p = this.byId.get(hexOf(id));
        if (p?.kind === 'ack' && p.seq >= 0) this.settle(p, null, p.seq);
      }
      return null;
    }
    if (type === REPLY_TYPE) {
      const r = decodeReply(m.payload);
      const p = this.byId.get(hexOf(r.id));
      if (p === undefined || p.seq < 0) return null; // nobody asked (or it timed out): dropped
      if (!r.ok) {
        const rateLimited = r.code === ErrorCode.RATE_LIMITED;
        const err = rateLimited
          ? new PeerError(ErrorCode.RATE_LIMITED, `peer refused ${p.hex}: ${r.reason}`, { remote: true, id: p.hex, seq: p.seq, retryAfter: r.retryAfter, class: rateClassOf(r.type) })
          : new PeerError(ErrorCode.REQUEST_FAILED, `${r.code}: ${r.reason}`, { remote: true, remoteCode: r.code, reason: r.reason, id: p.hex, seq: p.seq });
        this.settle(p, err);
      } else if (p.kind === 'request') {
        this.settle(p, null, { from: m.from, type: messageTypeName(r.type) ?? r.type, payload: r.payload, id: p.hex, seq: m.seq, session: m.session });
      } else {
        this.settle(p, null, p.seq);
      }
      return null;
    }
    if (type !== ENVELOPE_TYPE) return m;
    const e = decodeEnvelope(m.payload);
    const hex = hexOf(e.id);
    const inner = { ...m, type: messageTypeName(e.type) ?? e.type, payload: e.payload, size: e.payload.length, id: hex };
    if (e.kind === 'request') {
      const req = new Request(inner, (payload, replyType) => this.reply(encodeReplyOk(replyType, e.id, payload)),
        (code, reason) => this.reply(encodeReplyError(e.type, e.id, code, reason)), e.type);
      try {
        if (!emitter.emit('request', req)) void req.fail('NO_HANDLER', 'no request handler on this peer').catch(() => undefined);
      } catch (err) {
        if (!req.answered) void req.fail('HANDLER_ERROR', 'the application failed to handle the request').catch(() => undefined);
        emitter.emit('handlerError', err, req);
      }
      return null;
    }
    let answered = false;
    const id = Buffer.from(e.id);
    return {
      ...inner, ack: true,
      accept: () => {
        if (answered) return;
        answered = true;
        this.queueAck(id);
      },
      reject: (code: string, reason = '') => {
        if (answered) return;
        answered = true;
        void this.reply(encodeReplyError(e.type, id, code, reason)).catch(() => undefined);
      },
    };
  }

  private reply(bytes: Buffer): Promise<number> {
    return this.sender.send(REPLY_TYPE, bytes, { control: true });
  }

  private queueAck(id: Uint8Array): void {
    if (this.closedWith || this.sender.backlog > MAX_CONTROL_BACKLOG) return;
    if (this.acks.length === 0) setImmediate(() => this.flushAcks());
    this.acks.push(id);
  }

  private flushAcks(): void {
    const ids = this.acks;
    this.acks = [];
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_ACK) {
      const part = ids.slice(i, i + MAX_IDS_PER_ACK);
      const bytes = Buffer.allocUnsafe(part.length * ID_BYTES);
      part.forEach((id, k) => bytes.set(encodeAck(id), k * ID_BYTES));
      void this.sender.send(ACK_TYPE, bytes, { control: true }).catch(() => undefined);
    }
  }

  private settle(p: Pending, err: PeerError | null, value?: number | Reply): void {
    if (this.byId.get(p.hex) !== p) return;
    this.byId.delete(p.hex);
    if (p.seq >= 0) this.bySeq.delete(p.seq);
    if (p.chunkId !== null) this.byChunk.delete(p.chunkId);
    p.cleanup();
    if (err) p.reject(err);
    else p.resolve(value!);
    this.sender.pump();
  }
}

function hexOf(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.length).toString('hex');
}

function sessionClosed(kind: EnvelopeKind, hex: string, seq: number, err: PeerError): PeerError {
  const what = kind === 'ack' ? `message ${hex} was acknowledged` : `request ${hex} was answered`;
  return new PeerError(ErrorCode.SESSION_CLOSED, `session ended before ${what}: ${err.message}`, { id: hex, seq, cause: err.code });
}

function aborted(hex: string): PeerError {
  return new PeerError(ErrorCode.ABORTED, `request ${hex} aborted`, { id: hex });
}

export type { Message };
