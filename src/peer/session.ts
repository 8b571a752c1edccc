/**
 * Session: one connection to one remote peer, the object `peer.connect()` returns and
 * `peer.on('session')` hands out. It does the I/O around the sans-I/O cores: reads frames off
 * the stream, drives the handshake and then the SecureSession, runs their deadlines on timers,
 * flushes queued messages once per tick, and applies backpressure both ways. Its parts: the
 * sending side (send.ts), the receiving side (receive.ts), renewal (renewal.ts) and the timer
 * (timers.ts); this file drives the handshake and the session's life from start to close.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ErrorCode, PeerError, endingError } from '../errors.js';
import {
  Handshake, SessionState, decodeHandshakeMessage, encodeCookie, isTerminal, phaseOf,
  type HandshakeOptions, type HandshakeResult, type Phase, type RemoteIdentity,
} from '../handshake/index.js';
import type { Admission } from './listener-guard.js';
import type { RateClass } from '../ratelimit/index.js';
import { SecureSession, SessionChain, type SessionOptions } from '../session/index.js';
import type { MemoryBudget } from '../chunking/index.js';
import { DEFAULT_MAX_FRAME_BYTES, Deframer, FrameType, type MessageType } from '../wire/index.js';
import { Inbox } from './inbox.js';
import type { OverLimitOptions } from './over-limit.js';
import type { DeliveryOptions, TrackOptions } from './delivery.js';
import type { SessionEvents } from './events.js';
import { isHandshakeFrame, isRecordBody, typeId, type MessageV11, type Reply } from './message.js';
import { Receiver } from './receive.js';
import { Renewal } from './renewal.js';
import { Sender, frame, writeFrames } from './send.js';
import { SessionTimer } from './timers.js';

export type { Message, MessageV11, Reply } from './message.js';

export interface SessionIoOptions extends SessionOptions, DeliveryOptions {
  /** Bytes queued for sending before send() waits for the socket to drain (default 1 MiB). */
  maxPendingBytes?: number;
  /** Messages buffered for a slow async-iterator reader before the socket is paused (default 1024). */
  maxBufferedMessages?: number;
  /** Largest frame body accepted (default 128 KiB). */
  maxFrameBytes?: number;
  /**
   * The initiator renews the session with a fresh handshake on the same connection this long
   * before its TTL (default: a tenth of the TTL, at most 60 s). 0 disables renewal.
   */
  renewBeforeMs?: number;
  /** Chunks of a streamed message waiting for a slow reader before the socket is paused (default 16). */
  maxBufferedChunks?: number;
  /**
   * A peer whose refused (rate-limited) messages outnumber its accepted ones `factor` to 1
   * (at least 1) in each of `seconds` consecutive seconds is disconnected with RATE_LIMITED
   * (default { factor: 10, seconds: 3 }; false: never). See src/peer/over-limit.ts.
   */
  overLimit?: OverLimitOptions | false;
  /** The reassembly memory budget of the remote peer, shared by its sessions (Peer provides it). */
  reassemblyBudget?: (remote: RemoteIdentity) => MemoryBudget;
  /**
   * The rate limit applied to each message received, by class (Peer provides it, keyed by the
   * remote's key): 0 to accept, else the ms until the class has a token again.
   */
  rateLimit?: (remote: RemoteIdentity, cls: RateClass, now: number) => number;
  /**
   * Charges `count` messages of one class received together: takes their tokens one by one
   * exactly as `count` rateLimit calls would, stopping before the first refusal (which is left
   * to rateLimit, so it is counted and gets its retry-after); returns how many were taken.
   */
  rateLimitRun?: (remote: RemoteIdentity, cls: RateClass, now: number, count: number) => number;
  /** Takes a received message before the session's listeners and iterator see it (Peer: the offline queue's). */
  divert?: (m: MessageV11) => boolean;
}

/** What a listener's guard decides for a responder session (listener-guard.ts). */
export interface AdmissionHooks {
  admit(cookie: Uint8Array | null, now: number): Admission;
  cookie(now: number): Buffer;
  /** Idle READY sessions are closed after this (0: never). */
  idleTimeoutMs: number;
  onIdleClose(): void;
  /** Largest frame body before READY (a handshake message is at most 581 bytes). */
  maxHandshakeFrameBytes: number;
  /** Gives the listener a way to end this session with an error frame (eviction, init deadline). */
  bind(session: { fail(err: PeerError, notify: boolean): void }): void;
}


export interface SendOptions {
  type?: MessageType | number;
  /**
   * Resolve only when the remote application accepted the message (and reject, with the
   * message's id in `details.id`, if the peer refuses it or the session ends first).
   */
  ack?: boolean;
  /** The message id for `ack: true` (16 bytes or 32 hex chars; default random), e.g. for dedup. */
  id?: Uint8Array | string;
}

export interface RequestOptions extends TrackOptions {
  type?: MessageType | number;
  /** ms to wait for the reply (default 30,000). */
  timeout?: number;
  signal?: AbortSignal;
}

/** close() waits this long for the remote to close its side before destroying the connection. */
const CLOSE_WAIT_MS = 2000;
/** After ending our side on an error or the remote's close, the connection is destroyed after this. */
const END_WAIT_MS = 1000;
const destroyStream = (stream: Duplex): void => void stream.destroy();

const NO_WRITE_OPTIONS = {};
const DEFAULT_TYPE = typeId(undefined);

export class Session extends EventEmitter<SessionEvents> {
  /** The handshake until READY (then released: a READY session keeps none of its state). */
  private handshake: Handshake | null;
  /** Set once the handshake is READY, together with sender, receiver and renewal. */
  private chain: SessionChain | null = null;
  private sender: Sender | null = null;
  private receiver: Receiver | null = null;
  private renewal: Renewal | null = null;
  private readonly role: 'initiator' | 'responder';
  private readonly inbox: Inbox<MessageV11>;
  private readonly deframer: Deframer;
  private readonly timer: SessionTimer;
  private echoedCookie: Buffer | null = null;
  private ended = false;
  private closing: Promise<void> | null = null;
  /** Resolves when the handshake is READY, rejects with its PeerError. */
  readonly ready: Promise<void>;
  /** Settles `ready`; dropped once it has (a READY session keeps no resolver closures). */
  private settleReady: ((err?: PeerError) => void) | null = null;

  constructor(
    private readonly stream: Duplex,
    private readonly handshakeOptions: HandshakeOptions,
    private readonly opts: SessionIoOptions,
    role: 'initiator' | 'responder',
    private readonly admission: AdmissionHooks | null = null,
  ) {
    super();
    this.inbox = new Inbox(stream, opts.maxBufferedMessages ?? 1024);
    this.role = role;
    // A listener holds a half-open connection to small frames: no 128 KiB partial frame before READY.
    const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.deframer = new Deframer({ maxFrameBytes: admission ? Math.min(admission.maxHandshakeFrameBytes, maxFrameBytes) : maxFrameBytes });
    this.timer = new SessionTimer(admission?.idleTimeoutMs ?? 0, this);
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => undefined); // observed through events too; never an unhandled rejection
    const now = Date.now();
    if (role === 'initiator') {
      const started = Handshake.initiate(handshakeOptions, now);
      this.handshake = started.handshake;
      writeFrames(stream, started.send);
    } else {
      this.handshake = Handshake.respond(handshakeOptions, now);
    }
    this.armTimer();
    // The stream's listeners are shared by every session (no closures per connection): each
    // finds its session on the stream, and goes through the backstop.
    (stream as OwnedStream)[SESSION] = this;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEof);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    admission?.bind(this);
  }

  /**
   * The backstop: every way into this session from the event loop (socket events, its timer)
   * runs through here. What a handler throws (a decode path that failed to turn its error into
   * the session's failure, an application listener that threw) ends this one session instead
   * of reaching the event loop, where it would kill the process and every other session.
   * @internal
   */
  guarded<A>(handler: (session: Session, arg: A) => void, arg: A): void {
    try {
      handler(this, arg);
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /** The spec's state: one of the nine (plus CLOSED). */
  get state(): SessionState {
    return this.chain?.state ?? this.handshake!.state;
  }

  get phase(): Phase {
    return phaseOf(this.state);
  }

  /** The authenticated remote (entity id, Ed25519 key, fingerprint), once READY. */
  get remote(): RemoteIdentity | null {
    return this.chain?.session.remote ?? null;
  }

  get fingerprint(): string | null {
    return this.remote?.fingerprint ?? null;
  }

  /** Bytes this session holds for sending: queued messages plus what the stream has not written. */
  get bufferedBytes(): number {
    return (this.chain?.pendingBytes ?? 0) + this.stream.writableLength;
  }

  /** The current session id (hex); it changes when the session is renewed. */
  get id(): string | null {
    return this.chain ? this.chain.session.id.toString('hex') : null;
  }

  /** How many times a fresh handshake has renewed this session's keys. */
  get renewals(): number {
    return this.chain?.renewed ?? 0;
  }

  /**
   * Queues one message and resolves with its sequence number once it is accepted for sending.
   * Waits while the socket or the queue is full (a slow reader slows the writer).
   */
  send(payload: Uint8Array | string, options: SendOptions = {}): Promise<number> {
    try {
      const type = typeId(options.type);
      const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
      if (!(bytes instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or string');
      if (options.ack) return this.writer().delivery.track('ack', type, bytes, options);
      return this.writer().send(type, bytes);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Queues one message, like `socket.write()`: returns true while there is room for more, false
   * once the session's queue (`maxPendingBytes`) or the socket is full, and emits 'drain' when
   * writing may go on. It never waits and allocates no promise; messages keep call order with
   * send(). Throws (a PeerError) when send() would reject at once: not READY, closed, or the
   * peer asked this class to back off (RATE_LIMITED).
   */
  write(payload: Uint8Array | string, options: { type?: MessageType | number } = NO_WRITE_OPTIONS): boolean {
    const type = options.type === undefined ? DEFAULT_TYPE : typeId(options.type);
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    if (!(bytes instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or string');
    return this.writer().write(type, bytes);
  }

  /**
   * Sends a request and resolves with the reply (delivery.ts). Rejects with TIMEOUT (default
   * 30 s), ABORTED (`signal`), REQUEST_FAILED (the remote's `req.fail(code)`, in
   * `details.remoteCode`), RATE_LIMITED (with `details.retryAfter`), or SESSION_CLOSED.
   */
  request(payload: Uint8Array | string, options: RequestOptions = {}): Promise<Reply> {
    try {
      const type = typeId(options.type);
      const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
      if (!(bytes instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or string');
      return this.writer().delivery.track('request', type, bytes, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends a message of `length` bytes read from `source` (an async iterable or Readable of
   * bytes) without holding it whole: chunks are sealed and written as the socket drains, so
   * memory stays bounded whatever the size. Other sends on this session wait until it ends.
   * Resolves with the message number; rejects with CHUNK_ERROR if the source yields more or
   * fewer bytes than `length`, or the peer refuses the message. No `ack`: the receiver reads a
   * stream chunk by chunk, so there is no single moment of acceptance to report; follow it
   * with a `request()` the remote answers once it has read it (README).
   */
  async sendStream(source: AsyncIterable<Uint8Array | string>, options: { length: number; type?: MessageType | number }): Promise<number> {
    const type = typeId(options.type);
    return this.writer().sendStream(source, options.length, type);
  }

  /** The sending side; before READY, the error a send gets. */
  private writer(): Sender {
    if (this.sender !== null) return this.sender;
    if (this.handshake === null || isTerminal(this.handshake.state)) throw new PeerError(ErrorCode.INVALID_STATE, `session is ${this.state}`);
    throw new PeerError(ErrorCode.ENCRYPTION_NOT_READY, 'the handshake is not complete; await session.ready');
  }

  /** Sends what is queued, then a close record, and ends the connection. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.chain && this.chain.state === SessionState.Ready && !this.stream.destroyed) {
        this.stream.write(this.chain.close(Date.now()));
      } else {
        this.handshake?.destroy();
      }
      this.finish();
      if (!this.stream.destroyed) {
        this.stream.end();
        // Waits for the remote's close, at most CLOSE_WAIT_MS ('close' follows an 'error' too).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, CLOSE_WAIT_MS);
          timer.unref();
          this.stream.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        this.stream.destroy();
      }
    })();
    return this.closing;
  }

  [Symbol.asyncIterator](): AsyncIterator<MessageV11> {
    return this.inbox.iterator(() => this.close());
  }

  /** Records go to the receiver in runs; handshake frames, and anything before READY, to onFrame. */
  onData(chunk: Buffer): void {
    if (this.ended) return;
    let bodies: Uint8Array[];
    try {
      bodies = this.deframer.push(chunk);
    } catch (err) {
      return this.fail(err as PeerError, true);
    }
    this.onBodies(bodies);
  }

  /** The records held back at READY, once the application has the session. @internal */
  resumeHeld(rest: Uint8Array[]): void {
    if (!this.ended) this.stream.resume();
    this.onBodies(rest);
  }

  private onBodies(bodies: Uint8Array[]): void {
    // Before READY, what a read's frames make us send leaves in one write: a pipelined
    // challenge_response + session_confirm is answered by session_established + ready together.
    const cork = this.chain === null && bodies.length > 1;
    if (cork) this.stream.cork();
    try {
      this.onBodiesIn(bodies);
    } finally {
      if (cork) this.stream.uncork();
    }
  }

  private onBodiesIn(bodies: Uint8Array[]): void {
    let k = 0;
    while (k < bodies.length && !this.ended) {
      if (this.holdAfterReady) {
        // Records that came in the same read as READY wait until the application has the
        // session (connect() resolved, 'session' emitted), so its listeners see message 0.
        this.holdAfterReady = false;
        const rest = bodies.slice(k);
        this.stream.pause();
        setImmediate(() => this.guarded(resumeAfterReady, rest));
        return;
      }
      const receiver = this.receiver;
      if (receiver !== null && isRecordBody(bodies[k]!)) {
        let j = k + 1;
        while (j < bodies.length && isRecordBody(bodies[j]!)) j++;
        receiver.onRecords(bodies.slice(k, j));
        k = j;
        continue;
      }
      try {
        this.onFrame(bodies[k]!);
      } catch (err) {
        if (!(err instanceof PeerError)) throw err; // not a refusal: the backstop's
        return this.fail(err, err.details?.remote !== true);
      }
      k++;
    }
  }

  /** A handshake frame, or anything before READY. */
  private onFrame(body: Uint8Array): void {
    const now = Date.now();
    if (body[0] === 0x7b) {
      throw new PeerError(ErrorCode.ENCRYPTION_REQUIRED, 'a plaintext JSON message on a v1.1 session; v1.1 requires encryption (v1.0 peers use the HTTP endpoint)');
    }
    const type = body.length > 1 ? body[1]! : -1;
    if (isHandshakeFrame(type)) {
      if (this.renewal) {
        if (this.renewal.onFrame(body, type, now)) this.emit('renewed');
        this.armTimer();
        return;
      }
      const handshake = this.handshake!;
      if (this.admission && handshake.state === SessionState.Initial && !this.admit(body, type, now)) return;
      const frames = handshake.receive(body, now);
      if (handshake.state === SessionState.Ready && frames.length > 0) this.corkThroughReady();
      writeFrames(this.stream, frames);
      if (handshake.state === SessionState.Ready) this.onReady(handshake, now); // which arms the timer
      else this.armTimer();
      return;
    }
    throw new PeerError(ErrorCode.ENCRYPTION_NOT_READY, 'record received before the handshake reached READY');
  }

  /**
   * Listener admission before the handshake does any work: a cookie_echo is remembered for the
   * init that follows; an init is let through, answered with a cookie (no state kept), or
   * refused (RATE_LIMITED, thrown).
   */
  private admit(body: Uint8Array, type: number, now: number): boolean {
    if (type === FrameType.CookieEcho) {
      const m = decodeHandshakeMessage(body);
      this.echoedCookie = Buffer.from((m as { cookie: Uint8Array }).cookie);
      return false;
    }
    if (type !== FrameType.HandshakeInit) return true;
    const cookie = this.echoedCookie;
    this.echoedCookie = null;
    if (this.admission!.admit(cookie, now) === 'accept') return true;
    writeFrames(this.stream, [encodeCookie(FrameType.CookieReply, this.admission!.cookie(now))]);
    return false;
  }

  private holdAfterReady = false;

  /**
   * The responder's ready frame waits, corked, until the turn in which the application got the
   * session ('session', connect() resolved) has flushed what it sent: one write carries both.
   * Transport-level only; the bytes are the same. This then() runs after Peer's await of ready.
   */
  private corkThroughReady(): void {
    this.stream.cork();
    void this.ready.then(() => setImmediate(() => this.stream.uncork()));
  }

  private onReady(handshake: Handshake, now: number): void {
    this.holdAfterReady = true;
    const chain = new SessionChain(this.secureSession(handshake.result!, now));
    handshake.destroy();
    this.handshake = null;
    this.deframer.setMaxFrameBytes(this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    const fail = (err: PeerError, notify: boolean): void => this.fail(err, notify);
    this.chain = chain;
    this.sender = new Sender(this.stream, chain, this.opts, this.timer, fail, () => this.emit('drain'));
    this.receiver = new Receiver(this, this.stream, chain, this.opts, this.inbox, this.sender, this.timer, {
      fail,
      finish: (err) => this.finish(err),
      endStream: () => this.endStream(),
      armTimer: () => this.armTimer(),
    });
    this.renewal = new Renewal(this.stream, chain, this.role, this.handshakeOptions, this.opts, (result, at) => this.secureSession(result, at));
    this.armTimer();
    this.settleReady!();
    this.settleReady = null;
    this.emit('ready');
  }

  private secureSession(result: HandshakeResult, now: number): SecureSession {
    const remote = result.remote;
    const budget = this.opts.reassemblyBudget?.(remote);
    // A chunked message is charged to its rate classes at chunk 0, before it is given memory
    // (the closure keeps only the remote, not the handshake's result and its confirm key).
    const rateLimit = this.opts.rateLimit;
    const charge = (cls: RateClass, at: number): number => rateLimit?.(remote, cls, at) ?? 0;
    return new SecureSession(result, now, { ...this.opts, reassembly: { ...this.opts.reassembly, ...(budget ? { budget } : {}), charge } });
  }

  /** The handshake deadline; once READY the earliest of TTL, renewal, its deadline and reassembly timeouts. */
  private nextDeadline(): number | null {
    return this.chain
      ? Math.min(this.chain.session.expiresAt, this.renewal!.deadline, this.chain.deadline ?? Infinity, this.timer.idleAt())
      : this.handshake!.deadline;
  }

  /** One timer per session, set for nextDeadline(). */
  private armTimer(): void {
    const deadline = this.nextDeadline();
    this.timer.arm(this.ended ? null : deadline, this.chain?.deadline ?? null);
  }

  /** The timer fired (timers.ts, through guarded()). @internal */
  onDeadline(): void {
    const now = Date.now();
    try {
      if (this.chain) {
        if (now >= this.chain.session.expiresAt) throw new PeerError(ErrorCode.SESSION_EXPIRED, 'session TTL exceeded');
        if (now >= this.timer.idleAt()) {
          this.admission!.onIdleClose();
          this.close().catch((err: unknown) => this.onInternalError(err));
          return;
        }
        this.renewal!.poll(now);
        this.receiver!.apply(this.chain.poll(now), now);
        this.renewal!.startIfDue(now);
      } else {
        this.handshake!.poll(now);
      }
      this.armTimer();
    } catch (err) {
      this.fail(err as PeerError, true);
    }
  }

  /** Ends the session on an error: tells the peer when it can, then closes the stream. @internal */
  fail(err: PeerError, notify: boolean): void {
    if (this.ended) return;
    if (notify && !this.stream.destroyed) {
      const out = this.chain && this.chain.state === SessionState.Ready
        ? this.chain.error(err.code, err.message)
        : frame(Handshake.errorFrame(err));
      if (out.length > 0) this.stream.write(out);
    }
    this.finish(err);
    // Nothing more the peer sends will be read: stop taking it off the socket (its writes
    // stall, ours still go out) instead of reading and dropping until the connection closes.
    this.stream.pause();
    this.endStream();
  }

  /**
   * The backstop: something threw out of a socket or timer handler. The session ends (a
   * PeerError with its code, anything else as INVALID_STATE "internal error", whose cause is
   * never sent) and 'internalError' is emitted so the Peer counts it.
   */
  private onInternalError(err: unknown): void {
    try {
      this.emit('internalError', err);
    } catch {
      // A throwing listener of the report itself changes nothing: the session still ends.
    }
    try {
      this.fail(err instanceof PeerError ? err : new PeerError(ErrorCode.INVALID_STATE, 'internal error', { cause: err }), true);
    } catch {
      this.stream.destroy(); // 'close' then finishes the session if fail() could not
    }
  }

  /** Half-closes the connection, and destroys it if the peer does not close its side soon. */
  private endStream(): void {
    if (this.stream.destroyed) return;
    this.stream.end();
    const timer = setTimeout(destroyStream, END_WAIT_MS, this.stream);
    timer.unref();
    this.stream.once('close', () => clearTimeout(timer)); // no timer left pending per closed session
  }

  /**
   * The peer ended its side (`eof`) or the connection closed. A frame cut short by the end is
   * MALFORMED_FRAME (PROTOCOL.md §1), reported to the peer while our side can still write.
   */
  onStreamEnd(eof: boolean): void {
    if (!this.ended && eof) {
      try {
        this.deframer.end();
      } catch (err) {
        return this.fail(err as PeerError, true); // which ends our side after the report
      }
    }
    if (!this.ended) this.finish(this.chain ? undefined : new PeerError(ErrorCode.SESSION_NOT_FOUND, 'connection closed during the handshake'));
    if (!this.stream.destroyed) this.stream.destroy();
  }

  /** Marks the session over exactly once: wipes keys, settles waiters, emits 'close'. */
  private finish(err?: PeerError): void {
    if (this.ended) return;
    this.ended = true;
    this.timer.stop();
    this.handshake?.destroy();
    this.renewal?.destroy();
    this.chain?.destroy();
    // A normal close builds its errors without stack traces (endingError).
    this.settleReady?.(err ?? endingError(ErrorCode.INVALID_STATE, 'session closed before READY'));
    this.settleReady = null;
    this.sender?.close(err ?? endingError(ErrorCode.INVALID_STATE, 'session is CLOSED'));
    this.inbox.end();
    this.receiver?.abandon(err ?? endingError(ErrorCode.INVALID_STATE, 'session closed during a streamed message'));
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close', err);
  }
}

/** Where a stream keeps its session, for the shared listeners below. */
const SESSION = Symbol('peercomm.session');
type OwnedStream = Duplex & { [SESSION]: Session };

function onStreamData(this: Duplex, chunk: Buffer): void {
  (this as OwnedStream)[SESSION].guarded(dataOf, chunk);
}
function onStreamEof(this: Duplex): void {
  (this as OwnedStream)[SESSION].guarded(endOf, true);
}
function onStreamClose(this: Duplex): void {
  (this as OwnedStream)[SESSION].guarded(endOf, false);
}
function onStreamError(this: Duplex, err: Error): void {
  (this as OwnedStream)[SESSION].guarded(errorOf, err);
}
const dataOf = (s: Session, chunk: Buffer): void => s.onData(chunk);
const endOf = (s: Session, eof: boolean): void => s.onStreamEnd(eof);
const resumeAfterReady = (s: Session, rest: Uint8Array[]): void => s.resumeHeld(rest);
const errorOf = (s: Session, err: Error): void => s.fail(new PeerError(ErrorCode.SESSION_NOT_FOUND, `connection error: ${err.message}`), false);
