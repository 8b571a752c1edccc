/**
 * The I/O edge of the control protocol: reads exactly one control frame from a socket, bounded
 * in size (MAX_CONTROL_BODY, checked from the length prefix before anything is buffered) and
 * time, then pauses the socket and puts back whatever followed, so the next reader (another
 * control read, a splice, or a Session) gets the stream intact.
 */
import type net from 'node:net';
import { ErrorCode, PeerError } from '../errors.js';
import { MAX_CONTROL_BODY } from './constants.js';
import { decodeControl, type ControlMessage } from './messages.js';

export function readControl(socket: net.Socket, timeoutMs: number, what = 'relay', maxBody = MAX_CONTROL_BODY): Promise<ControlMessage> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err: PeerError | null, m?: ControlMessage, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      if (err) reject(err);
      else resolve(m!);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length < 4) return;
      const len = buf.readUInt32BE(0);
      if (len === 0 || len > maxBody) return done(new PeerError(ErrorCode.MALFORMED_FRAME, `${what}: control frame of ${len} bytes (1..${maxBody})`));
      if (buf.length < 4 + len) return;
      try {
        done(null, decodeControl(buf.subarray(4, 4 + len)), buf.subarray(4 + len));
      } catch (err) {
        done(err instanceof PeerError ? err : new PeerError(ErrorCode.MALFORMED_FRAME, String(err)));
      }
    };
    const onClose = (): void => done(new PeerError(ErrorCode.UNREACHABLE, `${what}: connection closed`));
    const timer = setTimeout(() => done(new PeerError(ErrorCode.UNREACHABLE, `${what}: no control message within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    socket.resume();
  });
}
