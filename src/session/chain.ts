/**
 * A session renewed by fresh handshakes on the same connection, seen as one ordered stream.
 * The newest SecureSession sends; the one before it keeps receiving until the peer's first
 * record under the new session arrives (a stream transport delivers in order, so nothing of
 * the old one can follow). Message numbers continue across renewals: each SecureSession counts
 * from 0 and the chain adds the messages of the sessions before it.
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
  private sendBase = 0;
  /** Message numbers received on the sessions before `current` (settled when the previous retires). */
  private receiveBase = 0;
  private previous: SecureSession | null = null;
  private previousBase = 0;
  private renewals = 0;

  constructor(private current: SecureSession) {}

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
    return this.current.pendingBytes;
  }

  send(type: number, payload: Uint8Array, now: number): number {
    return this.sendBase + this.current.send(type, payload, now);
  }

  flush(now: number): Buffer | null {
    return this.current.flush(now);
  }

  close(now: number): Buffer {
    this.previous?.destroy();
    return this.current.close(now);
  }

  error(code: Code, reason: string): Buffer {
    this.previous?.destroy();
    return this.current.error(code, reason);
  }

  /**
   * Switches sending to `next`, a session from a fresh handshake with the same peer. Returns
   * what the old session still had queued, sealed: write it before anything sealed by `next`.
   */
  install(next: SecureSession, now: number): Buffer | null {
    const old = this.current;
    const tail = old.state === SessionState.Ready ? old.flush(now) : null;
    if (this.previous !== null) this.retirePrevious();
    this.previous = old;
    this.previousBase = this.receiveBase;
    this.sendBase += old.nextSendSeq;
    this.current = next;
    this.renewals++;
    return tail;
  }

  /** Opens the records of one read, routing each by its session id. */
  receiveMany(bodies: readonly Uint8Array[], now: number): ReceiveResult {
    const out: ReceiveResult = { events: [], dropped: 0, error: null };
    let i = 0;
    while (i < bodies.length && out.error === null) {
      const old = this.previous !== null && bodies[i]!.length >= SESSION_ID_AT + SESSION_ID_BYTES && sameId(sessionIdOf(bodies[i]!), this.previous.id);
      let j = i + 1;
      while (j < bodies.length && old === (this.previous !== null && sameId(sessionIdOf(bodies[j]!), this.previous.id))) j++;
      if (!old && this.previous !== null) this.retirePrevious();
      const target = old ? this.previous! : this.current;
      const base = old ? this.previousBase : this.receiveBase;
      const r = target.receiveMany(bodies.slice(i, j), now);
      for (const e of r.events) out.events.push(e.kind === 'message' ? { ...e, seq: base + e.seq } : e);
      out.dropped += r.dropped;
      if (r.error) out.error = old ? new PeerError(r.error.code, `previous session: ${r.error.message}`) : r.error;
      i = j;
    }
    return out;
  }

  destroy(): void {
    this.previous?.destroy();
    this.current.destroy();
  }

  /** The peer has moved to the current session: the previous one can receive nothing more. */
  private retirePrevious(): void {
    const prev = this.previous!;
    this.receiveBase = this.previousBase + prev.receivedMessages;
    prev.destroy();
    this.previous = null;
  }
}
