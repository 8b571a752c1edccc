/**
 * Session: one connection to one remote peer, the object `peer.connect()` returns and
 * `peer.on('session')` hands out. It does the I/O around the sans-I/O cores: reads frames off
 * the stream, drives the handshake and then the SecureSession, runs their deadlines on timers,
 * flushes queued messages once per tick, and applies backpressure both ways.
 */
import { EventEmitter, once } from 'node:events';
import type { Duplex } from 'node:stream';
import { ErrorCode, PeerError } from '../errors.js';
import { Handshake, SessionState, isTerminal, phaseOf, type HandshakeOptions, type Phase, type RemoteIdentity } from '../handshake/index.js';
import { SecureSession, type SessionOptions } from '../session/index.js';
import { Deframer, FrameType, MESSAGE_TYPES, isMessageType, messageTypeName, type MessageType } from '../wire/index.js';

/** What `peer.on('message')` and `for await (const m of session)` deliver. */
export interface Message {
  from: string;
  type: MessageType | number;
  payload: Uint8Array;
  seq: number;
  session: Session;
}

export interface SessionIoOptions extends SessionOptions {
  /** Bytes queued for sending before send() waits for the socket to drain (default 1 MiB). */
  maxPendingBytes?: number;
  /** Messages buffered for a slow async-iterator reader before the socket is paused (default 1024). */
  maxBufferedMessages?: number;
  /** Largest frame body accepted (default 128 KiB). */
  maxFrameBytes?: number;
}

/** Application message types beyond the table: 0x80–0xff. */
const APP_TYPE_MIN = 0x80;

function typeId(type: MessageType | number | undefined): number {
  if (type === undefined) return MESSAGE_TYPES.message.id;
  if (typeof type === 'number') {
    if (Number.isInteger(type) && type >= APP_TYPE_MIN && type <= 0xff) return type;
  } else if (isMessageType(type)) {
    return MESSAGE_TYPES[type].id;
  }
  throw new PeerError(ErrorCode.INVALID_ARGUMENT, `message type must be one of ${Object.keys(MESSAGE_TYPES).join(', ')} or 0x80..0xff`);
}

function isHandshakeFrame(type: number): boolean {
  return type >= FrameType.HandshakeInit && type <= FrameType.HandshakeError;
}

/** Everything but handshake frames and plaintext JSON goes to the record layer once READY. */
function isRecordBody(body: Uint8Array): boolean {
  return body[0] !== 0x7b && !(body.length > 1 && isHandshakeFrame(body[1]!));
}

export class Session extends EventEmitter {
  private handshake: Handshake;
  private secure: SecureSession | null = null;
  private readonly deframer: Deframer;
  private timer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  /** One promise shared by every send() waiting for the stream to drain (no listener per caller). */
  private drain: Promise<void> | null = null;
  private readonly inbox: Message[] = [];
  private readonly waiters: ((r: IteratorResult<Message>) => void)[] = [];
  private ended = false;
  private iteratorStarted = false;
  private closing: Promise<void> | null = null;
  private readonly maxPendingBytes: number;
  private readonly maxBufferedMessages: number;
  /** Resolves when the handshake is READY, rejects with its PeerError. */
  readonly ready: Promise<void>;
  private settleReady!: (err?: PeerError) => void;

  constructor(
    private readonly stream: Duplex,
    handshakeOptions: HandshakeOptions,
    private readonly opts: SessionIoOptions,
    role: 'initiator' | 'responder',
  ) {
    super();
    this.maxPendingBytes = opts.maxPendingBytes ?? 1024 * 1024;
    this.maxBufferedMessages = opts.maxBufferedMessages ?? 1024;
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
    return this.secure?.state ?? this.handshake.state;
  }

  get phase(): Phase {
    return phaseOf(this.state);
  }

  /** The authenticated remote (entity id, Ed25519 key, fingerprint), once READY. */
  get remote(): RemoteIdentity | null {
    return this.secure?.remote ?? null;
  }

  get fingerprint(): string | null {
    return this.remote?.fingerprint ?? null;
  }

  /** Bytes this session holds for sending: queued messages plus what the stream has not written. */
  get bufferedBytes(): number {
    return (this.secure?.pendingBytes ?? 0) + this.stream.writableLength;
  }

  get id(): string | null {
    return this.secure ? this.secure.id.toString('hex') : null;
  }

  /**
   * Queues one message and resolves with its sequence number once it is accepted for sending.
   * Waits while the socket or the queue is full (a slow reader slows the writer).
   */
  async send(payload: Uint8Array | string, options: { type?: MessageType | number } = {}): Promise<number> {
    const type = typeId(options.type);
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    if (!(bytes instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or string');
    if (this.secure === null) {
      if (isTerminal(this.handshake.state)) throw new PeerError(ErrorCode.INVALID_STATE, `session is ${this.state}`);
      throw new PeerError(ErrorCode.ENCRYPTION_NOT_READY, 'the handshake is not complete; await session.ready');
    }
    while (this.secure.state === SessionState.Ready && (this.stream.writableNeedDrain || this.secure.pendingBytes >= this.maxPendingBytes)) {
      if (this.secure.pendingBytes >= this.maxPendingBytes) this.flush();
      else await this.drained();
    }
    const seq = this.secure.send(type, bytes, Date.now());
    this.scheduleFlush();
    return seq;
  }

  /** Sends what is queued, then a close record, and ends the connection. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.secure && this.secure.state === SessionState.Ready && !this.stream.destroyed) {
        this.stream.write(this.secure.close(Date.now()));
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
    this.iteratorStarted = true;
    return {
      next: () => {
        const m = this.inbox.shift();
        if (m) {
          if (this.inbox.length < this.maxBufferedMessages / 2 && this.stream.isPaused()) this.stream.resume();
          return Promise.resolve({ value: m, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
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
      if (this.secure !== null && isRecordBody(bodies[k]!)) {
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
    const secure = this.secure!;
    const r = secure.receiveMany(bodies, Date.now());
    for (let i = 0; i < r.dropped; i++) this.emit('dropped', new PeerError(ErrorCode.REPLAY_DETECTED, 'replayed record dropped'));
    for (const e of r.events) {
      if (e.kind === 'message') this.deliver({ from: secure.remote.entityId, type: messageTypeName(e.type) ?? e.type, payload: e.payload, seq: e.seq, session: this });
      else if (e.kind === 'close') this.finish();
      else this.finish(new PeerError(e.code as ErrorCode, `peer reported: ${e.reason}`, { remote: true }));
    }
    if (r.error) this.fail(r.error, true);
  }

  /** A handshake frame, or anything before READY. */
  private onFrame(body: Uint8Array): void {
    const now = Date.now();
    if (body[0] === 0x7b) {
      throw new PeerError(ErrorCode.ENCRYPTION_REQUIRED, 'a plaintext JSON message on a v1.1 session; v1.1 requires encryption (v1.0 peers use the HTTP endpoint)');
    }
    const type = body.length > 1 ? body[1]! : -1;
    if (isHandshakeFrame(type)) {
      if (this.secure) throw new PeerError(ErrorCode.INVALID_STATE, 'handshake message on an established session');
      this.writeFrames(this.handshake.receive(body, now));
      this.armTimer();
      if (this.handshake.state === SessionState.Ready) this.onReady(now);
      return;
    }
    throw new PeerError(ErrorCode.ENCRYPTION_NOT_READY, 'record received before the handshake reached READY');
  }

  private onReady(now: number): void {
    const result = this.handshake.result!;
    this.secure = new SecureSession(result, now, this.opts);
    this.armTimer();
    this.settleReady();
    this.emit('ready');
  }

  private deliver(m: Message): void {
    this.emit('message', m);
    const waiter = this.waiters.shift();
    if (waiter) return waiter({ value: m, done: false });
    if (!this.iteratorStarted) return;
    this.inbox.push(m);
    if (this.inbox.length >= this.maxBufferedMessages) this.stream.pause();
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

  private flush(): void {
    this.flushScheduled = false;
    if (!this.secure || this.secure.state !== SessionState.Ready || this.stream.destroyed) return;
    try {
      const out = this.secure.flush(Date.now());
      if (out) this.stream.write(out);
    } catch (err) {
      this.fail(err as PeerError, true);
    }
  }

  private writeFrames(bodies: Uint8Array[]): void {
    for (const body of bodies) {
      const frame = Buffer.allocUnsafe(4 + body.length);
      frame.writeUInt32BE(body.length, 0);
      frame.set(body, 4);
      this.stream.write(frame);
    }
  }

  /** One timer per session: the handshake deadline, then the session TTL. */
  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const deadline = this.secure ? this.secure.expiresAt : this.handshake.deadline;
    if (deadline === null || this.ended) return;
    this.timer = setTimeout(() => this.onDeadline(), Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)));
    this.timer.unref();
  }

  private onDeadline(): void {
    const now = Date.now();
    try {
      if (this.secure) {
        if (now >= this.secure.expiresAt) throw new PeerError(ErrorCode.SESSION_EXPIRED, 'session TTL exceeded');
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
      const frame = this.secure && this.secure.state === SessionState.Ready
        ? this.secure.error(err.code, err.message)
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
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 1000).unref();
  }

  private onStreamEnd(): void {
    if (!this.ended) this.finish(this.secure ? undefined : new PeerError(ErrorCode.SESSION_NOT_FOUND, 'connection closed during the handshake'));
    if (!this.stream.destroyed) this.stream.destroy();
  }

  /** Marks the session over exactly once: wipes keys, settles waiters, emits 'close'. */
  private finish(err?: PeerError): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.handshake.destroy();
    this.secure?.destroy();
    this.settleReady(err ?? new PeerError(ErrorCode.INVALID_STATE, 'session closed before READY'));
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
    if (this.stream.isPaused()) this.stream.resume();
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close', err);
  }
}
