/**
 * `peer.to(target)`: a handle to one remote that outlives its sessions. It resolves the target
 * (an entity id through the DHT, or "host:port"), connects, and when the session ends connects
 * again with jittered exponential back-off, for as long as the handle is open. Sends and
 * requests made through it go out in call order: while no session is up they wait (at most
 * `maxQueued`), and are issued in order on the next one. A message already handed to a
 * session that then dies rejects (SESSION_CLOSED for ack: true / requests, with its id); the
 * handle does not re-send it — an application that needs that re-sends by id (the offline
 * queue does).
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, PeerError } from '../errors.js';
import type { TcpAddress } from '../transport/index.js';
import type { Reply } from './message.js';
import type { RequestOptions, SendOptions, Session } from './session.js';

export interface HandleOptions {
  /** First retry delay bound (default 100 ms); each failure doubles it up to `maxDelayMs`. */
  minDelayMs?: number;
  /** Largest retry delay bound (default 30 s). The delay is uniform in [0, bound) ("full jitter"). */
  maxDelayMs?: number;
  /** Sends and requests waiting for a session (default 10,000); beyond, they reject with INVALID_STATE. */
  maxQueued?: number;
}

export interface HandleEvents {
  /** A session is up (the first one, or after a reconnection). */
  connected: [session: Session];
  /** The session ended (reason undefined: an orderly close); a reconnection follows while the handle is open. */
  disconnected: [reason: PeerError | undefined];
  /** A connection attempt failed; the next one is in `delayMs`. */
  retry: [info: { attempt: number; delayMs: number; error: PeerError }];
}

type Op = { run(session: Session): void; fail(err: PeerError): void };

export class RemoteHandle extends EventEmitter<HandleEvents> {
  private current: Session | null = null;
  private connecting = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private queue: Op[] = [];
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly maxQueued: number;

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
    this.connect();
  }

  /** The live session, or null while (re)connecting. */
  get session(): Session | null {
    return this.current;
  }

  send(payload: Uint8Array | string, options: SendOptions = {}): Promise<number> {
    return this.enqueue((s) => s.send(payload, options));
  }

  request(payload: Uint8Array | string, options: RequestOptions = {}): Promise<Reply> {
    return this.enqueue((s) => s.request(payload, options));
  }

  /** Resolves with a live session (waiting for the next connection if needed). */
  ready(): Promise<Session> {
    return this.enqueue(async (s) => s);
  }

  /** Stops reconnecting, closes the session, and rejects what still waits. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    if (this.timer) clearTimeout(this.timer);
    this.failQueued(new PeerError(ErrorCode.INVALID_STATE, 'handle closed'));
    await this.current?.close();
  }

  private enqueue<T>(op: (s: Session) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new PeerError(ErrorCode.INVALID_STATE, 'handle closed'));
    // Straight onto the session when nothing waits before us: its own queue keeps call order.
    if (this.current !== null && this.queue.length === 0) return op(this.current);
    if (this.queue.length >= this.maxQueued) return Promise.reject(new PeerError(ErrorCode.INVALID_STATE, `${this.maxQueued} sends already wait for a connection`));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: (s) => op(s).then(resolve, reject), fail: reject });
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
        const waiting = this.queue;
        this.queue = [];
        for (const op of waiting) op.run(session); // in call order, synchronously
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

  private failQueued(err: PeerError): void {
    const waiting = this.queue;
    this.queue = [];
    for (const op of waiting) op.fail(err);
  }
}
