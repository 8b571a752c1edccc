/**
 * The sending side of a READY session: queues messages on the SessionChain in call order, seals
 * and writes them once per tick, and makes senders wait while the socket or the queue is full
 * (a slow reader slows the writer). Also what the peer refused (RATE_LIMITED, CHUNK_ERROR), kept
 * only for messages really outgoing and known classes, and the framing of handshake bodies.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ErrorCode, PeerError } from '../errors.js';
import { SessionState } from '../handshake/index.js';
import { RATE_CLASSES, type RateClass } from '../ratelimit/index.js';
import { DEFAULT_MAX_RECORD_PAYLOAD, MESSAGE_HEADER_BYTES, releaseSealBuffer, type SecureSession, type SessionChain } from '../session/index.js';
import { rateClassOf } from '../wire/index.js';
import { Delivery } from './delivery.js';
import { QUEUED_TYPE } from './envelope.js';
import type { SessionIoOptions } from './session.js';
import type { SessionTimer } from './timers.js';

/** Most plaintext sealed per buffer, so a large message never makes one huge buffer. */
const FLUSH_SLICE_BYTES = 256 * 1024;
/**
 * A flush goes on sealing slices while the socket holds less than this not yet taken by the
 * kernel, corked so that they leave in one writev: one write call per tick for everything
 * queued in it (up to maxPendingBytes), not one per slice and event-loop turn.
 */
const WRITE_AHEAD_BYTES = 1024 * 1024;
/** Longest back-off a peer may ask for; a larger retry-after is cut to this (it cannot mute a class forever). */
export const MAX_BACKOFF_MS = 10 * 60_000;
/** Classes a peer may ask us to back off from (handshakes are limited at the listener, not here). */
const BACKOFF_CLASSES: ReadonlySet<string> = new Set(RATE_CLASSES.filter((c) => c !== 'handshake'));

/** A frame body with its length prefix. */
export function frame(body: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(4 + body.length);
  f.writeUInt32BE(body.length, 0);
  f.set(body, 4);
  return f;
}

/** Handshake frames of one step go out in one write (one syscall, one segment). */
export function writeFrames(stream: Duplex, bodies: Uint8Array[]): void {
  if (bodies.length === 1) stream.write(frame(bodies[0]!));
  else if (bodies.length > 1) stream.write(Buffer.concat(bodies.map(frame)));
}

export interface QueueOptions {
  /** Skips the back-off check: acks and replies (the peer admits them by credit). */
  control?: boolean;
  /** The type whose class the back-off check uses (an envelope's inner type). */
  classType?: number;
  /** Called when the message takes its number: `chunkId` is its chunked message id, else null. */
  onQueued?: (seq: number, chunkId: number | null) => void;
  /** The message waits (in order) while this is false: the cap on tracked messages. */
  gate?: () => boolean;
}

/** What a refusal from the peer names (an error record's fields). */
export interface Refused {
  seq?: number;
  messageId?: number;
  rateClass?: string;
  retryAfter?: number;
  /** Whole messages of `rateClass` numbered seq … seq + count − 1 (default 1). */
  count?: number;
}

const NO_OPTIONS: QueueOptions = {};
/** A write() that waited: its back-off was checked when it was called. */
const CHECKED: QueueOptions = { control: true };

function noop(): void {}

function attempt(f: () => void): void {
  try {
    f();
  } catch {
    // see write()
  }
}

/** A send waiting for its turn: the FIFO keeps call order whatever the sizes. */
interface Waiting {
  gate: (() => boolean) | undefined;
  run(): void;
  fail(err: unknown): void;
}

export class Sender {
  readonly delivery: Delivery;
  private flushScheduled = false;
  /** One promise shared by every waiter for the stream to drain (no listener per caller). */
  private drain: Promise<void> | null = null;
  /** Resolves when the outgoing stream in progress ends; other sends wait for it. */
  private outgoing: Promise<void> | null = null;
  /** Sends waiting for room, in call order (head index: shift() is O(n) on long arrays). */
  private waiting: Waiting[] = [];
  private head = 0;
  private pumping = false;
  private closedWith: PeerError | null = null;
  /** The outgoing stream's message id and, if the peer refused it, why. */
  private streamId: number | null = null;
  private streamRefusal: PeerError | null = null;
  /** Rate classes the peer told us to back off from, until when (at most one entry per known class). */
  private readonly backoff = new Map<RateClass, number>();
  /** Chunked message ids count per SecureSession (PROTOCOL.md §6); mirrored here to name refusals. */
  private idSession: SecureSession | null = null;
  private nextChunkId = 0;
  /** `queued` envelopes sent and not yet answered by a queue_ack admitted free (Delivery.classify). */
  private queueAckCredit = 0;
  /** Message numbers handed out: refusals naming a later one are not ours. */
  private nextSeq = 0;
  private readonly maxPendingBytes: number;
  private readonly maxRecordPayload: number;
  /** write() returned false: 'drain' is owed once there is room again. */
  private needDrain = false;
  /** The clock read for this tick's sends (-1: not read yet); reset by each flush. */
  private tickNow = -1;
  /**
   * A plain TCP socket: once its write callback runs the kernel has the bytes and nothing
   * refers to the buffer, which may then seal a later write (seal.ts). Other streams (an
   * in-memory pair, a relay's) may pass the buffer itself on, so theirs are never reused.
   */
  private readonly recycles: boolean;

  constructor(
    private readonly stream: Duplex,
    private readonly chain: SessionChain,
    opts: SessionIoOptions,
    private readonly timer: SessionTimer,
    private readonly fail: (err: PeerError, notify: boolean) => void,
    private readonly onDrain: () => void,
  ) {
    this.maxPendingBytes = opts.maxPendingBytes ?? 1024 * 1024;
    this.maxRecordPayload = opts.maxRecordPayload ?? DEFAULT_MAX_RECORD_PAYLOAD;
    this.recycles = stream instanceof net.Socket && !(stream instanceof tls.TLSSocket);
    this.delivery = new Delivery(this, opts);
  }

  /** Spends one queue_ack credit; false when the peer has none left. */
  takeQueueAckCredit(): boolean {
    if (this.queueAckCredit === 0) return false;
    this.queueAckCredit--;
    return true;
  }

  /** Sends waiting for their turn. */
  get backlog(): number {
    return this.waiting.length - this.head;
  }

  /**
   * Queues one message in call order and resolves with its number once it is queued: at once
   * when nothing waits and there is room, else after every earlier send.
   */
  send(type: number, bytes: Uint8Array, opts: QueueOptions = {}): Promise<number> {
    if (this.backlog === 0 && this.hasRoom() && (opts.gate?.() ?? true)) {
      try {
        return Promise.resolve(this.queue(type, bytes, opts));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<number>((resolve, reject) => {
      this.wait({
        gate: opts.gate,
        run: () => {
          try {
            resolve(this.queue(type, bytes, opts));
          } catch (err) {
            reject(err);
          }
        },
        fail: reject,
      });
    });
  }

  /**
   * Session.write: queues one message now (behind any sends still waiting, in call order) and
   * returns whether there is room for more; after false, 'drain' comes once there is. Throws
   * what send() would reject with at once (closed session, RATE_LIMITED back-off).
   */
  write(type: number, bytes: Uint8Array): boolean {
    if (this.backlog === 0 && this.hasRoom()) {
      this.queue(type, bytes, NO_OPTIONS);
      if (this.hasRoom()) return true;
    } else {
      if (this.closedWith) throw this.closedWith;
      this.checkBackoff(type, bytes.length + MESSAGE_HEADER_BYTES > this.maxRecordPayload);
      // Its turn comes in call order; the back-off was checked now, as for a write with room.
      // A failure then (the session ended meanwhile) is reported by the session's 'close'.
      this.wait({ gate: undefined, run: () => void attempt(() => this.queue(type, bytes, CHECKED)), fail: noop });
    }
    this.needDrain = true;
    return false;
  }

  /** Session.sendStream, once READY: starts in call order, and other sends wait until it ends. */
  async sendStream(source: AsyncIterable<Uint8Array | string>, length: number, type: number): Promise<number> {
    const chain = this.chain;
    let done!: () => void;
    const ended = new Promise<void>((r) => (done = r));
    const start = (): void => {
      this.outgoing = ended;
    };
    if (this.backlog === 0 && this.hasRoom()) start();
    else await new Promise<void>((resolve, reject) => this.wait({ gate: undefined, run: () => (start(), resolve()), fail: reject }));
    let messageId = -1;
    try {
      this.checkBackoff(type, true);
      const s = chain.beginStream(type, length, Date.now());
      messageId = s.messageId;
      this.countChunked(s.messageId);
      this.nextSeq = s.seq + 1;
      this.streamId = messageId;
      for await (const piece of source) {
        const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
        if (this.streamRefusal) throw this.streamRefusal;
        chain.streamWrite(bytes, Date.now());
        this.scheduleFlush();
        await this.roomToWrite();
      }
      const tail = chain.streamEnd(Date.now());
      if (tail) this.stream.write(tail);
      this.scheduleFlush();
      return s.seq;
    } catch (err) {
      // Always tell the peer: even with nothing sent yet, the message's number was taken.
      if (messageId >= 0 && chain.state === SessionState.Ready) {
        const notice = chain.abortMessage(messageId, err instanceof Error ? err.message : String(err), Date.now());
        if (notice && !this.stream.destroyed) this.stream.write(notice);
      }
      throw err instanceof PeerError ? err : new PeerError(ErrorCode.CHUNK_ERROR, `stream source failed: ${String(err)}`, { messageId });
    } finally {
      this.streamId = null;
      this.streamRefusal = null;
      this.outgoing = null;
      done();
      this.pump();
      this.owedDrain();
    }
  }

  /**
   * The peer refused one of our messages (a non-fatal error record). Returns false when the
   * record names no message of ours (a number not yet handed out, a chunked message not in
   * flight) — nothing is stored for it. Back-off is kept for known classes only, capped.
   */
  onRefusal(err: PeerError, refused: Refused): boolean {
    const { seq, messageId, rateClass, retryAfter, count = 1 } = refused;
    const ours = (seq !== undefined && seq + count <= this.nextSeq) || (seq === undefined && messageId !== undefined && messageId < this.chunkIdBound());
    if (!ours) return false;
    if (messageId !== undefined && messageId === this.streamId) this.streamRefusal = err;
    if (err.code === ErrorCode.RATE_LIMITED && rateClass !== undefined && BACKOFF_CLASSES.has(rateClass)) {
      this.backoff.set(rateClass as RateClass, Date.now() + Math.min(Math.max(0, retryAfter ?? 0), MAX_BACKOFF_MS));
    }
    this.delivery.onRefusal(err, refused);
    return true;
  }

  /** The session ended: every waiting send and every tracked message rejects. */
  close(err: PeerError): void {
    if (this.closedWith) return;
    this.closedWith = err;
    const waiting = this.waiting.splice(this.head);
    this.waiting = [];
    this.head = 0;
    for (const w of waiting) w.fail(err);
    this.delivery.close(err);
  }

  /** Wakes the queue (a tracked message settled, so a gated send may go). */
  pump(): void {
    if (this.pumping || this.backlog === 0) return;
    this.pumping = true;
    void this.runQueue().finally(() => {
      this.pumping = false;
      // A send may have joined between the last check and now; a gated head is woken by its gate.
      if (this.backlog > 0 && (this.waiting[this.head]!.gate?.() ?? true)) this.pump();
    });
  }

  private wait(w: Waiting): void {
    if (this.closedWith) return w.fail(this.closedWith);
    this.waiting.push(w);
    this.pump();
  }

  private async runQueue(): Promise<void> {
    while (this.backlog > 0) {
      try {
        await this.writable();
      } catch (err) {
        return this.close(err as PeerError);
      }
      while (this.backlog > 0 && this.hasRoom()) {
        const w = this.waiting[this.head]!;
        if (!(w.gate?.() ?? true)) return; // woken again by pump() when a tracked message settles
        this.waiting[this.head++] = undefined as unknown as Waiting;
        if (this.head === this.waiting.length) {
          this.waiting = [];
          this.head = 0;
        }
        w.run();
      }
    }
  }

  private hasRoom(): boolean {
    const chain = this.chain;
    return this.outgoing === null && !chain.streaming && chain.state === SessionState.Ready && !this.stream.writableNeedDrain && chain.pendingBytes < this.maxPendingBytes;
  }

  /** Refuses a send while the peer asked this class to back off (RATE_LIMITED with retryAfter). */
  private checkBackoff(type: number, chunked: boolean): void {
    if (this.backoff.size === 0) return;
    const cls: RateClass = chunked ? 'chunk' : rateClassOf(type);
    const until = this.backoff.get(cls);
    if (until === undefined) return;
    const retryAfter = until - Date.now();
    if (retryAfter <= 0) {
      this.backoff.delete(cls);
      return;
    }
    throw new PeerError(ErrorCode.RATE_LIMITED, `not sent: the peer limits ${cls} messages; retry in ${retryAfter} ms`, { retryAfter, class: cls, local: true });
  }

  private queue(type: number, bytes: Uint8Array, opts: QueueOptions): number {
    const chunked = bytes.length + 5 > this.maxRecordPayload;
    if (!opts.control) this.checkBackoff(opts.classType ?? type, chunked);
    const now = this.now();
    this.timer.lastActivity = now;
    if (chunked) this.countChunked(-1);
    const seq = this.chain.send(type, bytes, now);
    this.nextSeq = seq + 1;
    if (type === QUEUED_TYPE) this.queueAckCredit++;
    const chunkId = chunked ? this.nextChunkId++ : null;
    opts.onQueued?.(seq, chunkId);
    this.scheduleFlush();
    return seq;
  }

  /** Keeps the chunked-id mirror on the SecureSession that sends (ids restart after a renewal). */
  private countChunked(startedId: number): void {
    const current = this.chain.session;
    if (current !== this.idSession) {
      this.idSession = current;
      this.nextChunkId = 0;
    }
    if (startedId >= 0) this.nextChunkId = startedId + 1;
  }

  private chunkIdBound(): number {
    return this.chain.session === this.idSession ? this.nextChunkId : 0;
  }

  /** Resolves once no stream is in progress and the socket and queue have room. */
  private async writable(): Promise<void> {
    for (;;) {
      if (this.outgoing) {
        await this.outgoing;
        continue;
      }
      await this.roomToWrite();
      if (!this.outgoing) return;
    }
  }

  private async roomToWrite(): Promise<void> {
    const chain = this.chain;
    while (chain.state === SessionState.Ready && !this.stream.destroyed && (this.stream.writableNeedDrain || chain.pendingBytes >= this.maxPendingBytes)) {
      if (this.stream.writableNeedDrain) await this.drained();
      else this.flush();
    }
    if (chain.state !== SessionState.Ready) throw this.closedWith ?? new PeerError(ErrorCode.INVALID_STATE, `session is ${chain.state}`);
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

  /**
   * One clock read per tick for the sends queued in it (TTL check, idle clock): the first send
   * reads it, the flush that ends the tick forgets it.
   */
  private now(): number {
    if (this.tickNow < 0) this.tickNow = Date.now();
    return this.tickNow;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Emits the 'drain' a write() returning false promised, once there is room again. */
  private owedDrain(): void {
    if (!this.needDrain || this.closedWith) return;
    if (this.backlog === 0 && this.hasRoom()) {
      this.needDrain = false;
      this.onDrain();
    } else if (this.stream.writableNeedDrain && this.chain.pendingBytes === 0) {
      void this.drained().then(() => this.owedDrain());
    }
  }

  /** Seals and writes what is queued, a slice at a time, while the socket has room (WRITE_AHEAD_BYTES). */
  private flush(): void {
    this.flushScheduled = false;
    this.tickNow = -1;
    const chain = this.chain;
    const stream = this.stream;
    if (chain.state !== SessionState.Ready || stream.destroyed) return;
    const corked = chain.pendingBytes > FLUSH_SLICE_BYTES && stream.writableLength < WRITE_AHEAD_BYTES;
    if (corked) stream.cork();
    let failure: PeerError | null = null;
    try {
      while (chain.pendingBytes > 0 && stream.writableLength < WRITE_AHEAD_BYTES) {
        const out = chain.flush(Date.now(), FLUSH_SLICE_BYTES);
        if (out === null) continue;
        if (this.recycles) stream.write(out, () => releaseSealBuffer(out));
        else stream.write(out);
      }
    } catch (err) {
      failure = err as PeerError;
    }
    if (corked) stream.uncork();
    if (failure) return this.fail(failure, true);
    if (chain.pendingBytes > 0) void this.drained().then(() => this.scheduleFlush());
    else this.owedDrain();
  }
}
