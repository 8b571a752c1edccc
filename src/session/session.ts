/**
 * A READY session as a sans-I/O object: messages in, sealed frames out; frame bodies in,
 * ordered messages out. Keys per direction come from the handshake; nothing here reads a clock,
 * opens a socket or starts a timer (`now` is passed in).
 *
 * Sending: send() gives each message the next sequence number and queues it; flush() packs the
 * queue into as few data records as fit the record payload limit (coalescing, as TLS and QUIC
 * do), lays every frame out in one buffer and seals them all in place with one native call.
 * Receiving: the records of one socket read are checked (session id, TTL, replay window,
 * sequence) and then opened in place with one native call; only records whose tag verified
 * are marked in the replay window.
 * Rekey: before a key would seal more than `recordsPerKey` records (2^24 by default, the
 * AES-GCM limit of DESIGN.md) the sender appends a key_update record and both sides move to a
 * key expanded from the current one (PROTOCOL.md §6).
 */
import { AEAD_TAG_BYTES, type AeadSuite } from '../crypto/index.js';
import { ErrorCode, PeerError, type ErrorCode as Code } from '../errors.js';
import { SessionState, type HandshakeResult, type RemoteIdentity } from '../handshake/index.js';
import {
  FrameType, LENGTH_PREFIX_BYTES, decodeRecordHeader, encodeRecordHeader, recordHeaderLength, type RecordType,
} from '../wire/index.js';
import { Direction, NONCE_BYTES, RegionScratch } from './direction.js';
import { ReplayWindow } from './replay-window.js';
import { decodeErrorPayload, encodeErrorPayload, MESSAGE_HEADER_BYTES, readRun, runLength, writeRun, type RunMessage } from './run.js';

export const DEFAULT_SESSION_TTL_MS = 3_600_000;
/** Largest plaintext of one record (the spec's frame payload limit). */
export const DEFAULT_MAX_RECORD_PAYLOAD = 64 * 1024;
/** AES-256-GCM: at most 2^24 records under one key (DESIGN.md §3). */
export const DEFAULT_RECORDS_PER_KEY = 2 ** 24;

export interface SessionOptions {
  ttlMs?: number;
  maxRecordPayload?: number;
  recordsPerKey?: number;
  replayWindow?: number;
}

export type SessionEvent =
  | { kind: 'message'; seq: number; type: number; payload: Uint8Array }
  | { kind: 'error'; code: string; reason: string }
  | { kind: 'close' };

/** What receiveMany() made of a batch of frame bodies. */
export interface ReceiveResult {
  events: SessionEvent[];
  /** Replayed records dropped before decryption (REPLAY_DETECTED, not fatal). */
  dropped: number;
  /** The fatal error that ended the session, after the events before it. */
  error: PeerError | null;
}

interface OutRecord {
  type: RecordType;
  count: number;
  plainLength: number;
  write?: (frame: Buffer, at: number) => void;
}

interface InRecord {
  body: Uint8Array;
  type: RecordType;
  firstSeq: number;
  count: number;
  headerLength: number;
}

const KEY_UPDATE: OutRecord = { type: FrameType.KeyUpdate, count: 1, plainLength: 0 };

export class SecureSession {
  readonly id: Buffer;
  readonly remote: RemoteIdentity;
  readonly suite: AeadSuite;
  readonly expiresAt: number;
  private _state: SessionState = SessionState.Ready;
  private readonly tx: Direction;
  private readonly rx: Direction;
  private readonly window: ReplayWindow;
  private readonly scratch = new RegionScratch();
  /** Record sequence numbers (nonce and replay space); key_update records take one too. */
  private sendSeq = 0;
  private recvSeq = 0;
  /** key_update records so far per direction: message numbers skip them, so they stay contiguous. */
  private sentKeyUpdates = 0;
  private receivedKeyUpdates = 0;
  private queue: RunMessage[] = [];
  private queuedBytes = 0;
  private readonly maxRecordPayload: number;
  private readonly recordsPerKey: number;

  constructor(hs: HandshakeResult, now: number, opts: SessionOptions = {}) {
    this.id = hs.sessionId;
    this.remote = hs.remote;
    this.suite = hs.suite;
    this.expiresAt = now + (opts.ttlMs ?? DEFAULT_SESSION_TTL_MS);
    this.maxRecordPayload = opts.maxRecordPayload ?? DEFAULT_MAX_RECORD_PAYLOAD;
    this.recordsPerKey = opts.recordsPerKey ?? DEFAULT_RECORDS_PER_KEY;
    if (!Number.isInteger(this.recordsPerKey) || this.recordsPerKey < 2 || this.recordsPerKey > DEFAULT_RECORDS_PER_KEY) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `recordsPerKey must be 2..${DEFAULT_RECORDS_PER_KEY}`);
    }
    this.tx = new Direction(hs.sendKey, hs.sendIv, hs.suite);
    this.rx = new Direction(hs.recvKey, hs.recvIv, hs.suite);
    this.window = new ReplayWindow(opts.replayWindow);
  }

  get state(): SessionState {
    return this._state;
  }

  /** Bytes of messages queued and not yet flushed. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** Next message sequence number this side will assign. */
  get nextSendSeq(): number {
    return this.sendSeq - this.sentKeyUpdates + this.queue.length;
  }

  /** Messages accepted from the peer so far (the next message number expected). */
  get receivedMessages(): number {
    return this.recvSeq - this.receivedKeyUpdates;
  }

  /** Queues one message; returns its message sequence number (0, 1, 2, … per direction). */
  send(type: number, payload: Uint8Array, now: number): number {
    this.assertOpen(now);
    if (payload.length + MESSAGE_HEADER_BYTES > this.maxRecordPayload) {
      throw new PeerError(ErrorCode.CHUNK_ERROR, `message of ${payload.length} bytes exceeds the record payload limit; chunked transfer is needed`);
    }
    this.queue.push({ type, payload });
    this.queuedBytes += payload.length + MESSAGE_HEADER_BYTES;
    return this.nextSendSeq - 1;
  }

  /** Seals everything queued; returns the frames to write (one buffer), or null if nothing was queued. */
  flush(now: number): Buffer | null {
    if (this.queue.length === 0) return null;
    this.assertOpen(now);
    return this.seal(this.takeQueue());
  }

  /** Seals an error record for the peer and ends the session (state ERROR). */
  error(code: Code, reason: string): Buffer {
    let out: Buffer = Buffer.alloc(0);
    if (this._state === SessionState.Ready) {
      const payload = encodeErrorPayload(code, reason);
      out = this.seal([{ type: FrameType.Error, count: 1, plainLength: payload.length, write: (f, at) => f.set(payload, at) }]);
    }
    this.end(SessionState.Error);
    return out;
  }

  /** Seals what is queued and a close record after it; the session is CLOSED afterwards. */
  close(now: number): Buffer {
    let out: Buffer = Buffer.alloc(0);
    if (this._state === SessionState.Ready && now < this.expiresAt) {
      out = this.seal([...this.takeQueue(), { type: FrameType.Close, count: 1, plainLength: 0 }]);
    }
    this.end(SessionState.Closed);
    return out;
  }

  /** Opens one frame body; throws its PeerError. (Tests and simple callers; see receiveMany.) */
  receive(body: Uint8Array, now: number): SessionEvent[] {
    const r = this.receiveMany([body], now);
    if (r.error) throw r.error;
    if (r.dropped > 0) throw new PeerError(ErrorCode.REPLAY_DETECTED, 'record is a replay');
    return r.events;
  }

  /**
   * Opens the frame bodies of one socket read, in order, batching the records that share a
   * buffer into one native call. A replayed record is dropped and counted; any other failure
   * ends the session and is returned with the events that preceded it.
   */
  receiveMany(bodies: readonly Uint8Array[], now: number): ReceiveResult {
    const result: ReceiveResult = { events: [], dropped: 0, error: null };
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

  /** Wipes keys; the session can do nothing more. */
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
        group.push(r);
        expected = r.firstSeq + r.count;
        if (r.type !== FrameType.Data) break; // key_update, close and error change what follows
      } catch (err) {
        failure = err as PeerError;
        break;
      }
    }
    if (group.length === 0) {
      if (failure?.code === ErrorCode.REPLAY_DETECTED) {
        result.dropped++;
        return 1;
      }
      this.fail(result, failure!);
      return 1;
    }
    const opened = this.openGroup(group);
    for (let k = 0; k < opened && this._state === SessionState.Ready; k++) this.accept(group[k]!, result);
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
    if (header.type === FrameType.Chunk) throw new PeerError(ErrorCode.CHUNK_ERROR, 'chunked transfer is not supported by this peer yet');
    if (body.length - length < AEAD_TAG_BYTES) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'record shorter than its tag');
    return { body, type: header.type, firstSeq, count, headerLength: length };
  }

  /** One native call for the group; returns how many records verified. */
  private openGroup(group: InRecord[]): number {
    const first = group[0]!.body;
    const base = first.byteOffset;
    let span = 0;
    this.scratch.ensure(group.length);
    const { nonces, table } = this.scratch.views(group.length);
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

  /** Commits one verified record and turns it into events. */
  private accept(r: InRecord, result: ReceiveResult): void {
    this.window.commitRun(r.firstSeq, r.count);
    this.recvSeq = r.firstSeq + r.count;
    this.rx.records++;
    const plain = r.body.subarray(r.headerLength, r.body.length - AEAD_TAG_BYTES);
    switch (r.type) {
      case FrameType.Data: {
        const first = r.firstSeq - this.receivedKeyUpdates;
        for (const [k, m] of readRun(plain, r.count).entries()) {
          result.events.push({ kind: 'message', seq: first + k, type: m.type, payload: m.payload });
        }
        return;
      }
      case FrameType.KeyUpdate:
        this.rx.update();
        this.receivedKeyUpdates++;
        return;
      case FrameType.Close:
        this.end(SessionState.Closed);
        result.events.push({ kind: 'close' });
        return;
      default: {
        const { code, reason } = decodeErrorPayload(plain);
        this.end(SessionState.Error);
        result.events.push({ kind: 'error', code, reason });
      }
    }
  }

  private fail(result: ReceiveResult, err: PeerError): void {
    result.error = err;
    this.end(err.code === ErrorCode.SESSION_EXPIRED ? SessionState.Expired : SessionState.Error);
  }

  private takeQueue(): OutRecord[] {
    const records: OutRecord[] = [];
    let run: RunMessage[] = [];
    let size = 0;
    const push = (): void => {
      const messages = run;
      records.push({ type: FrameType.Data, count: messages.length, plainLength: runLength(messages), write: (f, at) => writeRun(messages, f, at) });
    };
    for (const m of this.queue) {
      const n = m.payload.length + MESSAGE_HEADER_BYTES;
      if (size + n > this.maxRecordPayload && run.length > 0) {
        push();
        run = [];
        size = 0;
      }
      run.push(m);
      size += n;
    }
    if (run.length > 0) push();
    this.queue = [];
    this.queuedBytes = 0;
    return records;
  }

  /**
   * Seals records into frames, one native call per key: when the current key has room for only
   * its key_update, that record closes the segment and the key rotates.
   */
  private seal(records: OutRecord[]): Buffer {
    const parts: Buffer[] = [];
    let i = 0;
    while (i < records.length) {
      const room = Math.max(1, this.recordsPerKey - 1 - this.tx.records);
      const segment = records.slice(i, i + room);
      i += segment.length;
      const rotate = this.tx.records + segment.length >= this.recordsPerKey - 1 && segment[segment.length - 1]!.type === FrameType.Data;
      if (rotate) segment.push(KEY_UPDATE);
      parts.push(this.sealSegment(segment));
      if (rotate) {
        this.tx.update();
        this.sentKeyUpdates++;
      }
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Lays the frames out back to back (length ‖ header ‖ plaintext ‖ tag) and seals them in place. */
  private sealSegment(records: OutRecord[]): Buffer {
    let total = 0;
    for (const r of records) total += LENGTH_PREFIX_BYTES + recordHeaderLength(r.type) + r.plainLength + AEAD_TAG_BYTES;
    const buf = Buffer.allocUnsafe(total);
    this.scratch.ensure(records.length);
    const { nonces, table } = this.scratch.views(records.length);
    let at = 0;
    let seq = this.sendSeq;
    records.forEach((r, k) => {
      const headerLength = recordHeaderLength(r.type);
      const bodyLength = headerLength + r.plainLength + AEAD_TAG_BYTES;
      buf.writeUInt32BE(bodyLength, at);
      encodeRecordHeader({ type: r.type, sessionId: this.id, firstSeq: seq, count: r.count }, buf, at + LENGTH_PREFIX_BYTES);
      const plainAt = at + LENGTH_PREFIX_BYTES + headerLength;
      r.write?.(buf, plainAt);
      this.tx.writeNonce(seq, nonces, k * NONCE_BYTES);
      table[4 * k] = at + LENGTH_PREFIX_BYTES;
      table[4 * k + 1] = headerLength;
      table[4 * k + 2] = plainAt;
      table[4 * k + 3] = r.plainLength;
      seq += r.count;
      at += LENGTH_PREFIX_BYTES + bodyLength;
    });
    this.tx.aead.sealRegions(nonces, buf, table);
    this.sendSeq = seq;
    this.tx.records += records.length;
    return buf;
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

  private end(state: SessionState): void {
    if (this._state === SessionState.Ready) {
      this.tx.destroy();
      this.rx.destroy();
    }
    this._state = state;
    this.queue = [];
    this.queuedBytes = 0;
  }
}
