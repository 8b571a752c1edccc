/**
 * The reserving side, kept alive: an agent that cannot accept connections holds a reservation
 * on each relay it was given, re-reserves with jittered back-off when one ends, joins the
 * circuits announced to it (at most `maxPendingJoins` handshakes at once, so a relay flooding
 * notices costs us a bounded amount), and says when its list of relays changed (the Peer then
 * republishes its DHT record with them).
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Identity } from '../crypto/index.js';
import type { RelayEntry } from '../dht/record.js';
import { DEFAULT_RELAY_TIMEOUT_MS, Reservation, joinCircuit } from './client.js';

export interface ReserveOptions {
  /** Relays to reserve on ("host:port" of their relay port), at most 3 are listed in the record. */
  relays: string[];
  /** Requested reservation lifetime, seconds (default: the DHT record ttl, else 3600); renewed at half. */
  ttlS?: number;
  /** Relayed circuits being joined (handshakes in progress) at once (default 16). */
  maxPendingJoins?: number;
  /** Longest wait for a relay's answer (default 10 s). */
  timeoutMs?: number;
}

const MIN_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

export class RelayAgent extends EventEmitter<{ change: [] }> {
  private readonly held = new Map<string, Reservation>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private joins = 0;
  private closed = false;
  /** Circuit notices ignored because `maxPendingJoins` joins were already running. */
  droppedJoins = 0;

  constructor(
    private readonly identity: Identity,
    private readonly opts: ReserveOptions & { ttlS: number },
    private readonly accept: (socket: net.Socket, relay: string) => Promise<unknown>,
  ) {
    super();
    for (const address of opts.relays) this.keep(address, 0);
  }

  /** The relays we hold a reservation on now, for the record. */
  listed(): RelayEntry[] {
    return [...this.held.values()].slice(0, 3).map((r) => ({ address: r.address, expiresAt: r.expiresAt }));
  }

  /** Resolves once at least `n` reservations are held (or rejects after `timeoutMs`). */
  async ready(n = 1, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.held.size < n) {
      if (Date.now() > deadline || this.closed) throw new Error(`${this.held.size} of ${n} relay reservations held`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const r of this.held.values()) r.close();
    this.held.clear();
  }

  private keep(address: string, attempt: number): void {
    if (this.closed) return;
    Reservation.open(address, this.identity, this.opts.ttlS, this.opts.timeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS).then(
      (r) => {
        if (this.closed) return r.close();
        this.held.set(address, r);
        r.on('incoming', (token) => this.join(address, token));
        r.on('renewed', () => this.emit('change'));
        r.once('close', () => {
          this.held.delete(address);
          this.emit('change');
          this.retry(address, 0);
        });
        this.emit('change');
      },
      () => this.retry(address, attempt + 1),
    );
  }

  private retry(address: string, attempt: number): void {
    if (this.closed) return;
    const bound = Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** Math.min(attempt, 20));
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.keep(address, attempt);
    }, Math.floor(Math.random() * bound));
    this.timers.add(t);
  }

  private join(address: string, token: Uint8Array): void {
    if (this.closed || this.joins >= (this.opts.maxPendingJoins ?? 16)) {
      this.droppedJoins++;
      return;
    }
    this.joins++;
    joinCircuit(address, token, this.opts.timeoutMs)
      .then((socket) => this.accept(socket, address))
      .catch(() => undefined) // a failed join or handshake ends only that circuit
      .finally(() => this.joins--);
  }
}
