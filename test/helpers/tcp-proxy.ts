/**
 * A man in the middle on 127.0.0.1: forwards TCP between a client and a server, records every
 * byte each way, and lets a test rewrite the frames it forwards.
 */
import net from 'node:net';
import { wire } from '../../src/index.js';

export type Direction = 'toServer' | 'toClient';
/** Returns the frame body to forward (possibly changed), or null to drop it. */
export type Rewrite = (body: Uint8Array, direction: Direction, index: number) => Uint8Array | null;

export class TcpProxy {
  readonly recorded: Record<Direction, Buffer[]> = { toServer: [], toClient: [] };
  readonly frames: Record<Direction, Uint8Array[]> = { toServer: [], toClient: [] };
  private server!: net.Server;
  private readonly sockets: Partial<Record<Direction, net.Socket>> = {};
  port = 0;

  private constructor(private readonly target: number, private readonly rewrite?: Rewrite) {}

  static async start(targetPort: number, rewrite?: Rewrite): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort, rewrite);
    p.server = net.createServer((client) => p.onClient(client));
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  bytes(direction: Direction): Buffer {
    return Buffer.concat(this.recorded[direction]);
  }

  /** Writes a frame into the live connection, as if its sender had sent it. */
  inject(direction: Direction, body: Uint8Array): void {
    this.sockets[direction]!.write(wire.encodeFrame(body));
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private onClient(client: net.Socket): void {
    const upstream = net.connect({ port: this.target, host: '127.0.0.1' });
    this.sockets.toServer = upstream;
    this.sockets.toClient = client;
    this.pipe(client, upstream, 'toServer');
    this.pipe(upstream, client, 'toClient');
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }

  private pipe(from: net.Socket, to: net.Socket, direction: Direction): void {
    const deframer = new wire.Deframer({ maxFrameBytes: 1 << 20 });
    from.on('data', (chunk: Buffer) => {
      this.recorded[direction].push(Buffer.from(chunk));
      if (!this.rewrite) {
        to.write(chunk);
        return;
      }
      for (const body of deframer.push(chunk)) {
        const copy = Buffer.from(body);
        const index = this.frames[direction].push(copy) - 1;
        const out = this.rewrite(Buffer.from(copy), direction, index);
        if (out) to.write(wire.encodeFrame(out));
      }
    });
  }
}
