/**
 * The listener's side of one accepted TCP connection: asks the guard (listener-guard.ts) for
 * a slot, refuses with a handshake_error the client can read (RATE_LIMITED, not a bare
 * close), runs the short deadline before handshake_init, and hands the session the admission
 * hooks. The guard decides; this file does the socket and timer work.
 */
import type net from 'node:net';
import { PeerError } from '../errors.js';
import { Handshake } from '../handshake/index.js';
import type { ListenerGuard } from './listener-guard.js';
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

/**
 * Admits `socket` (or refuses it) and, if admitted, runs `start` with the session's admission
 * hooks; `start` resolves once the session is READY and rejects if it fails.
 */
export function acceptConnection(socket: net.Socket, guard: ListenerGuard, start: (admission: AdmissionHooks) => Promise<unknown>): void {
  let fail: ((err: PeerError) => void) | null = null;
  const ticket = guard.connect(socket.remoteAddress ?? 'unknown', (err) => (fail ? fail(err) : refuseConnection(socket, err)));
  if (ticket instanceof PeerError) return refuseConnection(socket, ticket);
  const initTimer = setTimeout(() => guard.initTimeout(ticket), guard.limits.initTimeoutMs);
  initTimer.unref();
  socket.once('close', () => {
    clearTimeout(initTimer);
    guard.disconnect(ticket);
  });
  const admission: AdmissionHooks = {
    admit: (cookie, now) => {
      const admitted = guard.admit(ticket, cookie, now);
      if (admitted === 'accept') clearTimeout(initTimer);
      return admitted;
    },
    cookie: (now) => guard.cookie(ticket.address, now),
    idleTimeoutMs: guard.limits.idleTimeoutMs,
    onIdleClose: () => guard.idleClosed(),
    maxHandshakeFrameBytes: guard.limits.maxHandshakeFrameBytes,
    bind: (f) => (fail = f),
  };
  start(admission).then(
    () => guard.established(ticket),
    () => undefined, // failures are counted and emitted as 'sessionError'
  );
}
