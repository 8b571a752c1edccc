/**
 * A READY session as a sans-I/O object: messages in, sealed frames out; frame bodies in,
 * ordered messages out. Keys per direction come from the handshake; nothing here reads a clock,
 * opens a socket or starts a timer (`now` is passed in).
 *
 * Sending: send() assigns each message the next sequence number and queues it; flush() packs
 * the queue into as few data records as fit the record payload limit (coalescing, as TLS and
 * QUIC do) and seals each in place in the frame buffer it will be written from.
 * Receiving: each record is checked against the replay window and the expected sequence
 * before its tag, opened in place, and only then recorded in the window.
 * Rekey: after `recordsPerKey` records (2^24 by default, the AES-GCM limit in DESIGN.md) the
 * sender emits a key_update record and both sides derive the next key from the current one.
 */
import { AEAD_TAG_BYTES, createAead, hkdfExpand, wipe, type Aead, type AeadSuite } from '../crypto/index.js';
import { ErrorCode, PeerError, type ErrorCode as Code } from '../errors.js';
import type { HandshakeResult, RemoteIdentity } from '../handshake/index.js';
import { SessionState } from '../handshake/index.js';
import {
  FrameType, LENGTH_PREFIX_BYTES, decodeRecordHeader, encodeRecordHeader, recordHeaderLength, type RecordType,
} from '../wire/index.js';
import { ReplayWindow } from './replay-window.js';
import { decodeErrorPayload, encodeErrorPayload, MESSAGE_HEADER_BYTES, readRun, runLength, writeRun, type RunMessage } from './run.js';

export const DEFAULT_SESSION_TTL_MS = 3_600_000;
/** Largest plaintext of one record (the spec's frame payload limit). */
export const DEFAULT_MAX_RECORD_PAYLOAD = 64 * 1024;
/** AES-256-GCM: at most 2^24 records under one key (DESIGN.md §3). */
export const DEFAULT_RECORDS_PER_KEY = 2 ** 24;
const KEY_UPDATE_KEY = Buffer.from('peer-v1.1 key update key');
const KEY_UPDATE_IV = Buffer.from('peer-v1.1 key update iv');

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

/** One direction's key, IV, AEAD context and sequence counter. */
class Direction {
  aead: Aead;
  readonly nonce = Buffer.alloc(12);
  records = 0;

  constructor(private key: Buffer, private iv: Buffer, private readonly suite: AeadSuite) {
    this.aead = createAead(key, suite);
  }

  /** nonce = IV XOR seq (u64 big-endian in the last 8 bytes), TLS 1.3 style. */
  nonceFor(seq: number): Buffer {
    const n = this.nonce;
    const iv = this.iv;
    for (let i = 0; i < 4; i++) n[i] = iv[i]!;
    const hi = Math.floor(seq / 2 ** 32);
    const lo = seq >>> 0;
    n[4] = iv[4]! ^ (hi >>> 24);
    n[5] = iv[5]! ^ ((hi >>> 16) & 0xff);
    n[6] = iv[6]! ^ ((hi >>> 8) & 0xff);
    n[7] = iv[7]! ^ (hi & 0xff);
    n[8] = iv[8]! ^ (lo >>> 24);
    n[9] = iv[9]! ^ ((lo >>> 16) & 0xff);
    n[10] = iv[10]! ^ ((lo >>> 8) & 0xff);
    n[11] = iv[11]! ^ (lo & 0xff);
    return n;
  }

  /** Replaces key and IV with ones expanded from the current key, wiping the old ones. */
  update(): void {
    const key = hkdfExpand(this.key, KEY_UPDATE_KEY, 32);
    const iv = hkdfExpand(this.key, KEY_UPDATE_IV, 12);
    this.destroy();
    this.key = key;
    this.iv = iv;
    this.aead = createAead(key, this.suite);
    this.records = 0;
  }

  destroy(): void {
    this.aead.destroy();
    wipe(this.key, this.iv);
  }
}

export class SecureSession {
  readonly id: Buffer;
  readonly remote: RemoteIdentity;
  readonly suite: AeadSuite;
  readonly expiresAt: number;
  private _state: SessionState = SessionState.Ready;
  private readonly tx: Direction;
  private readonly rx: Direction;
  private readonly window: ReplayWindow;
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
    const runs: RunMessage[][] = [];
    let current: RunMessage[] = [];
    let size = 0;
    for (const m of this.queue) {
      const n = m.payload.length + MESSAGE_HEADER_BYTES;
      if (size + n > this.maxRecordPayload && current.length > 0) {
        runs.push(current);
        current = [];
        size = 0;
      }
      current.push(m);
      size += n;
    }
    runs.push(current);
    this.queue = [];
    this.queuedBytes = 0;
    const frames: Buffer[] = [];
    for (const run of runs) {
      this.sealRecord(FrameType.Data, run.length, runLength(run), frames, (out, at) => writeRun(run, out, at));
    }
    return frames.length === 1 ? frames[0]! : Buffer.concat(frames);
  }

  /** Seals an error record for the peer and ends the session (state ERROR). */
  error(code: Code, reason: string): Buffer {
    const frames: Buffer[] = [];
    if (this._state === SessionState.Ready) {
      const payload = encodeErrorPayload(code, reason);
      this.sealRecord(FrameType.Error, 1, payload.length, frames, (out, at) => out.set(payload, at));
    }
    this.end(SessionState.Error);
    return Buffer.concat(frames);
  }

  /** Flushes the queue and appends a close record; the session is CLOSED afterwards. */
  close(now: number): Buffer {
    const frames: Buffer[] = [];
    if (this._state === SessionState.Ready && now < this.expiresAt) {
      const pending = this.flush(now);
      if (pending) frames.push(pending);
      this.sealRecord(FrameType.Close, 1, 0, frames);
    }
    this.end(SessionState.Closed);
    return Buffer.concat(frames);
  }

  /**
   * Opens one frame body. Returns the events it carries, in order. Throws PeerError; every code
   * but REPLAY_DETECTED (a replayed record is dropped before decryption) ends the session.
   */
  receive(body: Uint8Array, now: number): SessionEvent[] {
    if (this._state !== SessionState.Ready) {
      throw new PeerError(this._state === SessionState.Expired ? ErrorCode.SESSION_EXPIRED : ErrorCode.INVALID_STATE, `session is ${this._state}`);
    }
    try {
      return this.open(body, now);
    } catch (err) {
      const code = err instanceof PeerError ? err.code : undefined;
      if (code !== ErrorCode.REPLAY_DETECTED) this.end(code === ErrorCode.SESSION_EXPIRED ? SessionState.Expired : SessionState.Error);
      throw err;
    }
  }

  /** Wipes keys; the session can do nothing more. */
  destroy(): void {
    this.end(this._state === SessionState.Ready ? SessionState.Closed : this._state);
  }

  private open(body: Uint8Array, now: number): SessionEvent[] {
    const { header, length } = decodeRecordHeader(body);
    if (!header.sessionId.every((b, i) => b === this.id[i])) {
      throw new PeerError(ErrorCode.SESSION_NOT_FOUND, 'record for another session');
    }
    if (now >= this.expiresAt) throw new PeerError(ErrorCode.SESSION_EXPIRED, 'session TTL exceeded');
    const { firstSeq, count } = header;
    const verdict = this.window.checkRun(firstSeq, count);
    if (verdict !== 'ok') throw new PeerError(ErrorCode.REPLAY_DETECTED, `record ${firstSeq} is a replay (${verdict})`);
    if (firstSeq !== this.recvSeq) {
      throw new PeerError(ErrorCode.SEQUENCE_ERROR, `expected sequence ${this.recvSeq}, got ${firstSeq}`);
    }
    if (header.type === FrameType.Chunk) throw new PeerError(ErrorCode.CHUNK_ERROR, 'chunked transfer is not supported by this peer yet');
    if (body.length - length < AEAD_TAG_BYTES) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'record shorter than its tag');
    const sealed = body.subarray(length);
    const plainLength = this.rx.aead.openInto(this.rx.nonceFor(firstSeq), body.subarray(0, length), sealed, sealed, 0);
    const plain = sealed.subarray(0, plainLength);
    this.window.commitRun(firstSeq, count);
    this.recvSeq = firstSeq + count;
    switch (header.type) {
      case FrameType.Data: {
        const first = firstSeq - this.receivedKeyUpdates;
        return readRun(plain, count).map((m, i) => ({ kind: 'message' as const, seq: first + i, type: m.type, payload: m.payload }));
      }
      case FrameType.KeyUpdate:
        this.rx.update();
        this.receivedKeyUpdates++;
        return [];
      case FrameType.Close:
        this.end(SessionState.Closed);
        return [{ kind: 'close' }];
      default: {
        const { code, reason } = decodeErrorPayload(plain);
        this.end(SessionState.Error);
        return [{ kind: 'error', code, reason }];
      }
    }
  }

  /**
   * Builds one frame: length ‖ header ‖ plaintext written by `write` ‖ tag, sealed in place.
   * When one more record would exceed `recordsPerKey` under this key, appends the key_update
   * record (the key's last) and rotates.
   */
  private sealRecord(type: RecordType, count: number, plainLength: number, out: Buffer[], write?: (frame: Buffer, at: number) => void): void {
    const headerLength = recordHeaderLength(type);
    const bodyLength = headerLength + plainLength + AEAD_TAG_BYTES;
    const frame = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + bodyLength);
    frame.writeUInt32BE(bodyLength, 0);
    encodeRecordHeader({ type, sessionId: this.id, firstSeq: this.sendSeq, count }, frame, LENGTH_PREFIX_BYTES);
    const plainAt = LENGTH_PREFIX_BYTES + headerLength;
    write?.(frame, plainAt);
    const plain = frame.subarray(plainAt, plainAt + plainLength);
    this.tx.aead.sealInto(this.tx.nonceFor(this.sendSeq), frame.subarray(LENGTH_PREFIX_BYTES, plainAt), plain, frame, plainAt);
    this.sendSeq += count;
    out.push(frame);
    if (++this.tx.records >= this.recordsPerKey - 1 && type === FrameType.Data) {
      this.sealRecord(FrameType.KeyUpdate, 1, 0, out);
      this.tx.update();
      this.sentKeyUpdates++;
    }
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
