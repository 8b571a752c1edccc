/**
 * TCP helpers on node:net: every socket gets TCP_NODELAY (records are already coalesced per
 * tick, so Nagle would only add latency) and keep-alive.
 */
import net from 'node:net';
import { ErrorCode, PeerError } from '../errors.js';

export interface TcpAddress {
  host: string;
  port: number;
}

/** Parses "host:port" or "[v6]:port". */
export function parseAddress(address: string | TcpAddress): TcpAddress {
  if (typeof address !== 'string') return address;
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `address must be host:port, got ${JSON.stringify(address)}`);
  }
  return { host: m[1] ?? m[2]!, port };
}

export function tuneSocket(socket: net.Socket): net.Socket {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000);
  return socket;
}

export function connectTcp(address: TcpAddress, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PeerError(ErrorCode.UNREACHABLE, `connect to ${address.host}:${address.port} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(tuneSocket(socket));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new PeerError(ErrorCode.UNREACHABLE, `cannot connect to ${address.host}:${address.port}: ${err.message}`, { errno: (err as NodeJS.ErrnoException).code }));
    });
  });
}

export function listenTcp(address: Partial<TcpAddress>, onSocket: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true }, (socket) => onSocket(tuneSocket(socket)));
    server.once('error', reject);
    server.listen(address.port ?? 0, address.host ?? '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}
