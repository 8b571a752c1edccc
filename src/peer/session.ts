/**
 * Session: one connection to one remote peer, the object `peer.connect()` returns and
 * `peer.on('session')` hands out. It does the I/O around the sans-I/O cores: reads frames off
 * the stream, drives the handshake and then the SecureSession, runs their deadlines on timers,
 * flushes queued messages once per tick, and applies backpressure both ways.
 */
import { EventEmitter, once } from 'node:events';
import type { Duplex } from 'node:stream';
import { ErrorCode, PeerError } from '../errors.js';
import {
  Handshake, SessionState, decodeHandshakeMessage, encodeCookie, isTerminal, phaseOf,
  type HandshakeOptions, type HandshakeResult, type Phase, type RemoteIdentity,
} from '../handshake/index.js';
import type { Admission } from './listener-guard.js';
import type { RateClass } from '../ratelimit/index.js';
import { DEFAULT_MAX_RECORD_PAYLOAD, DEFAULT_SESSION_TTL_MS, SecureSession, SessionChain, type ReceiveResult, type SessionOptions } from '../session/index.js';
import type { MemoryBudget } from '../chunking/index.js';
import { Deframer, FrameType, messageTypeName, rateClassOf, type MessageType } from '../wire/index.js';
import { IncomingStream } from './incoming-stream.js';
import { Inbox } from './inbox.js';
import { isHandshakeFrame, isRecordBody, once as single, typeId, type Message } from './message.js';

export type { Message } from './message.js';

export interface SessionIoOptions extends SessionOptions {
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
  /** The reassembly memory budget of the remote peer, shared by its sessions (Peer provides it). */
  reassemblyBudget?: (remote: RemoteIdentity) => MemoryBudget;
  /**
   * The rate limit applied to each message received, by class (Peer provides it, keyed by the
   * remote's key): 0 to accept, else the ms until the class has a token again.
   */
  rateLimit?: (remote: RemoteIdentity, cls: RateClass, now: number) => number;
}

/** What a listener's guard decides for a responder session (listener-guard.ts). */
export interface AdmissionHooks {
  admit(cookie: Uint8Array | null, now: number): Admission;
  cookie(now: number): Buffer;
  /** Idle READY sessions are closed after this (0: never). */
  idleTimeoutMs: number;
  onIdleClose(): void;
}

/** Most plaintext sealed per socket write, so a large message never makes one huge buffer. */
const FLUSH_SLICE_BYTES = 256 * 1024;

export class Session extends EventEmitter {
  private handshake: Handshake;
  private chain: SessionChain | null = null;
  /** A fresh handshake renewing the READY session, on the same connection. */
  private renewal: Handshake | null = null;
  private readonly role: 'initiator' | 'responder';
  private readonly inbox: Inbox<Message>;
  private readonly deframer: Deframer;
  private timer: NodeJS.Timeout | null = null;
  private armedReassembly: number | null = null;
  private echoedCookie: Buffer | null = null;
  /** Last time a record went either way (idle timeout). */
  private lastActivity = Date.now();
  private flushScheduled = false;
  /** One promise shared by every send() waiting for the stream to drain (no listener per caller). */
  private drain: Promise<void> | null = null;
  private ended = false;
  /** Streamed messages being received, by message id. */
  private readonly incoming = new Map<number, IncomingStream>();
  /** Resolves when the outgoing stream in progress ends; other sends wait for it. */
  private outgoing: Promise<void> | null = null;
  /** Outgoing chunked messages the peer refused, by message id. */
  private readonly refused = new Map<number, PeerError>();
  /** Rate classes the peer told us to back off from, until when. */
  private readonly backoff = new Map<string, number>();
  private closing: Promise<void> | null = null;
  private readonly maxPendingBytes: number;
  /** Resolves when the handshake is READY, rejects with its PeerError. */
  readonly ready: Promise<void>;
  private settleReady!: (err?: PeerError) => void;

  constructor(
    private readonly stream: Duplex,
    private readonly handshakeOptions: HandshakeOptions,
    private readonly opts: SessionIoOptions,
    role: 'initiator' | 'responder',
    private readonly admission: AdmissionHooks | null = null,
  ) {
    super();
    this.maxPendingBytes = opts.maxPendingBytes ?? 1024 * 1024;
    this.inbox = new Inbox(stream, opts.maxBufferedMessages ?? 1024);
    this.role = role;
    this.deframer = new Deframer({ maxFrameBytes: opts.maxFrameBytes });
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => undefined); // observed through events too; never an unhandled rejection
    const now = Date.now();
    if (role === 'initiator') {
      const started = Handshake.initiate(handshakeOptions, now);
      this.handshake = started.handshake;
      this.writeFrames(started.send);
    } else {
      this.handshake = Handshake.respond(handshakeOptions, now);
    }
    this.armTimer();
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onStreamEnd());
    stream.on('error', (err) => this.fail(new PeerError(ErrorCode.SESSION_NOT_FOUND, `connection error: ${err.message}`), false));
    stream.on('close', () => this.onStreamEnd());
  }

  /** The spec's state: one of the nine (plus CLOSED). */
  get state(): SessionState {
    return this.chain?.state ?? this.handshake.state;
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
  send(payload: Uint8Array | string, options: { type?: MessageType | number } = {}): Promise<number> {
    try {
      const type = typeId(options.type);
      const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
      if (!(bytes instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or string');
      // Fast path: with room to write, the message is queued now, in call order (so a send
      // followed by close() is delivered); otherwise wait for room first.
      const chain = this.chain;
      if (chain !== null && this.outgoing === null && chain.state === SessionState.Ready && !this.stream.writableNeedDrain && chain.pendingBytes < this.maxPendingBytes) {
        return Promise.resolve(this.queue(chain, type, bytes));
      }
      return this.sendWhenWritable(type, bytes);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Waits for room; the check and the queueing run in one synchronous step (no stream can start between). */
  private async sendWhenWritable(type: number, bytes: Uint8Array): Promise<number> {
    for (;;) {
      const chain = await this.writable();
      if (this.outgoing === null && !chain.streaming) return this.queue(chain, type, bytes);
    }
  }

  /** Refuses a send while the peer asked this class to back off (RATE_LIMITED with retryAfter). */
  private checkBackoff(type: number, chunked: boolean): void {
    const cls = chunked ? 'chunk' : rateClassOf(type);
    const until = this.backoff.get(cls);
    if (until === undefined) return;
    const retryAfter = until - Date.now();
    if (retryAfter <= 0) {
      this.backoff.delete(cls);
      return;
    }
    throw new PeerError(ErrorCode.RATE_LIMITED, `the peer limits ${cls} messages; retry in ${retryAfter} ms`, { retryAfter, class: cls });
  }

  private queue(chain: SessionChain, type: number, bytes: Uint8Array): number {
    this.checkBackoff(type, bytes.length + 5 > (this.opts.maxRecordPayload ?? DEFAULT_MAX_RECORD_PAYLOAD));
    this.lastActivity = Date.now();
    const seq = chain.send(type, bytes, this.lastActivity);
    this.scheduleFlush();
    return seq;
  }

  /**
   * Sends a message of `length` bytes read from `source` (an async iterable or Readable of
   * bytes) without holding it whole: chunks are sealed and written as the socket drains, so
   * memory stays bounded whatever the size. Other sends on this session wait until it ends.
   * Resolves with the message number; rejects with CHUNK_ERROR if the source yields more or
   * fewer bytes than `length`, or the peer refuses the message.
   */
  async sendStream(source: AsyncIterable<Uint8Array | string>, options: { length: number; type?: MessageType | number }): Promise<number> {
    const type = typeId(options.type);
    let chain = await this.writable();
    while (this.outgoing !== null || chain.streaming) chain = await this.writable();
    this.checkBackoff(type, true);
    const { seq, messageId } = chain.beginStream(type, options.length, Date.now());
    let done!: () => void;
    this.outgoing = new Promise((r) => (done = r));
    try {
      for await (const piece of source) {
        const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
        const refusal = this.refused.get(messageId);
        if (refusal) throw refusal;
        chain.streamWrite(bytes, Date.now());
        this.scheduleFlush();
        await this.roomToWrite(chain);
      }
      const tail = chain.streamEnd(Date.now());
      if (tail) this.stream.write(tail);
      this.scheduleFlush();
      return seq;
    } catch (err) {
      // Always tell the peer: even with nothing sent yet, the message's number was taken.
      if (chain.state === SessionState.Ready) {
        const notice = chain.abortMessage(messageId, err instanceof Error ? err.message : String(err), Date.now());
        if (notice && !this.stream.destroyed) this.stream.write(notice);
      }
      throw err instanceof PeerError ? err : new PeerError(ErrorCode.CHUNK_ERROR, `stream source failed: ${String(err)}`, { messageId });
    } finally {
      this.refused.delete(messageId);
      this.outgoing = null;
      done();
    }
  }

  /** The chain, once no stream is in progress and the socket and queue have room. */
  private async writable(): Promise<SessionChain> {
    for (;;) {
      const chain = this.chain;
      if (chain === null) {
        if (isTerminal(this.handshake.state)) throw new PeerError(ErrorCode.INVALID_STATE, `session is ${this.state}`);
        throw new PeerError(ErrorCode.ENCRYPTION_NOT_READY, 'the handshake is not complete; await session.ready');
      }
      if (this.outgoing) {
        await this.outgoing;
        continue;
      }
      await this.roomToWrite(chain);
      if (!this.outgoing) return chain;
    }
  }

  private async roomToWrite(chain: SessionChain): Promise<void> {
    while (chain.state === SessionState.Ready && !this.stream.destroyed && (this.stream.writableNeedDrain || chain.pendingBytes >= this.maxPendingBytes)) {
      if (this.stream.writableNeedDrain) await this.drained();
      else this.flush();
    }
    if (chain.state !== SessionState.Ready) throw new PeerError(ErrorCode.INVALID_STATE, `session is ${chain.state}`);
  }

  /** Sends what is queued, then a close record, and ends the connection. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.chain && this.chain.state === SessionState.Ready && !this.stream.destroyed) {
        this.stream.write(this.chain.close(Date.now()));
      } else {
        this.handshake.destroy();
      }
      this.finish();
      if (!this.stream.destroyed) {
        this.stream.end();
        await Promise.race([once(this.stream, 'close'), new Promise((r) => setTimeout(r, 2000).unref())]);
        this.stream.destroy();
      }
    })();
    return this.closing;
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.inbox.iterator(() => this.close());
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    let bodies: Uint8Array[];
    try {
      bodies = this.deframer.push(chunk);
    } catch (err) {
      return this.fail(err as PeerError, true);
    }
    let k = 0;
    while (k < bodies.length && !this.ended) {
      if (this.chain !== null && isRecordBody(bodies[k]!)) {
        let j = k + 1;
        while (j < bodies.length && isRecordBody(bodies[j]!)) j++;
        this.onRecords(bodies.slice(k, j));
        k = j;
        continue;
      }
      try {
        this.onFrame(bodies[k]!);
      } catch (err) {
        const e = err instanceof PeerError ? err : new PeerError(ErrorCode.INVALID_STATE, String(err));
        return this.fail(e, e.details?.remote !== true);
      }
      k++;
    }
  }

  /** The records of one read, opened with one native call per shared buffer. */
  private onRecords(bodies: Uint8Array[]): void {
    this.lastActivity = Date.now();
    this.apply(this.chain!.receiveMany(bodies, this.lastActivity));
  }

  /** Delivers what the record layer produced, writes its replies, and ends on its error. */
  private apply(r: ReceiveResult): void {
    const from = this.chain!.session.remote.entityId;
    for (let i = 0; i < r.dropped; i++) this.emit('dropped', new PeerError(ErrorCode.REPLAY_DETECTED, 'replayed record dropped'));
    for (const reply of r.replies) this.stream.write(reply);
    for (const e of r.events) {
      switch (e.kind) {
        case 'message':
          if (this.limited(e.chunked ? 'chunk' : rateClassOf(e.type), e.seq)) break;
          this.deliver(this.message(from, e.type, e.seq, e.payload.length, false, e.payload));
          break;
        case 'stream-start': {
          if (this.limited('chunk', e.seq, e.messageId)) {
            this.chain!.refuseIncoming(e.messageId);
            break;
          }
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
          this.emit('chunkError', e.error);
          break;
        case 'error': {
          const err = new PeerError(e.error.code as ErrorCode, `peer reported: ${e.error.reason}`, { remote: true, ...e.error });
          if (e.fatal) {
            this.finish(err);
          } else {
            if (e.error.messageId !== undefined) this.refused.set(e.error.messageId, err);
            if (e.error.code === ErrorCode.RATE_LIMITED && e.error.rateClass !== undefined) {
              this.backoff.set(e.error.rateClass, Date.now() + (e.error.retryAfter ?? 0));
            }
            this.emit('rejected', err);
          }
          break;
        }
        case 'close':
          // The peer is done: end our side too, so neither end holds the connection open.
          this.finish();
          this.endStream();
          break;
      }
    }
    if (r.error) return this.fail(r.error, false); // its sealed error record is among the replies
    // Re-arm when a reassembly deadline appeared or moved; idleness is re-checked when the timer fires.
    if (this.chain !== null && this.chain.deadline !== this.armedReassembly) this.armTimer();
  }

  /**
   * Charges a received message to its class; over the limit it is dropped, counted, and the
   * sender told (RATE_LIMITED with the retry-after) — the session goes on.
   */
  private limited(cls: RateClass, seq: number, messageId?: number): boolean {
    const chain = this.chain!;
    const retryAfter = this.opts.rateLimit?.(chain.session.remote, cls, Date.now()) ?? 0;
    if (retryAfter === 0) return false;
    const notice = chain.notify({ code: ErrorCode.RATE_LIMITED, reason: `${cls} rate limit`, seq, messageId, retryAfter, rateClass: cls });
    if (notice) this.stream.write(notice);
    this.emit('rateLimited', cls);
    return true;
  }

  private message(from: string, type: number, seq: number, size: number, streamed: boolean, payload: Uint8Array, stream?: IncomingStream): Message {
    return {
      from, type: messageTypeName(type) ?? type, payload, seq, session: this, version: '1.1', encrypted: true, size, streamed,
      stream: () => stream ?? single(payload),
    };
  }

  private failIncoming(messageId: number | undefined, err: PeerError): void {
    if (messageId === undefined) return;
    this.incoming.get(messageId)?.fail(err);
    this.incoming.delete(messageId);
  }

  /** A handshake frame, or anything before READY. */
  private onFrame(body: Uint8Array): void {
    const now = Date.now();
    if (body[0] === 0x7b) {
      throw new PeerError(ErrorCode.ENCRYPTION_REQUIRED, 'a plaintext JSON message on a v1.1 session; v1.1 requires encryption (v1.0 peers use the HTTP endpoint)');
    }
    const type = body.length > 1 ? body[1]! : -1;
    if (isHandshakeFrame(type)) {
      if (this.chain) return this.onRenewalFrame(body, type, now);
      if (this.admission && this.handshake.state === SessionState.Initial && !this.admit(body, type, now)) return;
      this.writeFrames(this.handshake.receive(body, now));
      this.armTimer();
      if (this.handshake.state === SessionState.Ready) this.onReady(now);
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
    this.writeFrames([encodeCookie(FrameType.CookieReply, this.admission!.cookie(now))]);
    return false;
  }

  private onReady(now: number): void {
    this.chain = new SessionChain(this.secureSession(this.handshake.result!, now));
    this.armTimer();
    this.settleReady();
    this.emit('ready');
  }

  /**
   * A handshake frame on a READY session: a renewal. The responder answers a handshake_init
   * with a fresh handshake that must authenticate the same remote key; either side switches
   * to the new keys when its handshake is READY (SessionChain keeps the old keys receiving).
   */
  private onRenewalFrame(body: Uint8Array, type: number, now: number): void {
    if (this.renewal === null || isTerminal(this.renewal.state)) {
      if (type !== FrameType.HandshakeInit || this.role !== 'responder') {
        throw new PeerError(ErrorCode.INVALID_STATE, 'handshake message on an established session');
      }
      this.renewal = Handshake.respond(this.renewalOptions(), now);
    }
    this.writeFrames(this.renewal.receive(body, now));
    if (this.renewal.state === SessionState.Ready) this.completeRenewal(now);
    this.armTimer();
  }

  private startRenewal(now: number): void {
    const started = Handshake.initiate(this.renewalOptions(), now);
    this.renewal = started.handshake;
    this.writeFrames(started.send);
  }

  private completeRenewal(now: number): void {
    const result = this.renewal!.result!;
    this.renewal = null;
    const tail = this.chain!.install(this.secureSession(result, now), now);
    if (tail) this.stream.write(tail);
    this.emit('renewed');
  }

  private secureSession(result: HandshakeResult, now: number): SecureSession {
    const budget = this.opts.reassemblyBudget?.(result.remote);
    return new SecureSession(result, now, { ...this.opts, reassembly: { ...this.opts.reassembly, ...(budget ? { budget } : {}) } });
  }

  /** The renewal must authenticate exactly the key this session already trusts. */
  private renewalOptions(): HandshakeOptions {
    const current = this.chain!.session.remote;
    return {
      ...this.handshakeOptions,
      verifyRemote: (remote) => {
        if (remote.entityId !== current.entityId || !Buffer.from(remote.publicKey).equals(current.publicKey)) {
          throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'a renewal must authenticate the same remote identity');
        }
      },
    };
  }

  private idleAt(): number {
    const idle = this.admission?.idleTimeoutMs ?? 0;
    return idle > 0 ? this.lastActivity + idle : Infinity;
  }

  /** When the initiator starts a renewal: a tenth of the TTL (at most 60 s) before it ends. */
  private renewAt(): number | null {
    if (this.role !== 'initiator' || this.renewal !== null) return null;
    const session = this.chain!.session;
    const ttl = this.opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    const before = this.opts.renewBeforeMs ?? Math.min(60_000, ttl / 10);
    return before > 0 ? session.expiresAt - before : null;
  }

  private deliver(m: Message): void {
    this.emit('message', m);
    this.inbox.push(m);
  }

  private drained(): Promise<void> {
    this.drain ??= new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        this.drain = null;
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
    return this.drain;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Seals and writes what is queued, a slice at a time, until the socket asks to drain. */
  private flush(): void {
    this.flushScheduled = false;
    const chain = this.chain;
    if (!chain || chain.state !== SessionState.Ready || this.stream.destroyed) return;
    try {
      while (chain.pendingBytes > 0 && !this.stream.writableNeedDrain) {
        const out = chain.flush(Date.now(), FLUSH_SLICE_BYTES);
        if (out) this.stream.write(out);
      }
    } catch (err) {
      return this.fail(err as PeerError, true);
    }
    if (chain.pendingBytes > 0) void this.drained().then(() => this.scheduleFlush());
  }

  private writeFrames(bodies: Uint8Array[]): void {
    for (const body of bodies) {
      const frame = Buffer.allocUnsafe(4 + body.length);
      frame.writeUInt32BE(body.length, 0);
      frame.set(body, 4);
      this.stream.write(frame);
    }
  }

  /** The handshake deadline; once READY the earliest of TTL, renewal, its deadline and reassembly timeouts. */
  private nextDeadline(): number | null {
    return this.chain
      ? Math.min(this.chain.session.expiresAt, this.renewAt() ?? Infinity, this.renewal?.deadline ?? Infinity, this.chain.deadline ?? Infinity, this.idleAt())
      : this.handshake.deadline;
  }

  /** One timer per session, set for nextDeadline(). */
  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const deadline = this.nextDeadline();
    this.armedReassembly = this.chain?.deadline ?? null;
    if (deadline === null || this.ended) return;
    this.timer = setTimeout(() => this.onDeadline(), Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)));
    this.timer.unref();
  }

  private onDeadline(): void {
    const now = Date.now();
    try {
      if (this.chain) {
        if (now >= this.chain.session.expiresAt) throw new PeerError(ErrorCode.SESSION_EXPIRED, 'session TTL exceeded');
        if (now >= this.idleAt()) {
          this.admission!.onIdleClose();
          void this.close();
          return;
        }
        this.renewal?.poll(now);
        this.apply(this.chain.poll(now));
        const renewAt = this.renewAt();
        if (renewAt !== null && now >= renewAt) this.startRenewal(now);
      } else {
        this.handshake.poll(now);
      }
      this.armTimer();
    } catch (err) {
      this.fail(err as PeerError, true);
    }
  }

  /** Ends the session on an error: tells the peer when it can, then closes the stream. */
  private fail(err: PeerError, notify: boolean): void {
    if (this.ended) return;
    if (notify && !this.stream.destroyed) {
      const frame = this.chain && this.chain.state === SessionState.Ready
        ? this.chain.error(err.code, err.message)
        : (() => {
            const body = Handshake.errorFrame(err);
            const f = Buffer.allocUnsafe(4 + body.length);
            f.writeUInt32BE(body.length, 0);
            f.set(body, 4);
            return f;
          })();
      if (frame.length > 0) this.stream.write(frame);
    }
    this.finish(err);
    this.endStream();
  }

  /** Half-closes the connection, and destroys it if the peer does not close its side soon. */
  private endStream(): void {
    if (this.stream.destroyed) return;
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 1000).unref();
  }

  private onStreamEnd(): void {
    if (!this.ended) this.finish(this.chain ? undefined : new PeerError(ErrorCode.SESSION_NOT_FOUND, 'connection closed during the handshake'));
    if (!this.stream.destroyed) this.stream.destroy();
  }

  /** Marks the session over exactly once: wipes keys, settles waiters, emits 'close'. */
  private finish(err?: PeerError): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.handshake.destroy();
    this.renewal?.destroy();
    this.chain?.destroy();
    this.settleReady(err ?? new PeerError(ErrorCode.INVALID_STATE, 'session closed before READY'));
    this.inbox.end();
    const ended = err ?? new PeerError(ErrorCode.INVALID_STATE, 'session closed during a streamed message');
    for (const s of this.incoming.values()) s.fail(ended);
    this.incoming.clear();
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close', err);
  }
}
