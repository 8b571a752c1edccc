/**
 * The sending side of a READY session: queues messages on the SessionChain, seals and writes
 * them once per tick, and makes senders wait while the socket or the queue is full (a slow
 * reader slows the writer). Also the framing of handshake bodies.
 */
import type { Duplex } from 'node:stream';
import { ErrorCode, PeerError } from '../errors.js';
import { SessionState } from '../handshake/index.js';
import { DEFAULT_MAX_RECORD_PAYLOAD, type SessionChain } from '../session/index.js';
import { rateClassOf } from '../wire/index.js';
import type { SessionIoOptions } from './session.js';
import type { SessionTimer } from './timers.js';

/** Most plaintext sealed per socket write, so a large message never makes one huge buffer. */
const FLUSH_SLICE_BYTES = 256 * 1024;

/** A frame body with its length prefix. */
export function frame(body: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(4 + body.length);
  f.writeUInt32BE(body.length, 0);
  f.set(body, 4);
  return f;
}

export function writeFrames(stream: Duplex, bodies: Uint8Array[]): void {
  for (const body of bodies) stream.write(frame(body));
}

export class Sender {
  private flushScheduled = false;
  /** One promise shared by every send() waiting for the stream to drain (no listener per caller). */
  private drain: Promise<void> | null = null;
  /** Resolves when the outgoing stream in progress ends; other sends wait for it. */
  private outgoing: Promise<void> | null = null;
  /** Outgoing chunked messages the peer refused, by message id. */
  private readonly refused = new Map<number, PeerError>();
  /** Rate classes the peer told us to back off from, until when. */
  private readonly backoff = new Map<string, number>();
  private readonly maxPendingBytes: number;
  private readonly maxRecordPayload: number;

  constructor(
    private readonly stream: Duplex,
    private readonly chain: SessionChain,
    opts: SessionIoOptions,
    private readonly timer: SessionTimer,
    private readonly fail: (err: PeerError, notify: boolean) => void,
  ) {
    this.maxPendingBytes = opts.maxPendingBytes ?? 1024 * 1024;
    this.maxRecordPayload = opts.maxRecordPayload ?? DEFAULT_MAX_RECORD_PAYLOAD;
  }

  send(type: number, bytes: Uint8Array): Promise<number> {
    // Fast path: with room to write, the message is queued now, in call order (so a send
    // followed by close() is delivered); otherwise wait for room first.
    const chain = this.chain;
    if (this.outgoing === null && chain.state === SessionState.Ready && !this.stream.writableNeedDrain && chain.pendingBytes < this.maxPendingBytes) {
      return Promise.resolve(this.queue(type, bytes));
    }
    return this.sendWhenWritable(type, bytes);
  }

  /** Waits for room; the check and the queueing run in one synchronous step (no stream can start between). */
  private async sendWhenWritable(type: number, bytes: Uint8Array): Promise<number> {
    for (;;) {
      await this.writable();
      if (this.outgoing === null && !this.chain.streaming) return this.queue(type, bytes);
    }
  }

  /** Session.sendStream, once READY. */
  async sendStream(source: AsyncIterable<Uint8Array | string>, length: number, type: number): Promise<number> {
    const chain = this.chain;
    await this.writable();
    while (this.outgoing !== null || chain.streaming) await this.writable();
    this.checkBackoff(type, true);
    const { seq, messageId } = chain.beginStream(type, length, Date.now());
    let done!: () => void;
    this.outgoing = new Promise((r) => (done = r));
    try {
      for await (const piece of source) {
        const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
        const refusal = this.refused.get(messageId);
        if (refusal) throw refusal;
        chain.streamWrite(bytes, Date.now());
        this.scheduleFlush();
        await this.roomToWrite();
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

  /** The peer refused an outgoing chunked message: its stream ends with `err`. */
  refuse(messageId: number, err: PeerError): void {
    this.refused.set(messageId, err);
  }

  /** The peer limits a rate class: sends of it are refused until `until`. */
  backOff(rateClass: string, until: number): void {
    this.backoff.set(rateClass, until);
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

  private queue(type: number, bytes: Uint8Array): number {
    this.checkBackoff(type, bytes.length + 5 > this.maxRecordPayload);
    const now = Date.now();
    this.timer.lastActivity = now;
    const seq = this.chain.send(type, bytes, now);
    this.scheduleFlush();
    return seq;
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
    if (chain.state !== SessionState.Ready) throw new PeerError(ErrorCode.INVALID_STATE, `session is ${chain.state}`);
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
    if (chain.state !== SessionState.Ready || this.stream.destroyed) return;
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
}
