/**
 * A hand-driven protocol client over a real TCP socket, built from the sans-I/O cores, so tests
 * can put exactly the offending bytes on the wire and read exactly what comes back.
 */
import net from 'node:net';
import { Identity, wire } from '../../src/index.js';
import { Handshake, decodeHandshakeMessage, type HandshakeOptions } from '../../src/handshake/index.js';
import { SecureSession } from '../../src/session/index.js';

export class RawClient {
  readonly socket: net.Socket;
  private readonly deframer = new wire.Deframer({ maxFrameBytes: 1 << 20 });
  private readonly frames: Uint8Array[] = [];
  private waiting: ((f: Uint8Array | null) => void) | null = null;
  private ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk) => {
      for (const f of this.deframer.push(chunk)) this.frames.push(Buffer.from(f));
      this.wake();
    });
    // The peer's FIN ends what we can read (a stream without allowHalfOpen's auto-close, like
    // the in-memory pair, may stay open for writing long after it).
    for (const event of ['end', 'close']) {
      socket.on(event, () => {
        this.ended = true;
        this.wake();
      });
    }
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Writes one frame body (length-prefixed here) or raw bytes as they are. */
  send(body: Uint8Array, raw = false): void {
    this.socket.write(raw ? body : wire.encodeFrame(body));
  }

  /** Next frame body from the server, or null when the connection closed. */
  next(timeoutMs = 5000): Promise<Uint8Array | null> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no frame from the server in time')), timeoutMs);
      this.waiting = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }

  /** Reads the next frame and returns the error code it carries (handshake error or sealed error record). */
  async nextErrorCode(session?: SecureSession): Promise<string> {
    for (;;) {
      const f = await this.next();
      if (f === null) throw new Error('connection closed without an error frame');
      if (f[1] === wire.FrameType.HandshakeError) return (decodeHandshakeMessage(f) as { code: string }).code;
      if (session && f[1] === wire.FrameType.Error) {
        const [e] = session.receive(f, Date.now());
        if (e?.kind === 'error') return e.error.code;
      }
    }
  }

  /** A client over a socket accepted by a test's own server (a hand-driven responder). */
  static wrap(socket: net.Socket): RawClient {
    return new RawClient(socket);
  }

  /**
   * Runs the initiator (or responder) side to READY; returns the sealed session. Called again
   * on a READY connection it is a renewal: sealed records arriving meanwhile are skipped.
   */
  async handshake(opts: Partial<HandshakeOptions> = {}, role: 'initiator' | 'responder' = 'initiator'): Promise<SecureSession> {
    const options = { identity: Identity.generate(), entityId: 'raw', ...opts };
    this.identity = { identity: options.identity, entityId: options.entityId };
    const now = Date.now();
    const { handshake, send } = role === 'initiator' ? Handshake.initiate(options, now) : { handshake: Handshake.respond(options, now), send: [] };
    for (const m of send) this.send(m);
    while (handshake.state !== 'READY') {
      const f = await this.next();
      if (f === null) throw new Error('closed during the handshake');
      if (f[1]! >= wire.FrameType.Data) continue;
      for (const m of handshake.receive(f, Date.now())) this.send(m);
    }
    const r = handshake.result!;
    this.keys = { sendKey: Buffer.from(r.sendKey), sendIv: Buffer.from(r.sendIv), sessionId: Buffer.from(r.sessionId) };
    return new SecureSession(r, Date.now());
  }

  /** Copies of the client's sending keys after handshake(), for forging records. */
  keys: { sendKey: Buffer; sendIv: Buffer; sessionId: Buffer } | null = null;
  /** Who handshake() authenticated as (a renewal must be the same identity). */
  identity: { identity: Identity; entityId: string } | null = null;

  async closed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiting;
    if (!w) return;
    const f = this.frames.shift();
    if (f || this.ended) {
      this.waiting = null;
      w(f ?? null);
    }
  }
}
