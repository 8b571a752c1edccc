/**
 * The listener's side of one accepted TCP connection: asks the guard (listener-guard.ts) for
 * a slot, refuses with a handshake_error the client can read (RATE_LIMITED, not a bare
 * close), runs the short deadline before handshake_init, and hands the session the admission
 * hooks (one object per connection). The guard decides; this file does the socket and timer work.
 */
import type net from 'node:net';
import { PeerError } from '../errors.js';
import { Handshake } from '../handshake/index.js';
import type { Admission, ListenerGuard, Ticket } from './listener-guard.js';
import { frame } from './send.js';
import type { AdmissionHooks } from './session.js';

/** How long a refused connection is drained before it is destroyed (so the error frame is read, not reset away). */
const LINGER_MS = 1_000;

/**
 * Sends a handshake_error and closes without a reset: the client's own handshake_init may
 * already be in flight, and closing with unread input would send RST, which can destroy the
 * error frame before the client reads it. Input is read and dropped until the client closes
 * or LINGER_MS passes.
 */
export function refuseConnection(socket: net.Socket, err: PeerError): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded) socket.end(frame(Handshake.errorFrame(err)));
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => undefined);
  socket.resume();
}

/** A session the listener can end with an error frame (eviction, the init deadline). */
interface Failable {
  fail(err: PeerError, notify: boolean): void;
}

/**
 * One admitted connection's hooks for its session: a single object per connection (no
 * closures), which a READY session keeps only for its idle timeout.
 */
class Admitted implements AdmissionHooks {
  private session: Failable | null = null;
  private initTimer: NodeJS.Timeout | null = null;
  readonly idleTimeoutMs: number;
  readonly maxHandshakeFrameBytes: number;
  ticket!: Ticket;

  constructor(private readonly socket: net.Socket, private readonly guard: ListenerGuard) {
    this.idleTimeoutMs = guard.limits.idleTimeoutMs;
    this.maxHandshakeFrameBytes = guard.limits.maxHandshakeFrameBytes;
  }

  /** Starts the deadline for an accepted handshake_init. */
  start(ticket: Ticket): void {
    this.ticket = ticket;
    this.initTimer = setTimeout(initTimedOut, this.guard.limits.initTimeoutMs, this);
    this.initTimer.unref();
  }

  admit(cookie: Uint8Array | null, now: number): Admission {
    const admitted = this.guard.admit(this.ticket, cookie, now);
    if (admitted === 'accept') this.clearInitTimer();
    return admitted;
  }

  cookie(now: number): Buffer {
    return this.guard.cookie(this.ticket.address, now);
  }

  onIdleClose(): void {
    this.guard.idleClosed();
  }

  bind(session: Failable): void {
    this.session = session;
  }

  /** The guard ends this connection (evicted, init deadline): through its session once there is one. */
  close(err: PeerError): void {
    if (this.session !== null) this.session.fail(err, true);
    else refuseConnection(this.socket, err);
  }

  /** No handshake_init was accepted in time. */
  initTimeout(): void {
    this.initTimer = null;
    this.guard.initTimeout(this.ticket);
  }

  /** The socket closed: its slots are free. */
  closed(): void {
    this.clearInitTimer();
    this.guard.disconnect(this.ticket);
  }

  established(): void {
    this.guard.established(this.ticket);
  }

  private clearInitTimer(): void {
    if (this.initTimer !== null) clearTimeout(this.initTimer);
    this.initTimer = null;
  }
}

const initTimedOut = (a: Admitted): void => a.initTimeout();

/**
 * Admits `socket` (or refuses it) and, if admitted, runs `start` with the session's admission
 * hooks; `start` resolves once the session is READY and rejects if it fails.
 */
export function acceptConnection(socket: net.Socket, guard: ListenerGuard, start: (admission: AdmissionHooks) => Promise<unknown>): void {
  const admitted = new Admitted(socket, guard);
  const ticket = guard.connect(socket.remoteAddress ?? 'unknown', (err) => admitted.close(err));
  if (ticket instanceof PeerError) return refuseConnection(socket, ticket);
  admitted.start(ticket);
  socket.on('close', () => admitted.closed());
  start(admitted).then(
    () => admitted.established(),
    () => undefined, // failures are counted and emitted as 'sessionError'
  );
}
