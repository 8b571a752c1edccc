/**
 * `peer.to(target)`: a handle to one remote that outlives its sessions. It resolves the target
 * (an entity id through the DHT, or "host:port"), connects, and when the session ends connects
 * again with jittered exponential back-off, for as long as the handle is open. Sends and
 * requests made through it go out in call order: while no session is up they wait (at most
 * `maxQueued`), and are issued in order on the next one.
 *
 * At least once for tracked messages: an `ack: true` send or a request whose session ended
 * before its ack or reply (SESSION_CLOSED) is issued again on the next session, with the same
 * 16-byte id (`m.id` / `req.id` on the receiver, to drop a duplicate), before anything sent
 * later, until it is settled, the handle closes (INVALID_STATE with its id), a request's
 * timeout passes (measured from the call), or `resend: false`. A plain send resolves when
 * queued on a session and is not re-sent: it may be lost with the session.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, PeerError } from '../errors.js';
import type { TcpAddress } from '../transport/index.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './delivery.js';
import { newId } from './envelope.js';
import type { Reply } from './message.js';
import type { RequestOptions, SendOptions, Session } from './session.js';

export interface HandleOptions {
  /** First retry delay bound (default 100 ms); each failure doubles it up to `maxDelayMs`. */
  minDelayMs?: number;
  /** Largest retry delay bound (default 30 s). The delay is uniform in [0, bound) ("full jitter"). */
  maxDelayMs?: number;
  /** Sends and requests waiting for a session (default 10,000); beyond, they reject with INVALID_STATE. */
  maxQueued?: number;
  /**
   * Issue `ack: true` sends and requests again on the next session when theirs ended before the
   * ack or reply (default true; false: they reject with SESSION_CLOSED and their id).
   */
  resend?: boolean;
}

export interface HandleEvents {
  /** A session is up (the first one, or after a reconnection). */
  connected: [session: Session];
  /** The session ended (reason undefined: an orderly close); a reconnection follows while the handle is open. */
  disconnected: [reason: PeerError | undefined];
  /** A connection attempt failed; the next one is in `delayMs`. */
  retry: [info: { attempt: number; delayMs: number; error: PeerError }];
}

/** A call waiting for a session: `n` is its call number (re-sent ones go back in this order). */
type Op = { n: number; id: string | undefined; run(session: Session): void; fail(err: PeerError): void };

export class RemoteHandle extends EventEmitter<HandleEvents> {
  private current: Session | null = null;
  private connecting = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private queue: Op[] = [];
  /** Tracked calls whose session ended unsettled: issued again first on the next session. */
  private again: Op[] = [];
  private calls = 0;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly maxQueued: number;
  private readonly resend: boolean;

  constructor(
    private readonly connectTo: (target: string | TcpAddress) => Promise<Session>,
    readonly target: string | TcpAddress,
    opts: HandleOptions = {},
    private readonly onClose: () => void = () => undefined,
  ) {
    super();
    this.minDelay = opts.minDelayMs ?? 100;
    this.maxDelay = opts.maxDelayMs ?? 30_000;
    this.maxQueued = opts.maxQueued ?? 10_000;
    this.resend = opts.resend ?? true;
    this.connect();
  }

  /** The live session, or null while (re)connecting. */
  get session(): Session | null {
    return this.current;
  }

  send(payload: Uint8Array | string, options: SendOptions = {}): Promise<number> {
    if (!options.ack) return this.enqueue((s) => s.send(payload, options));
    const tracked = { ...options, id: options.id ?? newId() };
    return this.enqueue((s) => s.send(payload, tracked), idOf(tracked.id));
  }

  /** A request; its `timeout` (default 30 s) runs from this call, across reconnections. */
  request(payload: Uint8Array | string, options: RequestOptions = {}): Promise<Reply> {
    const deadline = Date.now() + (options.timeout ?? DEFAULT_REQUEST_TIMEOUT_MS);
    const id = options.id ?? newId();
    return this.enqueue((s) => {
      const left = deadline - Date.now();
      if (left <= 0) return Promise.reject(new PeerError(ErrorCode.TIMEOUT, `no reply to request ${idOf(id)} within ${options.timeout ?? DEFAULT_REQUEST_TIMEOUT_MS} ms`, { id: idOf(id) }));
      return s.request(payload, { ...options, id, timeout: left });
    }, idOf(id));
  }

  /** Resolves with a live session (waiting for the next connection if needed). */
  ready(): Promise<Session> {
    return this.enqueue(async (s) => s);
  }

  /** Stops reconnecting, closes the session, and rejects what still waits (with its id when tracked). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    if (this.timer) clearTimeout(this.timer);
    const waiting = [...this.again, ...this.queue];
    this.again = [];
    this.queue = [];
    for (const op of waiting) op.fail(new PeerError(ErrorCode.INVALID_STATE, 'handle closed', op.id === undefined ? {} : { id: op.id }));
    await this.current?.close();
  }

  /** `id`: a tracked call (ack: true, request), issued again if its session ends first. */
  private enqueue<T>(call: (s: Session) => Promise<T>, id?: string): Promise<T> {
    if (this.closed) return Promise.reject(new PeerError(ErrorCode.INVALID_STATE, 'handle closed'));
    // Straight onto the session when nothing waits before us: its own queue keeps call order.
    const direct = this.current !== null && this.queue.length === 0 && this.again.length === 0;
    if (!direct && this.queue.length + this.again.length >= this.maxQueued) {
      return Promise.reject(new PeerError(ErrorCode.INVALID_STATE, `${this.maxQueued} sends already wait for a connection`));
    }
    return new Promise<T>((resolve, reject) => {
      const op: Op = {
        n: this.calls++, id, fail: reject,
        run: (s) => void call(s).then(resolve, (err: unknown) => {
          const ended = err instanceof PeerError && err.code === ErrorCode.SESSION_CLOSED;
          if (id === undefined || !ended || !this.resend || this.closed) return reject(err);
          this.again.push(op);
          if (this.current !== null && this.current !== s) this.flush(this.current); // the next session is already up
        }),
      };
      if (direct) return op.run(this.current!);
      this.queue.push(op);
      this.connect();
    });
  }

  private connect(): void {
    if (this.closed || this.connecting || this.current !== null || this.timer !== null) return;
    this.connecting = true;
    this.connectTo(this.target).then(
      (session) => {
        this.connecting = false;
        if (this.closed) return void session.close();
        this.attempt = 0;
        this.current = session;
        session.once('close', (reason) => {
          this.current = null;
          this.emit('disconnected', reason);
          this.connect();
        });
        this.emit('connected', session);
        this.flush(session);
      },
      (err: unknown) => {
        this.connecting = false;
        if (this.closed) return;
        const error = err instanceof PeerError ? err : new PeerError(ErrorCode.UNREACHABLE, String(err));
        const bound = Math.min(this.maxDelay, this.minDelay * 2 ** Math.min(this.attempt, 30));
        const delayMs = Math.floor(Math.random() * bound);
        this.attempt++;
        this.emit('retry', { attempt: this.attempt, delayMs, error });
        this.timer = setTimeout(() => {
          this.timer = null;
          this.connect();
        }, delayMs);
      },
    );
  }

  /** Runs what waits on `session`: re-sent calls first, all in call order, synchronously. */
  private flush(session: Session): void {
    const waiting = this.again.sort((a, b) => a.n - b.n).concat(this.queue);
    this.again = [];
    this.queue = [];
    for (const op of waiting) op.run(session);
  }
}

function idOf(id: Uint8Array | string): string {
  return typeof id === 'string' ? id.toLowerCase() : Buffer.from(id).toString('hex');
}
