/**
 * A session renewed by fresh handshakes on the same connection, seen as one ordered stream.
 * Receiving moves to the newest SecureSession as soon as its handshake completes (the peer may
 * seal under it from then on); the one before it keeps receiving until the peer's first record
 * under the new session arrives (a stream transport delivers in order, so nothing of the old
 * one can follow). Sending moves at once too, unless an outgoing stream is in progress: its
 * remaining chunks are numbered and keyed on the old session, so sending waits for its end.
 * Message numbers continue across renewals: each SecureSession counts from 0 and the chain adds
 * the messages of the sessions before it.
 */
import { PeerError, type ErrorCode as Code } from '../errors.js';
import { SessionState } from '../handshake/index.js';
import { SESSION_ID_BYTES } from '../wire/index.js';
import type { ReceiveResult, SecureSession } from './session.js';

/** Offset of the session id in a record header. */
const SESSION_ID_AT = 4;

function sessionIdOf(body: Uint8Array): Uint8Array {
  return body.subarray(SESSION_ID_AT, SESSION_ID_AT + SESSION_ID_BYTES);
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export class SessionChain {
  /** The newest session: it receives, and sends unless `sending` still finishes a stream. */
  private current: SecureSession;
  /** The session this side seals with: `current`, or an older one until its outgoing stream ends. */
  private sending: SecureSession;
  /** The session before `current`, receiving until the peer's first record under `current`. */
  private previous: SecureSession | null = null;
  private sendBase = 0;
  /** Message numbers received on the sessions before `current` (settled when the previous retires). */
  private receiveBase = 0;
  private previousBase = 0;
  private renewals = 0;
  /** What the old session still had queued when sending moved after a stream. */
  private tail: Buffer | null = null;

  constructor(first: SecureSession) {
    this.current = first;
    this.sending = first;
  }

  /** The newest session (its id, remote, TTL). */
  get session(): SecureSession {
    return this.current;
  }

  get state(): SessionState {
    return this.current.state;
  }

  get renewed(): number {
    return this.renewals;
  }

  get pendingBytes(): number {
    return this.sending.pendingBytes;
  }

  send(type: number, payload: Uint8Array, now: number): number {
    return this.sendBase + this.sending.send(type, payload, now);
  }

  flush(now: number, maxBytes?: number): Buffer | null {
    return this.sending.flush(now, maxBytes);
  }

  get streaming(): boolean {
    return this.sending.streaming;
  }

  beginStream(type: number, total: number, now: number): { seq: number; messageId: number } {
    const s = this.sending.beginStream(type, total, now);
    return { seq: this.sendBase + s.seq, messageId: s.messageId };
  }

  streamWrite(bytes: Uint8Array, now: number): void {
    this.sending.streamWrite(bytes, now);
  }

  /** Ends the outgoing stream; returns frames to write first if sending now moves to a renewed session. */
  streamEnd(now: number): Buffer | null {
    try {
      this.sending.streamEnd();
    } finally {
      this.catchUp(now);
    }
    return this.takeTail();
  }

  abortMessage(messageId: number, reason: string, now: number): Buffer | null {
    const out = this.sending.abortMessage(messageId, reason);
    this.catchUp(now);
    const tail = this.takeTail();
    return out && tail ? Buffer.concat([out, tail]) : (out ?? tail);
  }

  notify(payload: Parameters<SecureSession['notify']>[0]): Buffer | null {
    return this.sending.notify(payload);
  }

  /** Reassembly deadlines of the sessions still receiving. */
  get deadline(): number | null {
    const a = this.current.deadline;
    const b = this.previous?.deadline ?? null;
    return a === null ? b : b === null ? a : Math.min(a, b);
  }

  poll(now: number): ReceiveResult {
    const r = this.current.poll(now);
    if (this.previous) {
      const p = this.previous.poll(now);
      r.events.push(...p.events);
      r.replies.push(...p.replies);
    }
    return r;
  }

  close(now: number): Buffer {
    const out = this.sending.close(now);
    this.destroy();
    return out;
  }

  error(code: Code, reason: string): Buffer {
    const out = this.sending.error(code, reason);
    this.destroy();
    return out;
  }

  /**
   * Installs `next`, a session from a fresh handshake with the same peer: it receives at once,
   * and sends at once unless a stream is in progress. Returns what the old session still had
   * queued, sealed: write it before anything sealed by `next`.
   */
  install(next: SecureSession, now: number): Buffer | null {
    if (this.previous !== null) this.retirePrevious();
    this.previous = this.current;
    this.previousBase = this.receiveBase;
    this.current = next;
    this.renewals++;
    if (this.sending.streaming) return null;
    return this.moveSending(now);
  }

  /** After a stream ends: sending moves to the newest session if it was waiting. */
  private catchUp(now: number): void {
    if (this.sending !== this.current && !this.sending.streaming) this.tail = this.moveSending(now);
  }

  private takeTail(): Buffer | null {
    const t = this.tail;
    this.tail = null;
    return t;
  }

  private moveSending(now: number): Buffer | null {
    const old = this.sending;
    const tail = old.state === SessionState.Ready ? old.flush(now) : null;
    this.sendBase += old.nextSendSeq;
    this.sending = this.current;
    if (old !== this.previous) old.destroy(); // it no longer receives either
    return tail;
  }

  /** Opens the records of one read, routing each by its session id. */
  receiveMany(bodies: readonly Uint8Array[], now: number): ReceiveResult {
    const out: ReceiveResult = { events: [], dropped: 0, replies: [], error: null };
    let i = 0;
    while (i < bodies.length && out.error === null) {
      const old = this.previous !== null && bodies[i]!.length >= SESSION_ID_AT + SESSION_ID_BYTES && sameId(sessionIdOf(bodies[i]!), this.previous.id);
      let j = i + 1;
      while (j < bodies.length && old === (this.previous !== null && sameId(sessionIdOf(bodies[j]!), this.previous.id))) j++;
      if (!old && this.previous !== null) this.retirePrevious();
      const target = old ? this.previous! : this.current;
      const base = old ? this.previousBase : this.receiveBase;
      const r = target.receiveMany(bodies.slice(i, j), now);
      for (const e of r.events) out.events.push(e.kind === 'message' || e.kind === 'run' || e.kind === 'stream-start' ? { ...e, seq: base + e.seq } : e);
      out.dropped += r.dropped;
      out.replies.push(...r.replies);
      if (r.error) out.error = old ? new PeerError(r.error.code, `previous session: ${r.error.message}`) : r.error;
      i = j;
    }
    return out;
  }

  destroy(): void {
    this.previous?.destroy();
    this.sending.destroy();
    this.current.destroy();
  }

  /** The peer has moved to the current session: the previous one receives nothing more. */
  private retirePrevious(): void {
    const prev = this.previous!;
    this.receiveBase = this.previousBase + prev.receivedMessages;
    if (prev !== this.sending) prev.destroy(); // else it still finishes our stream
    this.previous = null;
  }
}
