/**
 * The two ends of a mailbox (docs/RELAY.md "Mailboxes"): a sender's connection that deposits
 * sealed envelopes for one recipient (pipelined, each resolved when the relay says it is
 * durable), and a recipient's drain, which opens each envelope, hands it on, and tells the relay
 * which ids to remove, batch by batch.
 */
import type net from 'node:net';
import type { Identity } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { connectTcp, parseAddress } from '../transport/index.js';
import { RELAY_STATUS_NAMES, RelayStatus, RelayType } from './constants.js';
import { encodeMailboxDone, encodeMailboxFetch, encodeMailboxOpen, encodeMailboxPut, fetchSigned, type Hello } from './messages.js';
import { readControl } from './read-control.js';
import { openLetter, type OpenedLetter } from './seal.js';

/** Deposits in flight on one connection. */
const MAX_IN_FLIGHT = 1024;

async function dial(address: string, timeoutMs: number): Promise<{ socket: net.Socket; hello: Hello }> {
  const socket = await connectTcp(parseAddress(address), timeoutMs);
  socket.on('error', () => undefined);
  const hello = await readControl(socket, timeoutMs, `mailbox ${address}`).catch((err: unknown) => {
    socket.destroy();
    throw err;
  });
  if (hello.type !== RelayType.HELLO) {
    socket.destroy();
    throw new PeerError(ErrorCode.MALFORMED_FRAME, `mailbox ${address}: expected HELLO`);
  }
  return { socket, hello };
}

function refusal(address: string, code: number, what: string): PeerError {
  const name = RELAY_STATUS_NAMES[code] ?? `status ${code}`;
  const errCode = code === RelayStatus.MAILBOX_FULL ? ErrorCode.QUEUE_FULL : ErrorCode.UNREACHABLE;
  return new PeerError(errCode, `mailbox ${address} (hop 1) refused ${what}: ${name}`, { relayStatus: name, hop: 1, relay: address });
}

export class MailboxSender {
  private readonly waiting: { id: string; resolve(): void; reject(e: PeerError): void }[] = [];
  private failure: PeerError | null = null;

  private constructor(readonly address: string, private readonly socket: net.Socket) {}

  /** Opens a deposit connection for the recipient of `record` (its signed DHT record bytes). */
  static async open(address: string, record: Uint8Array, timeoutMs: number): Promise<MailboxSender> {
    const { socket } = await dial(address, timeoutMs);
    socket.write(encodeMailboxOpen(record));
    const st = await readControl(socket, timeoutMs, `mailbox ${address}`).catch((err: unknown) => {
      socket.destroy();
      throw err;
    });
    if (st.type !== RelayType.STATUS || st.code !== RelayStatus.OK) {
      socket.destroy();
      throw refusal(address, st.type === RelayType.STATUS ? st.code : RelayStatus.MALFORMED, 'the recipient');
    }
    const s = new MailboxSender(address, socket);
    void s.listen();
    return s;
  }

  get closed(): boolean {
    return this.failure !== null;
  }

  /** Resolves once the relay stored the envelope durably; QUEUE_FULL / UNREACHABLE otherwise. */
  put(id: Uint8Array, expiresAt: number, envelope: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting.length >= MAX_IN_FLIGHT) return Promise.reject(new PeerError(ErrorCode.INVALID_STATE, `${MAX_IN_FLIGHT} deposits already in flight`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: Buffer.from(id).toString('hex'), resolve, reject });
      this.socket.write(encodeMailboxPut({ id, expiresAt, envelope }));
    });
  }

  close(): void {
    this.fail(new PeerError(ErrorCode.SESSION_CLOSED, `mailbox ${this.address}: closed`));
  }

  private async listen(): Promise<void> {
    try {
      for (;;) {
        const m = await readControl(this.socket, 2 ** 31 - 1, `mailbox ${this.address}`);
        const w = this.waiting[0];
        if (m.type !== RelayType.MAILBOX_STORED || w === undefined || Buffer.from(m.id).toString('hex') !== w.id) {
          throw new PeerError(ErrorCode.MALFORMED_FRAME, `mailbox ${this.address}: unexpected answer`);
        }
        this.waiting.shift();
        if (m.code === RelayStatus.OK) w.resolve();
        else w.reject(refusal(this.address, m.code, `message ${w.id}`));
      }
    } catch (err) {
      this.fail(err instanceof PeerError ? new PeerError(ErrorCode.SESSION_CLOSED, `mailbox ${this.address}: ${err.message}`) : new PeerError(ErrorCode.SESSION_CLOSED, String(err)));
    }
  }

  private fail(err: PeerError): void {
    if (this.failure === null) this.failure = err;
    this.socket.destroy();
    for (const w of this.waiting.splice(0)) w.reject(new PeerError(ErrorCode.SESSION_CLOSED, `${err.message} (message ${w.id} not confirmed)`, { id: w.id }));
  }
}

/**
 * Drains our mailbox at `address`: each envelope opened with one of `secrets` (current and
 * previous mailbox keys) goes to `deliver`; every id of a batch is then removed at the relay
 * (one that no key opens, or whose sender signature fails, is dropped and counted). Resolves
 * with the counts.
 */
export async function drainMailbox(
  address: string, identity: Identity, secrets: Uint8Array[], deliver: (l: OpenedLetter) => void, timeoutMs: number,
): Promise<{ delivered: number; dropped: number; relayKey: Uint8Array }> {
  const { socket, hello } = await dial(address, timeoutMs);
  let delivered = 0;
  let dropped = 0;
  try {
    socket.write(encodeMailboxFetch({ key: identity.publicKey, signature: identity.sign(fetchSigned(hello.relayKey, hello.challenge)) }));
    for (;;) {
      const batch = [];
      for (;;) {
        const m = await readControl(socket, timeoutMs * 6, `mailbox ${address}`, 64 * 1024);
        if (m.type === RelayType.STATUS) {
          if (m.code !== RelayStatus.OK) throw refusal(address, m.code, 'the drain');
          break;
        }
        if (m.type !== RelayType.MAILBOX_ITEM) throw new PeerError(ErrorCode.MALFORMED_FRAME, `mailbox ${address}: unexpected message`);
        batch.push(m);
      }
      if (batch.length === 0) return { delivered, dropped, relayKey: hello.relayKey };
      for (const item of batch) {
        const letter = openWithAny(secrets, identity.publicKey, item);
        if (letter === null) dropped++;
        else {
          delivered++;
          deliver(letter);
        }
      }
      socket.write(encodeMailboxDone(batch.map((i) => i.id)));
    }
  } finally {
    socket.destroy();
  }
}

function openWithAny(secrets: Uint8Array[], me: Uint8Array, item: { id: Uint8Array; expiresAt: number; envelope: Uint8Array }): OpenedLetter | null {
  for (const s of secrets) {
    try {
      return openLetter(s, me, item.id, item.expiresAt, item.envelope);
    } catch {
      // not sealed to this key (or forged): try the next
    }
  }
  return null;
}
