/**
 * Sends v1.0 envelopes to a v1.0 peer's `POST /message` with the rules of their own client
 * (V1_COMPAT.md "Transport"): a 10 s total timeout per attempt (connect to the end of the
 * response), 3 attempts with 1 s then 2 s between them, no retry on 400/401/403/404 (the peer
 * has decided); any other failure (network error, timeout, 5xx, other statuses) is retried.
 * Failures are PeerErrors: the peer's `detail` mapped to a code when it names one, otherwise by
 * status; a peer that cannot be reached is SESSION_NOT_FOUND (as for TCP connects).
 */
import http from 'node:http';
import https from 'node:https';
import { ErrorCode, PeerError } from '../../errors.js';
import { publicKeyFrom } from './envelope.js';

/** Their client: 10 s total timeout per request. */
export const CLIENT_TIMEOUT_MS = 10_000;
/** Their client: 3 tries. */
export const CLIENT_ATTEMPTS = 3;
/** Their client: 1 s, then 2 s, before the 2nd and 3rd tries. */
export const CLIENT_BACKOFF_MS: readonly number[] = [1_000, 2_000];
/** Statuses after which they do not retry. */
export const NO_RETRY_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404]);
/** Responses are small JSON objects; more is refused rather than buffered. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

export interface V1ClientOptions {
  timeoutMs?: number;
  attempts?: number;
  /** Delay before attempt n+2 (the last entry repeats). */
  backoffMs?: readonly number[];
  /** How to wait between attempts (tests inject a fast one). */
  sleep?: (ms: number) => Promise<void>;
  maxResponseBytes?: number;
}

export interface V1Response {
  status: number;
  /** The response parsed as JSON, or its text when it is not JSON. */
  body: unknown;
  attempts: number;
}

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `http://host:port` (any path) → its `/message` URL; a URL already ending in /message is kept. */
export function messageUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `not a URL: ${base}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PeerError(ErrorCode.INVALID_ARGUMENT, `v1.0 peers speak http or https, not ${url.protocol}`);
  if (!url.pathname.endsWith('/message')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/message`;
  return url;
}

const CODES = new Set<string>(Object.values(ErrorCode));

/** The PeerError for a final non-2xx response. */
export function errorFromResponse(status: number, body: unknown, attempts: number): PeerError {
  const obj = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const detail = typeof obj.detail === 'string' ? obj.detail : typeof body === 'string' ? body.slice(0, 200) : '';
  const named = typeof obj.error_code === 'string' ? obj.error_code : detail.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  let code: ErrorCode;
  if (CODES.has(named)) code = named as ErrorCode;
  else if (/signature/i.test(detail)) code = ErrorCode.INVALID_SIGNATURE;
  else if (/replay|nonce|timestamp/i.test(detail)) code = ErrorCode.REPLAY_DETECTED;
  else if (/version/i.test(detail)) code = ErrorCode.INVALID_VERSION;
  else if (/rate/i.test(detail) || status === 429) code = ErrorCode.RATE_LIMITED;
  else if (/unknown|sender|trust/i.test(detail) || status === 401 || status === 403) code = ErrorCode.UNKNOWN_SENDER;
  else if (/expired/i.test(detail)) code = ErrorCode.SESSION_EXPIRED;
  else if (status === 413) code = ErrorCode.FRAME_TOO_LARGE;
  else if (status >= 400 && status < 500 && status !== 404 && status !== 408) code = ErrorCode.MALFORMED_FRAME;
  else code = ErrorCode.SESSION_NOT_FOUND; // 404 (no such endpoint), 408, 5xx: the peer did not take it
  return new PeerError(code, `v1.0 peer answered ${status}${detail ? `: ${detail}` : ''}`, { status, detail, attempts });
}

export class V1Client {
  readonly timeoutMs: number;
  readonly attempts: number;
  private readonly backoffMs: readonly number[];
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxResponseBytes: number;

  constructor(options: V1ClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? CLIENT_TIMEOUT_MS;
    this.attempts = options.attempts ?? CLIENT_ATTEMPTS;
    this.backoffMs = options.backoffMs ?? CLIENT_BACKOFF_MS;
    this.sleep = options.sleep ?? sleepReal;
    this.maxResponseBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    if (!(this.attempts >= 1) || this.backoffMs.length === 0) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'attempts must be ≥ 1 and backoffMs non-empty');
  }

  /** POSTs a body (a signed envelope) to `url`'s /message; resolves on 2xx. */
  post(url: string, body: string): Promise<V1Response> {
    return this.withRetries('POST', messageUrl(url), Buffer.from(body, 'utf8'));
  }

  /** GET `path` of a v1.0 peer (e.g. /health), with the same rules. */
  get(base: string, path: string): Promise<V1Response> {
    const url = messageUrl(base);
    url.pathname = url.pathname.replace(/\/message$/, path);
    return this.withRetries('GET', url, undefined);
  }

  /** The peer's `GET /public-key`: its entity id and Ed25519 key. */
  async publicKey(base: string): Promise<{ entityId: string; publicKey: Buffer }> {
    const { body } = await this.get(base, '/public-key');
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b.entity_id !== 'string' || typeof b.public_key !== 'string') {
      throw new PeerError(ErrorCode.MALFORMED_FRAME, 'v1.0 /public-key answer lacks entity_id or public_key');
    }
    return { entityId: b.entity_id, publicKey: publicKeyFrom(b.public_key) };
  }

  private async withRetries(method: string, url: URL, body: Buffer | undefined): Promise<V1Response> {
    let last: PeerError | undefined;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await this.sleep(this.backoffMs[Math.min(attempt - 2, this.backoffMs.length - 1)]!);
      try {
        const res = await this.once(method, url, body);
        if (res.status >= 200 && res.status < 300) return { ...res, attempts: attempt };
        last = errorFromResponse(res.status, res.body, attempt);
        if (NO_RETRY_STATUSES.has(res.status)) throw last;
      } catch (err) {
        if (err === last) throw err;
        last = err instanceof PeerError ? err : new PeerError(ErrorCode.SESSION_NOT_FOUND, `cannot reach v1.0 peer ${url.origin}: ${(err as Error).message}`, { attempts: attempt });
      }
    }
    throw last!;
  }

  /** One request, bounded in time and response size. */
  private once(method: string, url: URL, body: Buffer | undefined): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': body.length });
      const req = lib.request(url, { method, headers, agent: false });
      const timer = setTimeout(() => req.destroy(new PeerError(ErrorCode.SESSION_NOT_FOUND, `v1.0 peer ${url.origin} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) req.destroy(new PeerError(ErrorCode.FRAME_TOO_LARGE, `v1.0 response over ${this.maxResponseBytes} bytes`));
          else chunks.push(chunk);
        });
        res.once('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text for the error message
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      req.end(body);
    });
  }
}
