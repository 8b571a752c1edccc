/**
 * A READY session as a sans-I/O object: messages in, sealed frames out; frame bodies in,
 * ordered messages out. Keys per direction come from the handshake; nothing here reads a clock,
 * opens a socket or starts a timer (`now` is passed in).
 *
 * Sending: the Outbox numbers and queues messages; flush() takes up to `maxBytes` of them as
 * records (small messages coalesced, large ones one chunk per record), lays every frame out in
 * one buffer and seals them all in place with one native call.
 * Receiving: the data records of one socket read are checked (session id, TTL, replay window,
 * sequence) and opened in place with one native call; a chunk record is decrypted straight
 * into its message's reassembly buffer. Only records whose tag verified enter the window.
 * Rekey: before a key would seal more than `recordsPerKey` records (2^24 by default, the
 * AES-GCM limit of DESIGN.md) the sender appends a key_update record and both sides move to a
 * key expanded from the current one (PROTOCOL.md §6).
 */
import { MemoryBudget, Reassembler, type ReassemblyOptions } from '../chunking/index.js';
import { AEAD_TAG_BYTES, type AeadSuite } from '../crypto/index.js';
import { ErrorCode, PeerError, type ErrorCode as Code } from '../errors.js';
import { SessionState, type HandshakeResult, type RemoteIdentity } from '../handshake/index.js';
import { FrameType, decodeRecordHeader, releaseFrame, type ChunkFields, type RateClass, type RecordType } from '../wire/index.js';
import { Direction, NONCE_BYTES, RegionScratch } from './direction.js';
import { Outbox } from './outbox.js';
import { ReplayWindow } from './replay-window.js';
import { MESSAGE_HEADER_BYTES, checkRun, decodeErrorPayload, encodeErrorPayload, readRun, type ErrorPayload } from './run.js';
import { KEY_UPDATE, sealSegment, type OutRecord } from './seal.js';

export const DEFAULT_SESSION_TTL_MS = 3_600_000;
/**
 * Largest plaintext of one record this side seals: a 64 KiB message with its run header, so a
 * message of up to 64 KiB (the spec's frame payload limit) travels whole in one data record and
 * only larger ones are chunked (in chunks of 64 KiB: 1 MiB is 16 records). Receivers take any
 * record that fits their frame limit (128 KiB by default, PROTOCOL.md §1).
 */
export const DEFAULT_MAX_RECORD_PAYLOAD = 64 * 1024 + MESSAGE_HEADER_BYTES;
/** AES-256-GCM: at most 2^24 records under one key (DESIGN.md §3). */
export const DEFAULT_RECORDS_PER_KEY = 2 ** 24;
/** Error codes that refuse one message and leave the session usable; every other code ends it. */
export const NON_FATAL_CODES: ReadonlySet<string> = new Set([ErrorCode.CHUNK_ERROR, ErrorCode.RATE_LIMITED]);

export interface SessionOptions {
  ttlMs?: number;
  maxRecordPayload?: number;
  recordsPerKey?: number;
  replayWindow?: number;
  /** Limits for receiving chunked messages (the budget is the peer's, shared by its sessions). */
  reassembly?: ReassemblyOptions;
}

export type SessionEvent =
  | { kind: 'message'; seq: number; type: number; payload: Uint8Array; chunked?: true }
  /**
   * A data record's `count` messages, checked but not split (run.ts): message i is numbered
   * seq + i. The receiver materialises only the messages it accepts, so a refused one costs
   * no allocation.
   */
  | { kind: 'run'; seq: number; count: number; plain: Uint8Array }
  | { kind: 'stream-start'; seq: number; messageId: number; type: number; total: number }
  | { kind: 'stream-data'; messageId: number; data: Uint8Array; last: boolean }
  /** A new chunked message refused by a rate class at its chunk 0 (the receive side sends RATE_LIMITED). */
  | { kind: 'limited'; seq: number; messageId: number; rateClass: RateClass; retryAfter: number }
  /** A chunked message this side refused or abandoned (also sent to the peer). */
  | { kind: 'chunk-error'; error: PeerError }
  /** The peer reported an error; `fatal` ones end the session. */
  | { kind: 'error'; fatal: boolean; error: ErrorPayload }
  | { kind: 'close' };

/** What receiveMany() made of a batch of frame bodies. */
export interface ReceiveResult {
  events: SessionEvent[];
  /** Replayed records dropped before decryption (REPLAY_DETECTED, not fatal). */
  dropped: number;
  /** Sealed frames to send back (error records for refused chunked messages). */
  replies: Buffer[];
  /** The fatal error that ended the session, after the events before it. */
  error: PeerError | null;
}

interface InRecord {
  body: Uint8Array;
  type: RecordType;
  firstSeq: number;
  count: number;
  headerLength: number;
  chunk?: ChunkFields;
}

/**
 * Nonce and region-table scratch for the native calls, and a chunk record's nonce: shared by
 * every session (each call uses them synchronously and keeps nothing), so an idle session
 * holds none. Nonces are not secret.
 */
const SCRATCH = new RegionScratch();
const CHUNK_NONCE = Buffer.alloc(NONCE_BYTES);

export class SecureSession {
  readonly id: Buffer;
  readonly remote: RemoteIdentity;
  readonly suite: AeadSuite;
  readonly expiresAt: number;
  private _state: SessionState = SessionState.Ready;
  private readonly tx: Direction;
  private readonly rx: Direction;
  private readonly window: ReplayWindow;
  private readonly outbox: Outbox;
  /** Created at the first chunk record: most sessions never receive a chunked message. */
  private reassembly: Reassembler | null = null;
  private readonly reassemblyOptions: ReassemblyOptions;
  /** Record sequence numbers (nonce and replay space), per direction. */
  private sendSeq = 0;
  private recvSeq = 0;
  /** Messages received: their numbers, independent of how many records they took. */
  private received = 0;
  private readonly recordsPerKey: number;

  constructor(hs: HandshakeResult, now: number, opts: SessionOptions = {}) {
    this.id = hs.sessionId;
    this.remote = hs.remote;
    this.suite = hs.suite;
    this.expiresAt = now + (opts.ttlMs ?? DEFAULT_SESSION_TTL_MS);
    this.outbox = new Outbox(opts.maxRecordPayload ?? DEFAULT_MAX_RECORD_PAYLOAD);
    this.recordsPerKey = opts.recordsPerKey ?? DEFAULT_RECORDS_PER_KEY;
    if (!Number.isInteger(this.recordsPerKey) || this.recordsPerKey < 2 || this.recordsPerKey > DEFAULT_RECORDS_PER_KEY) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `recordsPerKey must be 2..${DEFAULT_RECORDS_PER_KEY}`);
    }
    this.reassemblyOptions = opts.reassembly ?? {};
    this.tx = new Direction(hs.sendKey, hs.sendIv, hs.suite);
    this.rx = new Direction(hs.recvKey, hs.recvIv, hs.suite);
    this.window = new ReplayWindow(opts.replayWindow);
  }

  get state(): SessionState {
    return this._state;
  }

  /** Plaintext bytes queued and not yet flushed. */
  get pendingBytes(): number {
    return this.outbox.bytes;
  }

  /** Next message number this side will assign. */
  get nextSendSeq(): number {
    return this.outbox.nextSeq;
  }

  /** Messages accepted from the peer so far (the next message number expected). */
  get receivedMessages(): number {
    return this.received;
  }

  /** The next reassembly deadline (poll() then), or null. */
  get deadline(): number | null {
    return this.reassembly?.deadline ?? null;
  }

  /** Queues one message of any size (large ones are chunked); returns its message number. */
  send(type: number, payload: Uint8Array, now: number): number {
    this.assertOpen(now);
    return this.outbox.message(type, payload);
  }

  /** Starts a streamed message of `total` bytes (streamWrite, then streamEnd). */
  beginStream(type: number, total: number, now: number): { seq: number; messageId: number } {
    this.assertOpen(now);
    return this.outbox.beginStream(type, total);
  }

  streamWrite(bytes: Uint8Array, now: number): void {
    this.assertOpen(now);
    this.outbox.streamWrite(bytes);
  }

  streamEnd(): void {
    this.outbox.endStream();
  }

  /** True while an outgoing stream is open (other messages wait for it). */
  get streaming(): boolean {
    return this.outbox.streaming;
  }

  /** Abandons an outgoing chunked message: drops its queued chunks and tells the peer. */
  abortMessage(messageId: number, reason: string): Buffer | null {
    this.outbox.drop(messageId);
    return this.notify({ code: ErrorCode.CHUNK_ERROR, reason, messageId, abandoned: true });
  }

  /**
   * Seals up to about `maxBytes` of what is queued; returns the frames to write (one buffer),
   * or null if nothing was queued.
   */
  flush(now: number, maxBytes = Infinity): Buffer | null {
    if (this.outbox.empty) return null;
    this.assertOpen(now);
    return this.seal(this.outbox.take(maxBytes));
  }

  /** Seals an error record that refuses one message and keeps the session (CHUNK_ERROR, RATE_LIMITED). */
  notify(payload: ErrorPayload & { code: Code }): Buffer | null {
    if (this._state !== SessionState.Ready || !NON_FATAL_CODES.has(payload.code)) return null;
    const body = encodeErrorPayload(payload);
    return this.seal([{ type: FrameType.Error, count: 1, plainLength: body.length, write: (f, at) => f.set(body, at) }]);
  }

  /** Seals an error record for the peer and ends the session (state ERROR). */
  error(code: Code, reason: string): Buffer {
    let out: Buffer = Buffer.alloc(0);
    if (this._state === SessionState.Ready) {
      const body = encodeErrorPayload({ code, reason });
      out = this.seal([{ type: FrameType.Error, count: 1, plainLength: body.length, write: (f, at) => f.set(body, at) }], true);
    }
    this.end(SessionState.Error);
    return out;
  }

  /** Seals what is queued and a close record after it; the session is CLOSED afterwards. */
  close(now: number): Buffer {
    let out: Buffer = Buffer.alloc(0);
    if (this._state === SessionState.Ready && now < this.expiresAt) {
      out = this.seal([...this.outbox.take(Infinity), { type: FrameType.Close, count: 1, plainLength: 0 }], true);
    }
    this.end(SessionState.Closed);
    return out;
  }

  /** Abandons overdue chunked messages; returns the error records to send and the events. */
  poll(now: number): ReceiveResult {
    const result: ReceiveResult = { events: [], dropped: 0, replies: [], error: null };
    for (const err of this.reassembly?.expire(now) ?? []) this.refuseChunked(err, result);
    return result;
  }

  /**
   * Opens one frame body; throws its PeerError. Runs come split into 'message' events.
   * (Tests and simple callers; see receiveMany.)
   */
  receive(body: Uint8Array, now: number): SessionEvent[] {
    const r = this.receiveMany([body], now);
    if (r.error) throw r.error;
    if (r.dropped > 0) throw new PeerError(ErrorCode.REPLAY_DETECTED, 'record is a replay');
    return r.events.flatMap((e) => e.kind !== 'run' ? [e]
      : readRun(e.plain, e.count).map((m, i): SessionEvent => ({ kind: 'message', seq: e.seq + i, type: m.type, payload: m.payload })));
  }

  /**
   * Opens the frame bodies of one socket read, in order, batching the data records that share
   * a buffer into one native call. A replayed record is dropped and counted; a refused chunked
   * message is reported (event and reply) and the session goes on; any other failure ends the
   * session and is returned with the events that preceded it.
   */
  receiveMany(bodies: readonly Uint8Array[], now: number): ReceiveResult {
    const result: ReceiveResult = { events: [], dropped: 0, replies: [], error: null };
    if (this._state !== SessionState.Ready) {
      result.error = new PeerError(this._state === SessionState.Expired ? ErrorCode.SESSION_EXPIRED : ErrorCode.INVALID_STATE, `session is ${this._state}`);
      return result;
    }
    let i = 0;
    while (i < bodies.length && this._state === SessionState.Ready && result.error === null) {
      i += this.receiveGroup(bodies, i, now, result);
    }
    return result;
  }

  /** Wipes keys and reassembly buffers; the session can do nothing more. */
  destroy(): void {
    this.end(this._state === SessionState.Ready ? SessionState.Closed : this._state);
  }

  /** Checks and opens the longest run of bodies from `start` that can share one native call. */
  private receiveGroup(bodies: readonly Uint8Array[], start: number, now: number, result: ReceiveResult): number {
    const group: InRecord[] = [];
    let expected = this.recvSeq;
    let failure: PeerError | null = null;
    for (let j = start; j < bodies.length; j++) {
      const body = bodies[j]!;
      if (group.length > 0 && body.buffer !== group[0]!.body.buffer) break;
      try {
        const r = this.precheck(body, now, expected);
        if (r.type === FrameType.Chunk) {
          if (group.length > 0) break;
          this.receiveChunk(r, now, result);
          return 1;
        }
        group.push(r);
        expected = r.firstSeq + r.count;
        if (r.type !== FrameType.Data) break; // key_update, close and error change what follows
      } catch (err) {
        failure = err as PeerError;
        break;
      }
    }
    if (group.length === 0) {
      if (failure?.code === ErrorCode.REPLAY_DETECTED) result.dropped++;
      else this.fail(result, failure!);
      return 1;
    }
    const opened = this.openGroup(group);
    for (let k = 0; k < opened && this._state === SessionState.Ready; k++) {
      try {
        this.accept(group[k]!, result);
      } catch (err) {
        // A plaintext that disagrees with its (authenticated) header: this session ends, nothing else.
        if (!(err instanceof PeerError)) throw err;
        this.fail(result, err);
      }
    }
    if (opened < group.length) this.fail(result, new PeerError(ErrorCode.DECRYPTION_FAILED, `record ${group[opened]!.firstSeq}: authentication tag did not verify`));
    return group.length;
  }

  private precheck(body: Uint8Array, now: number, expected: number): InRecord {
    const { header, length } = decodeRecordHeader(body);
    if (!header.sessionId.every((b, k) => b === this.id[k])) {
      throw new PeerError(ErrorCode.SESSION_NOT_FOUND, 'record for another session');
    }
    if (now >= this.expiresAt) throw new PeerError(ErrorCode.SESSION_EXPIRED, 'session TTL exceeded');
    const { firstSeq, count } = header;
    const verdict = this.window.checkRun(firstSeq, count);
    if (verdict !== 'ok') throw new PeerError(ErrorCode.REPLAY_DETECTED, `record ${firstSeq} is a replay (${verdict})`);
    if (firstSeq !== expected) throw new PeerError(ErrorCode.SEQUENCE_ERROR, `expected sequence ${expected}, got ${firstSeq}`);
    if (body.length - length < AEAD_TAG_BYTES) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'record shorter than its tag');
    return { body, type: header.type, firstSeq, count, headerLength: length, chunk: header.chunk };
  }

  /** One native call for the group; returns how many records verified. */
  private openGroup(group: InRecord[]): number {
    const first = group[0]!.body;
    const base = first.byteOffset;
    let span = 0;
    SCRATCH.ensure(group.length);
    const { nonces, table } = SCRATCH.views(group.length);
    group.forEach((r, k) => {
      const at = r.body.byteOffset - base;
      this.rx.writeNonce(r.firstSeq, nonces, k * NONCE_BYTES);
      table[4 * k] = at;
      table[4 * k + 1] = r.headerLength;
      table[4 * k + 2] = at + r.headerLength;
      table[4 * k + 3] = r.body.length - r.headerLength - AEAD_TAG_BYTES;
      span = Math.max(span, at + r.body.length);
    });
    return this.rx.aead.openRegions(nonces, new Uint8Array(first.buffer, base, span), table);
  }

  /** Marks a verified record's sequence numbers seen. */
  private commitRecord(r: InRecord): void {
    this.window.commitRun(r.firstSeq, r.count);
    this.recvSeq = r.firstSeq + r.count;
    this.rx.records++;
  }

  /**
   * Commits one verified record and turns it into events. A plaintext that does not match its
   * header throws MALFORMED_FRAME before any of the record's events exist.
   */
  private accept(r: InRecord, result: ReceiveResult): void {
    this.commitRecord(r);
    const plain = r.body.subarray(r.headerLength, r.body.length - AEAD_TAG_BYTES);
    switch (r.type) {
      case FrameType.Data:
        checkRun(plain, r.count);
        result.events.push({ kind: 'run', seq: this.received, count: r.count, plain });
        this.received += r.count;
        return;
      case FrameType.KeyUpdate:
        expectEmpty(plain, 'key_update');
        this.rx.update();
        return;
      case FrameType.Close:
        expectEmpty(plain, 'close');
        this.end(SessionState.Closed);
        result.events.push({ kind: 'close' });
        return;
      default: {
        const error = decodeErrorPayload(plain);
        // RATE_LIMITED naming no message is a disconnection (a peer far over its limit).
        const fatal = !NON_FATAL_CODES.has(error.code) || (error.code === ErrorCode.RATE_LIMITED && error.seq === undefined);
        if (fatal) this.end(SessionState.Error);
        else if (error.code === ErrorCode.CHUNK_ERROR && error.messageId !== undefined) {
          if (error.abandoned) {
            const { unseen, error: abandoned } = this.reassembler.abandon(error.messageId);
            if (unseen) this.received++;
            result.events.push({ kind: 'chunk-error', error: abandoned });
            return;
          }
          this.outbox.drop(error.messageId);
        }
        result.events.push({ kind: 'error', fatal, error });
      }
    }
  }

  /**
   * A chunk record: authenticated first, decrypted straight into its region of a message being
   * received (or in place: a first chunk, a stream's, a duplicate, one to refuse); only then
   * does the reassembler act on it. A refused message is reported to both sides and the session
   * goes on; a bad tag ends the session with nothing allocated, reserved or changed.
   */
  private receiveChunk(r: InRecord, now: number, result: ReceiveResult): void {
    const c = r.chunk!;
    const sealed = r.body.subarray(r.headerLength);
    const plainLength = sealed.length - AEAD_TAG_BYTES;
    const into = this.reassembler.regionFor(c, plainLength) ?? sealed;
    this.rx.writeNonce(r.firstSeq, CHUNK_NONCE, 0);
    try {
      this.rx.aead.openInto(CHUNK_NONCE, r.body.subarray(0, r.headerLength), sealed, into, 0);
    } catch (err) {
      this.fail(result, err as PeerError);
      return;
    }
    this.commitRecord(r);
    // Decrypted into its message's buffer: nothing refers to the record's bytes any more.
    if (into !== sealed) releaseFrame(r.body);
    // A new message takes its number even if refused, so both sides keep counting alike.
    const seq = this.reassembler.isNewMessage(c) ? this.received++ : -1;
    try {
      for (const e of this.reassembler.accept(c, into.subarray(0, plainLength), now, seq)) {
        if (e.kind === 'message') result.events.push({ kind: 'message', seq: e.seq, type: e.type, payload: e.payload, chunked: true });
        else result.events.push(e);
      }
    } catch (err) {
      this.refuseChunked(err as PeerError, result);
    }
  }

  private refuseChunked(err: PeerError, result: ReceiveResult): void {
    result.events.push({ kind: 'chunk-error', error: err });
    const messageId = err.details?.messageId as number | undefined;
    const reply = this.notify({ code: ErrorCode.CHUNK_ERROR, reason: err.message, messageId });
    if (reply) result.replies.push(reply);
  }

  /** Ends the session on a receive failure, with a sealed error record for the peer in the replies. */
  private fail(result: ReceiveResult, err: PeerError): void {
    result.error = err;
    if (this._state === SessionState.Ready) {
      const body = encodeErrorPayload({ code: err.code, reason: err.message });
      result.replies.push(this.seal([{ type: FrameType.Error, count: 1, plainLength: body.length, write: (f, at) => f.set(body, at) }], true));
    }
    this.end(err.code === ErrorCode.SESSION_EXPIRED ? SessionState.Expired : SessionState.Error);
  }

  /**
   * Seals records into frames, one native call per key: when the current key has room for only
   * its key_update, that record closes the segment and the key rotates (unless these are the
   * session's `final` records: close, or a fatal error).
   */
  private seal(records: OutRecord[], final = false): Buffer {
    const parts: Buffer[] = [];
    let i = 0;
    while (i < records.length) {
      const room = Math.max(1, this.recordsPerKey - 1 - this.tx.records);
      const segment = records.slice(i, i + room);
      i += segment.length;
      const rotate = this.tx.records + segment.length >= this.recordsPerKey - 1 && !(final && i === records.length);
      if (rotate) segment.push(KEY_UPDATE);
      const { frames, nextSeq } = sealSegment(this.tx, this.id, this.sendSeq, segment, SCRATCH);
      parts.push(frames);
      this.sendSeq = nextSeq;
      if (rotate) this.tx.update();
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private assertOpen(now: number): void {
    if (this._state !== SessionState.Ready) {
      throw new PeerError(this._state === SessionState.Expired ? ErrorCode.SESSION_EXPIRED : ErrorCode.INVALID_STATE, `session is ${this._state}`);
    }
    if (now >= this.expiresAt) {
      this.end(SessionState.Expired);
      throw new PeerError(ErrorCode.SESSION_EXPIRED, 'session TTL exceeded');
    }
  }

  private get reassembler(): Reassembler {
    return (this.reassembly ??= new Reassembler({ budget: new MemoryBudget(Infinity), ...this.reassemblyOptions }));
  }

  private end(state: SessionState): void {
    if (this._state === SessionState.Ready) {
      this.tx.destroy();
      this.rx.destroy();
      this.reassembly?.clear();
    }
    this._state = state;
  }
}

/** key_update and close records carry nothing (PROTOCOL.md §6). */
function expectEmpty(plain: Uint8Array, what: string): void {
  if (plain.length !== 0) throw new PeerError(ErrorCode.MALFORMED_FRAME, `${what} record with ${plain.length} bytes of plaintext`);
}
