/**
 * A relay (docs/RELAY.md): a TCP listener of its own speaking the control protocol of
 * docs/PROTOCOL.md §10, over RelayCore's bookkeeping. It holds reservations on their control
 * connections, tells a reserved target when a circuit waits, and splices the two connections
 * once the target joins; after that it only counts and forwards bytes. Every connection gets an
 * error handler at accept, and every async path ends in a catch that closes only its own
 * connections: nothing a peer sends can throw into the event loop.
 */
import type net from 'node:net';
import { Identity, randomBytes } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { connectTcp, listenTcp, parseAddress, type TcpAddress } from '../transport/index.js';
import { addressPrefix, type PrefixBits } from '../util/ip.js';
import { MAX_HOPS, RelayStatus, RelayType } from './constants.js';
import { RelayCore, type RelayLimits, type RelayStats } from './core.js';
import {
  encodeConnect, encodeHello, encodeIncoming, encodeReserveOk, encodeStatus, reserveSigned, voucherSigned,
  type CircuitConnect, type ControlMessage, type Reserve,
} from './messages.js';
import { readControl } from './read-control.js';
import { Mailbox, type MailboxOptions } from './mailbox.js';
import type { QueueStore } from '../queue/store.js';
import { MAX_RECORD_BYTES } from '../dht/constants.js';
import { splice } from './splice.js';

export interface RelayOptions extends Partial<RelayLimits> {
  /** Where the relay listens (default 127.0.0.1, a free port). */
  host?: string;
  port?: number;
  /** How per-prefix caps group addresses (default IPv4 /32, IPv6 /64). */
  prefixBits?: PrefixBits;
  /** Also keep mailboxes for offline recipients that name this relay in their record (off by default). */
  mailbox?: MailboxOptions;
}

interface Pending {
  a: net.Socket;
  id: number;
  timer: NodeJS.Timeout;
  onAClose: () => void;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class RelayServer {
  readonly core: RelayCore;
  private server: net.Server | null = null;
  /** Control connections holding a reservation, by connection id. */
  private readonly holders = new Map<number, net.Socket>();
  /** Circuits waiting for their target, by token. */
  private readonly pending = new Map<string, Pending>();
  private readonly sockets = new Set<net.Socket>();
  private nextConn = 1;
  private refusedConnections = 0;
  private mailbox: Mailbox | null = null;

  constructor(private readonly identity: Identity, private readonly opts: RelayOptions = {}) {
    const { host: _h, port: _p, prefixBits: _b, mailbox: _m, ...limits } = opts;
    this.core = new RelayCore(limits);
  }

  async listen(): Promise<TcpAddress> {
    if (this.server) throw new PeerError(ErrorCode.INVALID_STATE, 'relay is already listening');
    if (this.opts.mailbox && !this.mailbox) this.mailbox = await Mailbox.open(this.opts.mailbox, this.identity.publicKey, this.core.limits.controlTimeoutMs);
    this.server = await listenTcp({ host: this.opts.host ?? '127.0.0.1', port: this.opts.port ?? 0 }, (s) => this.accept(s));
    return this.address!;
  }

  get address(): TcpAddress | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  /** The mailbox's store (option `mailbox`), for operations: list, purge, usage. */
  get mailboxStore(): QueueStore | null {
    return this.mailbox?.store ?? null;
  }

  stats(): RelayStats & { refusedConnections: number; mailbox: Mailbox['counters'] | null } {
    return { ...this.core.stats(), refusedConnections: this.refusedConnections, mailbox: this.mailbox ? { ...this.mailbox.counters } : null };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    await this.mailbox?.close();
    this.mailbox = null;
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => undefined); // a reset ends only this connection ('close' follows)
    const prefix = addressPrefix(socket.remoteAddress ?? '', this.opts.prefixBits);
    // Charged before anything is sent or allocated for it.
    if (this.server === null || !this.core.admitConnection(prefix)) {
      this.refusedConnections++;
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.core.releaseConnection(prefix);
    });
    const challenge = randomBytes(32);
    socket.write(encodeHello({ relayKey: this.identity.publicKey, challenge }));
    this.serve(socket, prefix, challenge).catch(() => socket.destroy());
  }

  private async serve(socket: net.Socket, prefix: string, challenge: Uint8Array): Promise<void> {
    let m: ControlMessage;
    try {
      // A MAILBOX_OPEN carries a DHT record: the first message may be that long when mailboxes are on.
      m = await readControl(socket, this.core.limits.controlTimeoutMs, 'relay', this.mailbox ? 2 + MAX_RECORD_BYTES : undefined);
    } catch (err) {
      return this.refuse(socket, err instanceof PeerError && err.code === ErrorCode.MALFORMED_FRAME ? RelayStatus.MALFORMED : null);
    }
    if (m.type === RelayType.RESERVE) return this.hold(socket, prefix, m, challenge);
    if (m.type === RelayType.CIRCUIT_CONNECT) return this.connect(socket, prefix, m);
    if (m.type === RelayType.CIRCUIT_ACCEPT) return this.join(socket, hex(m.token));
    if (m.type === RelayType.MAILBOX_OPEN || m.type === RelayType.MAILBOX_FETCH) {
      if (this.mailbox === null) return this.refuse(socket, this.core.refused(RelayStatus.NO_MAILBOX).code);
      if (!this.core.rate(prefix, 'reserve', Date.now())) return this.refuse(socket, this.core.refused(RelayStatus.RATE_LIMITED).code);
      return m.type === RelayType.MAILBOX_OPEN ? this.mailbox.deposit(socket, prefix, m.record) : this.mailbox.drain(socket, m, challenge);
    }
    return this.refuse(socket, RelayStatus.MALFORMED);
  }

  /** Sends STATUS (this relay is hop 1 from the connection's side) and closes; null: just close. */
  private refuse(socket: net.Socket, code: RelayStatus | null, hop = 1): void {
    if (code !== null) socket.end(encodeStatus({ code, hop }));
    else socket.destroy();
    // A peer that never reads must not hold the connection open.
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** A reservation: verified, charged, then held on this connection, renewed by further RESERVEs. */
  private async hold(socket: net.Socket, prefix: string, first: Reserve, challenge: Uint8Array): Promise<void> {
    const conn = this.nextConn++;
    const key = hex(first.key);
    let expiry: NodeJS.Timeout | null = null;
    socket.once('close', () => {
      if (expiry) clearTimeout(expiry);
      if (this.holders.get(conn) === socket) this.holders.delete(conn);
      this.core.release(key, conn);
    });
    for (let m: ControlMessage = { type: RelayType.RESERVE, ...first }; ; ) {
      if (m.type !== RelayType.RESERVE || hex(m.key) !== key) return this.refuse(socket, RelayStatus.MALFORMED);
      const now = Date.now();
      if (!this.core.rate(prefix, 'reserve', now)) return this.refuse(socket, this.core.refused(RelayStatus.RATE_LIMITED).code);
      if (!Identity.isValidSignature(m.key, reserveSigned(this.identity.publicKey, challenge, m.ttlS), m.signature)) {
        return this.refuse(socket, this.core.refused(RelayStatus.BAD_SIGNATURE).code);
      }
      const r = this.core.reserve(key, prefix, conn, m.ttlS, now);
      if (!r.ok) return this.refuse(socket, r.code);
      if (r.replaced !== null) this.holders.get(r.replaced)?.destroy();
      this.holders.set(conn, socket);
      if (expiry) clearTimeout(expiry);
      expiry = setTimeout(() => {
        if (this.core.release(key, conn, Date.now() + 1)) socket.destroy();
      }, r.expiresAt - now);
      challenge = randomBytes(32);
      const voucher = this.identity.sign(voucherSigned(this.identity.publicKey, m.key, r.expiresAt));
      socket.write(encodeReserveOk({ expiresAt: r.expiresAt, voucher, nextChallenge: challenge }));
      // The holder may renew (a fresh RESERVE) until its expiry; nothing else is read here.
      m = await readControl(socket, Math.max(1, r.expiresAt - Date.now()));
    }
  }

  /** A circuit request: charged, checked, then either forwarded to the next relay or announced to the target. */
  private async connect(a: net.Socket, prefix: string, m: CircuitConnect): Promise<void> {
    const now = Date.now();
    if (!this.core.rate(prefix, 'circuit', now)) return this.refuse(a, this.core.refused(RelayStatus.RATE_LIMITED).code);
    if (m.hopBudget === 0 || m.hopBudget > MAX_HOPS || m.next.length >= m.hopBudget || m.visited.length + 1 + m.next.length > MAX_HOPS) {
      return this.refuse(a, this.core.refused(RelayStatus.HOP_LIMIT).code);
    }
    if (m.visited.some((k) => Buffer.from(k).equals(this.identity.publicKey))) return this.refuse(a, this.core.refused(RelayStatus.LOOP).code);
    if (m.next.length > 0) return this.forward(a, prefix, m);
    const token = randomBytes(16);
    const t = hex(token);
    const r = this.core.openCircuit(hex(m.target), prefix, t, now);
    if (!r.ok) return this.refuse(a, r.code);
    const onAClose = (): void => this.dropPending(t, null);
    const timer = setTimeout(() => this.dropPending(t, this.core.refused(RelayStatus.TARGET_UNREACHABLE).code), this.core.limits.controlTimeoutMs);
    this.pending.set(t, { a, id: r.id, timer, onAClose });
    a.once('close', onAClose);
    this.holders.get(r.conn)?.write(encodeIncoming(token));
  }

  private dropPending(token: string, code: RelayStatus | null): void {
    const p = this.pending.get(token);
    if (p === undefined) return;
    this.pending.delete(token);
    clearTimeout(p.timer);
    p.a.off('close', p.onAClose);
    this.core.closeCircuit(p.id, token);
    this.refuse(p.a, code);
  }

  /** The target joins a pending circuit by its token: both ends get OK and are spliced. */
  private join(b: net.Socket, token: string): void {
    const p = this.pending.get(token);
    const id = this.core.acceptCircuit(token);
    if (p === undefined || id === null) return this.refuse(b, this.core.refused(RelayStatus.BAD_TOKEN).code);
    this.pending.delete(token);
    clearTimeout(p.timer);
    p.a.off('close', p.onAClose);
    p.a.write(encodeStatus({ code: RelayStatus.OK, hop: 1 }));
    b.write(encodeStatus({ code: RelayStatus.OK, hop: 1 }));
    splice(this.core, id, p.a, b, () => this.core.closeCircuit(id));
  }

  /**
   * Chaining (opt-in): dial the next relay, check its key is not already on the path, pass the
   * request on with the hop budget decremented and this relay added to `visited`, and relay its
   * answer back with the refusing hop's index counted from the sender.
   */
  private async forward(a: net.Socket, prefix: string, m: CircuitConnect): Promise<void> {
    if (!this.core.limits.chain) return this.refuse(a, this.core.refused(RelayStatus.CHAIN_DISABLED).code);
    const r = this.core.openForward(prefix);
    if (!r.ok) return this.refuse(a, r.code);
    let out: net.Socket | null = null;
    const fail = (code: RelayStatus | null, hop = 1): void => {
      this.core.closeCircuit(r.id);
      out?.destroy();
      this.refuse(a, code, hop);
    };
    const timeout = this.core.limits.controlTimeoutMs;
    try {
      out = await connectTcp(parseAddress(m.next[0]!), timeout);
      out.on('error', () => undefined);
      this.sockets.add(out);
      out.once('close', () => this.sockets.delete(out!));
      const hello = await readControl(out, timeout, 'next relay');
      if (hello.type !== RelayType.HELLO) return fail(this.core.refused(RelayStatus.NEXT_HOP_UNREACHABLE).code);
      const path = [...m.visited, this.identity.publicKey];
      if (path.some((k) => Buffer.from(k).equals(hello.relayKey))) return fail(this.core.refused(RelayStatus.LOOP).code);
      out.write(encodeConnect({ target: m.target, hopBudget: m.hopBudget - 1, visited: path, next: m.next.slice(1) }));
      // Downstream waits up to its own timeout for the target: allow that, once per hop left.
      const st = await readControl(out, timeout * (m.next.length + 1), 'next relay');
      if (st.type !== RelayType.STATUS) return fail(this.core.refused(RelayStatus.MALFORMED).code);
      if (st.code !== RelayStatus.OK) return fail(st.code as RelayStatus, st.hop + 1);
    } catch {
      return fail(a.destroyed ? null : this.core.refused(RelayStatus.NEXT_HOP_UNREACHABLE).code);
    }
    if (a.destroyed) return fail(null);
    this.core.acceptForward(r.id);
    a.write(encodeStatus({ code: RelayStatus.OK, hop: 1 }));
    splice(this.core, r.id, a, out, () => this.core.closeCircuit(r.id));
  }
}
