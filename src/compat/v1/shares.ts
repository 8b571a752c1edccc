/**
 * Connections per address prefix at the v1.0 endpoint: one address cannot hold every
 * connection the server takes (`maxConnections`). A connection over its prefix's share is
 * answered 400 rate_limited at once and closed; its request, if one arrives, is not served.
 */
import type { Socket } from 'node:net';
import { ErrorCode } from '../../errors.js';
import { refuseConnection } from './http.js';

export class ConnectionShares {
  private readonly open = new Map<string, number>();
  private readonly refusedSockets = new WeakSet<Socket>();

  constructor(readonly maxPerKey: number) {}

  /** A new connection counted under `key` (null: exempt, not counted); refused past the share. */
  admit(socket: Socket, key: string | null): void {
    if (key === null) return;
    const n = this.open.get(key) ?? 0;
    if (n >= this.maxPerKey) {
      this.refusedSockets.add(socket);
      refuseConnection(socket, ErrorCode.RATE_LIMITED);
      return;
    }
    this.open.set(key, n + 1);
    socket.once('close', () => {
      const left = this.open.get(key)! - 1;
      if (left === 0) this.open.delete(key);
      else this.open.set(key, left);
    });
  }

  /** True for a connection refused when it connected (its requests are not served). */
  refused(socket: Socket): boolean {
    return this.refusedSockets.has(socket);
  }
}
