/**
 * An authenticated hostile peer over real TCP: it completes a genuine handshake (as the
 * connecting side, or as a listener a victim connects to), then seals whatever plaintext and
 * header fields a test chooses under the session's real keys, so the victim's tag check passes
 * and only its plaintext decoding stands between the bytes and the event loop.
 *
 *   const evil = await AuthenticatedPeer.connect(port);
 *   evil.send(wire.FrameType.Data, runOf([{ type: 4, payload }]), { count: 2 });
 *   expect(await evil.nextErrorCode()).toBe('MALFORMED_FRAME');
 *
 *   const listener = await AuthenticatedPeer.listen();   // a malicious listener
 *   victim.connect(listener.port); const evil = await listener.accept();
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { HandshakeOptions } from '../../src/handshake/index.js';
import type { SecureSession } from '../../src/session/index.js';
import { wire } from '../../src/index.js';
import { RawClient } from './raw-client.js';
import { RecordForger, type ForgedFields } from './record-forger.js';

export type { ForgedFields } from './record-forger.js';

/** A data record's plaintext: each message `type u8 ‖ length u32 ‖ payload` (PROTOCOL.md §6). */
export function runOf(messages: readonly { type: number; payload: Uint8Array }[]): Buffer {
  return Buffer.concat(messages.map((m) => {
    const head = Buffer.alloc(5);
    head[0] = m.type;
    head.writeUInt32BE(m.payload.length, 1);
    return Buffer.concat([head, m.payload]);
  }));
}

export class AuthenticatedPeer {
  private constructor(
    /** Frames in and out; `raw.socket` is the TCP socket. */
    readonly raw: RawClient,
    /** Opens what the victim sends (its sending side is unused: `forge` seals). Replaced by renew(). */
    public session: SecureSession,
    public forge: RecordForger,
    /** Our side of the handshake: only the initiator renews (PROTOCOL.md §6). */
    readonly role: 'initiator' | 'responder',
  ) {}

  /** Connects to a victim's listener (from `localAddress`, e.g. 127.0.0.2, if given) and completes the handshake as initiator. */
  static async connect(port: number, opts: Partial<HandshakeOptions> = {}, host = '127.0.0.1', localAddress?: string): Promise<AuthenticatedPeer> {
    const raw = await new Promise<RawClient>((resolve, reject) => {
      const s = net.connect({ port, host, ...(localAddress === undefined ? {} : { localAddress }) }, () => resolve(RawClient.wrap(s)));
      s.once('error', reject);
    });
    return AuthenticatedPeer.over(raw, opts, 'initiator');
  }

  /**
   * A malicious listener on 127.0.0.1: `accept()` waits for the next connection and completes
   * the handshake as responder with it.
   */
  static async listen(opts: Partial<HandshakeOptions> = {}): Promise<{ port: number; accept(): Promise<AuthenticatedPeer>; close(): Promise<void> }> {
    const waiting: net.Socket[] = [];
    const wakers: ((s: net.Socket) => void)[] = [];
    const server = net.createServer((s) => {
      const w = wakers.shift();
      if (w) w(s);
      else waiting.push(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const sockets: net.Socket[] = [];
    return {
      port: (server.address() as net.AddressInfo).port,
      accept: async () => {
        const socket = waiting.shift() ?? (await new Promise<net.Socket>((r) => wakers.push(r)));
        sockets.push(socket);
        return AuthenticatedPeer.over(RawClient.wrap(socket), opts, 'responder');
      },
      close: () => {
        for (const s of sockets) s.destroy();
        return new Promise<void>((r) => server.close(() => r()));
      },
    };
  }

  /** Over any duplex stream (an in-memory pair, transport/memory.ts): the handshake as `role`, then the same forging. */
  static stream(stream: Duplex, role: 'initiator' | 'responder', opts: Partial<HandshakeOptions> = {}): Promise<AuthenticatedPeer> {
    // RawClient uses only what every Duplex has (data/close events, write, end, destroy).
    return AuthenticatedPeer.over(RawClient.wrap(stream as net.Socket), opts, role);
  }

  private static async over(raw: RawClient, opts: Partial<HandshakeOptions>, role: 'initiator' | 'responder'): Promise<AuthenticatedPeer> {
    const session = await raw.handshake({ entityId: 'mallory', ...opts }, role);
    return new AuthenticatedPeer(raw, session, new RecordForger(raw.keys!), role);
  }

  /**
   * Renews the session as its initiator: a fresh handshake under the same identity on the same
   * connection (PROTOCOL.md §6); `session` and `forge` then hold the new keys. Rejects if the
   * victim refuses or closes.
   */
  async renew(): Promise<void> {
    this.session = await this.raw.handshake(this.raw.identity!, 'initiator');
    this.forge = new RecordForger(this.raw.keys!);
  }

  /** Seals `plain` as one record of `type` with the given (possibly forged) header fields and writes it. */
  send(type: wire.RecordType, plain: Uint8Array, fields: ForgedFields = {}): void {
    this.raw.socket.write(this.forge.record(type, plain, fields));
  }

  /** The same record as bytes, to write in bulk (e.g. a flood assembled up front). */
  seal(type: wire.RecordType, plain: Uint8Array, fields: ForgedFields = {}): Buffer {
    return this.forge.record(type, plain, fields);
  }

  /** The code of the next error the victim sends (sealed error record or handshake_error); null if it closed without one. */
  async nextErrorCode(): Promise<string | null> {
    try {
      return await this.raw.nextErrorCode(this.session);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('connection closed')) return null;
      throw err;
    }
  }

  /** True once the victim closed the connection (within `timeoutMs`). */
  closed(timeoutMs = 5000): Promise<boolean> {
    return this.raw.closed(timeoutMs);
  }

  /** Stops reading the socket: the victim's writes pile up in its own buffers. */
  stopReading(): void {
    this.raw.socket.pause();
  }

  close(): void {
    this.raw.close();
  }
}
