/**
 * Delivery to one recipient as a sans-I/O state machine: it is told what happened (connected,
 * leased, acked, gap, disconnected) with `now`, and says what to do next (`next(now)`) and when
 * to ask again (`deadline`). The queue (queue.ts) does the I/O. No timers, sockets or stores here.
 */

export const CourierState = {
  /** Nothing known to be pending. */
  Idle: 'idle',
  /** Pending entries, no session yet: connect at `retryAt`. */
  Waiting: 'waiting',
  Connecting: 'connecting',
  /** A session is up: entries flow in passes from the oldest pending. */
  Streaming: 'streaming',
} as const;
export type CourierState = (typeof CourierState)[keyof typeof CourierState];

export type CourierAction = 'idle' | 'connect' | 'lease' | 'restart' | 'release' | 'wait';

export interface CourierConfig {
  window: number;
  ackTimeoutMs: number;
  backoff: { minMs: number; maxMs: number };
  /** Uniform in [0, 1): the jitter of the back-off (injected, so tests are deterministic). */
  random: () => number;
}

export class Courier {
  state: CourierState = CourierState.Idle;
  /** Position of the last entry sent in this pass: the next lease starts after it, the next envelope's prev. */
  after = 0;
  /** Entries sent in this pass and not acknowledged, id (hex) → position. */
  readonly inflight = new Map<string, number>();
  /** When to try connecting again (Waiting). */
  retryAt = 0;
  /** Last time an ack arrived or a pass started. */
  private progressAt = 0;
  /** The last lease found nothing after `after`: wait for acks or new entries. */
  private exhausted = false;
  private failures = 0;

  constructor(private readonly cfg: CourierConfig) {}

  /** New entries may exist (a put, a poll of the store, a lease take-over). */
  wake(now: number): void {
    this.exhausted = false;
    if (this.state === CourierState.Idle) {
      this.state = CourierState.Waiting;
      this.retryAt = now;
    }
  }

  next(now: number): CourierAction {
    switch (this.state) {
      case CourierState.Idle:
        return 'idle';
      case CourierState.Waiting:
        if (now < this.retryAt) return 'wait';
        this.state = CourierState.Connecting;
        return 'connect';
      case CourierState.Connecting:
        return 'wait';
      case CourierState.Streaming:
        if (this.inflight.size > 0 && now - this.progressAt >= this.cfg.ackTimeoutMs) return 'restart';
        // Refill in slices of an eighth of the window, so the receiver always has the next ones in flight.
        if (!this.exhausted && this.room >= Math.max(1, this.cfg.window / 8)) return 'lease';
        if (this.exhausted && this.inflight.size === 0) return 'release';
        return 'wait';
    }
  }

  /** When `next` may answer differently without any event (Infinity: only an event changes it). */
  deadline(): number {
    if (this.state === CourierState.Waiting) return this.retryAt;
    if (this.state === CourierState.Streaming && this.inflight.size > 0) return this.progressAt + this.cfg.ackTimeoutMs;
    return Infinity;
  }

  /** How many entries the next lease may hand out. */
  get room(): number {
    return this.cfg.window - this.inflight.size;
  }

  connected(now: number): void {
    this.state = CourierState.Streaming;
    this.failures = 0;
    this.restart(now);
  }

  /** Starts a new pass from the oldest pending entry (after an ack timeout, a gap, a refusal). */
  restart(now: number): void {
    this.after = 0;
    this.inflight.clear();
    this.exhausted = false;
    this.progressAt = now;
  }

  /** Could not connect (or another process holds the lease): try again after a jittered back-off. */
  failed(now: number): void {
    const { minMs, maxMs } = this.cfg.backoff;
    const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(this.failures++, 30));
    this.state = CourierState.Waiting;
    this.retryAt = now + ceiling / 2 + this.cfg.random() * (ceiling / 2);
    this.inflight.clear();
  }

  /** The session ended: reconnect at once (back-off applies if that fails). */
  disconnected(now: number): void {
    if (this.state === CourierState.Idle) return;
    this.state = CourierState.Waiting;
    this.retryAt = now;
    this.inflight.clear();
  }

  /** Entries handed out by a lease and sent, in order. */
  sent(entries: { key: string; pos: number }[], now: number): void {
    if (entries.length === 0) {
      this.exhausted = true;
      return;
    }
    if (this.inflight.size === 0) this.progressAt = now;
    for (const e of entries) this.inflight.set(e.key, e.pos);
    this.after = entries[entries.length - 1]!.pos;
  }

  /** Ids removed from the store (acknowledged, expired, dead): no longer outstanding. */
  acked(keys: string[], now: number): void {
    let any = false;
    for (const k of keys) any = this.inflight.delete(k) || any;
    if (any) this.progressAt = now;
  }

  /** Nothing pending and the lease released. */
  released(): void {
    this.state = CourierState.Idle;
    this.inflight.clear();
  }
}
