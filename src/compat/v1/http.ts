/**
 * HTTP plumbing for the v1.0 endpoint: bounded body reads against a shared memory budget, and
 * JSON answers in the shape v1.0 peers expect (`{"detail": …}` on errors).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode, PeerError } from '../../errors.js';

/**
 * Bytes of request bodies held at once, across all requests, and per address prefix (a key;
 * null for an exempt address): one address cannot hold more than its share, so stalled
 * uploads from one place cannot fill the budget for everyone. Each body is also bounded by
 * the per-body limit; a body held while being parsed counts.
 */
export class BodyBudget {
  used = 0;
  peak = 0;
  private readonly perKey = new Map<string, number>();

  constructor(readonly limit: number, readonly perKeyLimit = limit) {}

  /** Reserves n bytes for `key`, or returns false if that would exceed the limit or the key's share. */
  take(n: number, key: string | null): boolean {
    const mine = key === null ? 0 : this.perKey.get(key) ?? 0;
    if (this.used + n > this.limit || (key !== null && mine + n > this.perKeyLimit)) return false;
    this.used += n;
    if (key !== null) this.perKey.set(key, mine + n);
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  release(n: number, key: string | null): void {
    this.used -= n;
    if (key === null || n === 0) return;
    const left = this.perKey.get(key)! - n;
    if (left <= 0) this.perKey.delete(key);
    else this.perKey.set(key, left);
  }
}

/** A body and the bytes it holds in the budget (release them when done). */
export interface Body {
  bytes: Buffer;
  reserved: number;
}

/** How a body must arrive: its size limit, the shared budget and whose share it counts in, and a minimum rate. */
export interface BodyRules {
  maxBytes: number;
  budget: BodyBudget;
  key: string | null;
  /** After `graceMs`, at least this many bytes a second on average, or the upload is dropped (0: no minimum). */
  minBytesPerSecond: number;
  graceMs: number;
}

/** How often a body's progress is checked against the minimum rate. */
const RATE_CHECK_MS = 500;

/**
 * Reads a request body: FRAME_TOO_LARGE as soon as the declared or received length exceeds
 * the limit, RATE_LIMITED with details.busy when the budget or the address's share is
 * exhausted, SESSION_EXPIRED with details.timeout when it arrives slower than the minimum rate
 * (a stalled upload holds its share until dropped). Stops reading at the first error (the
 * caller answers and closes the connection). Rejects with MALFORMED_FRAME if the client goes
 * away mid-body.
 */
export function readBody(req: IncomingMessage, rules: BodyRules): Promise<Body> {
  const { maxBytes, budget, key } = rules;
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && !(Number(declared) <= maxBytes)) {
      reject(new PeerError(ErrorCode.FRAME_TOO_LARGE, `body of ${declared} bytes exceeds ${maxBytes}`, { limit: maxBytes }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const started = Date.now();
    const slow = rules.minBytesPerSecond > 0 ? setInterval(() => {
      const due = (Date.now() - started - rules.graceMs) * rules.minBytesPerSecond / 1000;
      if (size < due) fail(new PeerError(ErrorCode.SESSION_EXPIRED, `upload slower than ${rules.minBytesPerSecond} bytes/s`, { timeout: true }));
    }, RATE_CHECK_MS) : undefined;
    slow?.unref();
    const fail = (err: PeerError): void => {
      if (done) return;
      done = true;
      clearInterval(slow);
      req.off('data', onData);
      req.off('end', onEnd);
      req.pause();
      budget.release(size, key);
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > maxBytes) {
        fail(new PeerError(ErrorCode.FRAME_TOO_LARGE, `body exceeds ${maxBytes} bytes`, { limit: maxBytes }));
        return;
      }
      if (!budget.take(chunk.length, key)) {
        fail(new PeerError(ErrorCode.RATE_LIMITED, 'too many bodies in flight', { retryAfter: 1000, busy: true }));
        return;
      }
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done = true;
      clearInterval(slow);
      req.off('close', onClose);
      resolve({ bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), reserved: size });
    };
    const onClose = (): void => {
      if (!req.complete) fail(new PeerError(ErrorCode.MALFORMED_FRAME, 'client went away mid-body'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
}

/**
 * After answering a request whose body we stopped reading, the connection is closed, but not
 * at once: closing a socket with unread input sends a reset, which can destroy our answer
 * before the client reads it. So the rest of the input is read and dropped for a short while
 * (bounded in time and bytes), then the socket is destroyed.
 */
const LINGER_MS = 1_000;
const LINGER_BYTES = 1 << 20;

function lingerAndClose(res: ServerResponse): void {
  const req = res.req;
  const socket = req.socket;
  let dropped = 0;
  const stop = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(stop, LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) stop();
  });
  req.once('end', stop);
  req.resume();
}

/** Writes a JSON answer; `close` ends the connection after it (used when a body was not read). */
export function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(text));
  if (close) {
    res.setHeader('connection', 'close');
    res.once('finish', () => lingerAndClose(res));
  }
  res.end(text);
}

/** The 400 body v1.0 peers expect: `detail` is the code in lower case (as their "rate_limited"). */
export function errorBody(code: ErrorCode): { detail: string; error_code: ErrorCode } {
  return { detail: code.toLowerCase(), error_code: code };
}

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** A whole HTTP/1.1 answer with a JSON body, written straight to a socket (no response object). */
function rawAnswer(status: number, body: unknown): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

/** Answers a request the HTTP parser refused (malformed, too slow, headers too large) and closes. */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  socket.end(rawAnswer(status, { detail: status === 408 ? 'request_timeout' : 'bad_request' }), () => socket.destroy());
}

/**
 * Refuses a connection as soon as it is accepted: the 400 v1.0 peers read as "rate_limited",
 * then closed once the client closes its side or after LINGER_MS (not at once: a reset could
 * destroy the answer before the client reads it).
 */
export function refuseConnection(socket: Socket, code: ErrorCode): void {
  socket.end(rawAnswer(400, errorBody(code)));
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
}
