/**
 * HTTP plumbing for the v1.0 endpoint: bounded body reads against a shared memory budget, and
 * JSON answers in the shape v1.0 peers expect (`{"detail": …}` on errors).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode, PeerError } from '../../errors.js';

/**
 * Bytes of request bodies held at once, across all requests. Each body is also bounded by
 * the per-body limit; the budget bounds the sum (a body held while being parsed counts).
 */
export class BodyBudget {
  used = 0;
  peak = 0;

  constructor(readonly limit: number) {}

  /** Reserves n bytes, or returns false if that would exceed the limit. */
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  release(n: number): void {
    this.used -= n;
  }
}

/** A body and the bytes it holds in the budget (release them when done). */
export interface Body {
  bytes: Buffer;
  reserved: number;
}

/**
 * Reads a request body of at most `maxBytes`: FRAME_TOO_LARGE as soon as the declared or
 * received length exceeds it, RATE_LIMITED with details.busy when the shared budget is exhausted. Stops reading
 * at the first error (the caller answers and closes the connection). Rejects with
 * MALFORMED_FRAME if the client goes away mid-body.
 */
export function readBody(req: IncomingMessage, maxBytes: number, budget: BodyBudget): Promise<Body> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && !(Number(declared) <= maxBytes)) {
      reject(new PeerError(ErrorCode.FRAME_TOO_LARGE, `body of ${declared} bytes exceeds ${maxBytes}`, { limit: maxBytes }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: PeerError): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.pause();
      budget.release(size);
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > maxBytes) {
        fail(new PeerError(ErrorCode.FRAME_TOO_LARGE, `body exceeds ${maxBytes} bytes`, { limit: maxBytes }));
        return;
      }
      if (!budget.take(chunk.length)) {
        fail(new PeerError(ErrorCode.RATE_LIMITED, 'too many bodies in flight', { retryAfter: 1000, busy: true }));
        return;
      }
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done = true;
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

/** Answers a request the HTTP parser refused (malformed, too slow, headers too large) and closes. */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const text = JSON.stringify({ detail: status === 408 ? 'request_timeout' : 'bad_request' });
  socket.end(`HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`, () => socket.destroy());
}
