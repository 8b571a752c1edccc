/**
 * The ends of a relayed circuit (docs/RELAY.md): a sender opens a circuit through one to three
 * relays; a reserved target holds its reservation on a control connection, renews it, and joins
 * each announced circuit on a new connection. Each returns a plain socket, paused, positioned
 * at the first byte after the relay's OK: the ordinary 6-step handshake runs over it next, so
 * the relays never hold a key.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { Identity } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { connectTcp, parseAddress } from '../transport/index.js';
import { MAX_HOPS, RELAY_STATUS_NAMES, RelayStatus, RelayType } from './constants.js';
import { encodeAccept, encodeConnect, encodeReserve, reserveSigned, voucherSigned, type ControlMessage, type Hello } from './messages.js';
import { readControl } from './read-control.js';

export const DEFAULT_RELAY_TIMEOUT_MS = 10_000;

async function dial(address: string, timeoutMs: number): Promise<{ socket: net.Socket; hello: Hello }> {
  const socket = await connectTcp(parseAddress(address), timeoutMs);
  socket.on('error', () => undefined); // 'close' follows; the reader of the moment reports it
  try {
    const hello = await readControl(socket, timeoutMs, `relay ${address}`);
    if (hello.type !== RelayType.HELLO) throw new PeerError(ErrorCode.MALFORMED_FRAME, `relay ${address}: expected HELLO`);
    return { socket, hello };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Reads the STATUS that ends a request; anything but OK becomes UNREACHABLE naming the refusing hop. */
async function expectOk(socket: net.Socket, path: readonly string[], timeoutMs: number): Promise<void> {
  const st = await readControl(socket, timeoutMs, `relay ${path[0]}`);
  if (st.type !== RelayType.STATUS) throw new PeerError(ErrorCode.MALFORMED_FRAME, `relay ${path[0]}: expected STATUS`);
  if (st.code === RelayStatus.OK) return;
  const name = RELAY_STATUS_NAMES[st.code] ?? `status ${st.code}`;
  const relay = path[st.hop - 1] ?? `hop ${st.hop}`;
  throw new PeerError(ErrorCode.UNREACHABLE, `relay ${relay} (hop ${st.hop} of ${path.length}) refused: ${name}`, { relayStatus: name, hop: st.hop, relay });
}

/**
 * Opens a circuit through `path` (relay addresses, first hop first; the target reserved on the
 * last) to the Ed25519 key `target`. Resolves with the spliced socket, paused.
 */
export async function openCircuit(path: readonly string[], target: Uint8Array, timeoutMs = DEFAULT_RELAY_TIMEOUT_MS): Promise<net.Socket> {
  if (path.length < 1 || path.length > MAX_HOPS) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `a circuit has 1..${MAX_HOPS} relays`);
  const { socket } = await dial(path[0]!, timeoutMs);
  try {
    socket.write(encodeConnect({ target, hopBudget: path.length, visited: [], next: path.slice(1) }));
    // Each relay may wait its own control timeout for the next one, and the last for the target.
    await expectOk(socket, path, timeoutMs * (path.length + 1));
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Joins the circuit announced under `token` on the relay at `address`. */
export async function joinCircuit(address: string, token: Uint8Array, timeoutMs = DEFAULT_RELAY_TIMEOUT_MS): Promise<net.Socket> {
  const { socket } = await dial(address, timeoutMs);
  try {
    socket.write(encodeAccept(token));
    await expectOk(socket, [address], timeoutMs);
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

export interface ReservationEvents {
  /** A circuit waits for us under this token. */
  incoming: [token: Uint8Array];
  /** Granted or renewed until `expiresAt`. */
  renewed: [expiresAt: number];
  /** The control connection ended: the reservation is gone. */
  close: [reason: PeerError | undefined];
}

/**
 * A reservation held on one relay's control connection: renewed at half its lifetime, and
 * ended (event 'close') when the connection ends. The relay's voucher is checked against the
 * key its HELLO announced.
 */
export class Reservation extends EventEmitter<ReservationEvents> {
  expiresAt = 0;
  voucher: Uint8Array = new Uint8Array(0);
  private renewTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(readonly address: string, readonly relayKey: Uint8Array, private readonly socket: net.Socket, private readonly identity: Identity, private readonly ttlS: number) {
    super();
  }

  static async open(address: string, identity: Identity, ttlS: number, timeoutMs = DEFAULT_RELAY_TIMEOUT_MS): Promise<Reservation> {
    const { socket, hello } = await dial(address, timeoutMs);
    const r = new Reservation(address, hello.relayKey, socket, identity, ttlS);
    try {
      r.request(hello.challenge);
      r.granted(await readControl(socket, timeoutMs, `relay ${address}`));
    } catch (err) {
      socket.destroy();
      throw err;
    }
    socket.once('close', () => r.end(undefined));
    void r.listen();
    return r;
  }

  close(): void {
    this.socket.destroy();
    this.end(undefined);
  }

  private request(challenge: Uint8Array): void {
    const signature = this.identity.sign(reserveSigned(this.relayKey, challenge, this.ttlS));
    this.socket.write(encodeReserve({ key: this.identity.publicKey, ttlS: this.ttlS, signature }));
  }

  private granted(m: ControlMessage): void {
    if (m.type === RelayType.STATUS) {
      const name = RELAY_STATUS_NAMES[m.code] ?? `status ${m.code}`;
      throw new PeerError(ErrorCode.UNREACHABLE, `relay ${this.address} (hop 1) refused the reservation: ${name}`, { relayStatus: name, hop: 1, relay: this.address });
    }
    if (m.type !== RelayType.RESERVE_OK) throw new PeerError(ErrorCode.MALFORMED_FRAME, `relay ${this.address}: expected RESERVE_OK`);
    if (!Identity.isValidSignature(this.relayKey, voucherSigned(this.relayKey, this.identity.publicKey, m.expiresAt), m.voucher)) {
      throw new PeerError(ErrorCode.INVALID_SIGNATURE, `relay ${this.address}: voucher does not verify`);
    }
    this.expiresAt = m.expiresAt;
    this.voucher = m.voucher;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    const challenge = m.nextChallenge;
    this.renewTimer = setTimeout(() => this.request(challenge), Math.max(1000, (m.expiresAt - Date.now()) / 2));
    this.emit('renewed', m.expiresAt);
  }

  /** Circuit notices and renewal answers, until the connection ends; anything else ends it. */
  private async listen(): Promise<void> {
    try {
      for (;;) {
        const m = await readControl(this.socket, 2 ** 31 - 1, `relay ${this.address}`);
        if (m.type === RelayType.CIRCUIT_INCOMING) this.emit('incoming', m.token);
        else this.granted(m);
      }
    } catch (err) {
      this.socket.destroy();
      this.end(err instanceof PeerError ? err : undefined);
    }
  }

  private end(reason: PeerError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.emit('close', reason);
  }
}
