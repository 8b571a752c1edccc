/**
 * UDP datagrams on node:dgram for the DHT. Addresses are strings "a.b.c.d:port" or
 * "[v6]:port". An IPv4 host binds an udp4 socket and an IPv6 host an IPv6-only udp6 socket, so
 * sources never arrive as IPv4-mapped IPv6 addresses and keep one spelling.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { ErrorCode, PeerError } from '../errors.js';

export interface UdpOptions {
  /** Interface to bind (default 0.0.0.0). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  onDatagram: (data: Buffer, from: string) => void;
  /** Socket errors after binding (send failures are counted, not reported). */
  onError?: (err: Error) => void;
}

export function formatUdpAddress(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** "ip:port" / "[ip6]:port" → [ip, port]; PeerError INVALID_ARGUMENT otherwise. */
export function splitUdpAddress(address: string): [string, number] {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `not a host:port address: ${JSON.stringify(address)}`);
  return [m[1] ?? m[2]!, port];
}

export class UdpTransport {
  /** Datagrams whose send failed (unreachable, too large, closed). */
  sendErrors = 0;
  private closed = false;

  private constructor(private readonly socket: dgram.Socket, readonly address: string) {}

  static bind(opts: UdpOptions): Promise<UdpTransport> {
    const host = opts.host ?? '0.0.0.0';
    const v6 = net.isIPv6(host);
    if (!v6 && !net.isIPv4(host)) return Promise.reject(new PeerError(ErrorCode.INVALID_ARGUMENT, `UDP host must be an IP address, got ${host}`));
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(new PeerError(ErrorCode.INVALID_ARGUMENT, `cannot bind UDP ${host}:${opts.port ?? 0}: ${err.message}`));
      socket.once('error', fail);
      socket.bind(opts.port ?? 0, host, () => {
        socket.off('error', fail);
        socket.on('error', (err) => opts.onError?.(err));
        const a = socket.address();
        const t = new UdpTransport(socket, formatUdpAddress(a.address, a.port));
        socket.on('message', (msg, rinfo) => opts.onDatagram(msg, formatUdpAddress(rinfo.address, rinfo.port)));
        resolve(t);
      });
    });
  }

  get port(): number {
    return splitUdpAddress(this.address)[1];
  }

  send(to: string, data: Uint8Array): void {
    if (this.closed) return;
    let host: string;
    let port: number;
    try {
      [host, port] = splitUdpAddress(to);
    } catch {
      this.sendErrors++;
      return;
    }
    this.socket.send(data, port, host, (err) => {
      if (err) this.sendErrors++;
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
