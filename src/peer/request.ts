/**
 * A request received: what `peer.on('request')` and `session.on('request')` hand out. Answer it
 * once, with `reply()` or `fail()`; the reply travels on the same session, in order with every
 * other message, and carries the request's id (PROTOCOL.md §6).
 */
import { ErrorCode, PeerError } from '../errors.js';
import type { MessageType } from '../wire/index.js';
import { isValidCode } from './envelope.js';
import { typeId, type MessageV11 } from './message.js';
import type { Session } from './session.js';

export class Request {
  readonly from: string;
  readonly type: MessageType | number;
  readonly payload: Uint8Array;
  /** The request's 16-byte id, hex: the correlation id the reply carries. */
  readonly id: string;
  /** Its message number on the session. */
  readonly seq: number;
  readonly session: Session;
  private done = false;

  constructor(
    m: Omit<MessageV11, 'id'> & { id: string },
    private readonly sendOk: (payload: Uint8Array, type: number) => Promise<number>,
    private readonly sendError: (code: string, reason: string) => Promise<number>,
    private readonly typeNumber: number,
  ) {
    this.from = m.from;
    this.type = m.type;
    this.payload = m.payload;
    this.id = m.id;
    this.seq = m.seq;
    this.session = m.session;
  }

  /** True once reply() or fail() was called. */
  get answered(): boolean {
    return this.done;
  }

  /** Answers with `payload` (default type: the request's). Resolves when queued, with the reply's number. */
  reply(payload: Uint8Array | string, options: { type?: MessageType | number } = {}): Promise<number> {
    try {
      this.answer();
      const type = options.type === undefined ? this.typeNumber : typeId(options.type);
      return this.sendOk(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload, type);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Fails the request: the requester's promise rejects with REQUEST_FAILED, `details.remoteCode`
   * = `code` (1–64 of A–Z, 0–9, _) and the reason (at most 1 KiB travels).
   */
  fail(code: string, reason = ''): Promise<number> {
    try {
      if (!isValidCode(code)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'an error code is 1-64 characters of A-Z, 0-9 and _');
      this.answer();
      return this.sendError(code, reason);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private answer(): void {
    if (this.done) throw new PeerError(ErrorCode.INVALID_STATE, `request ${this.id} was already answered`);
    this.done = true;
  }
}
