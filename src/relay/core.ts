/**
 * The relay's bookkeeping, Sans-I/O: reservations, circuits, connection counts, rate classes
 * and the global byte budget, with `now` (ms) passed in and decisions returned. server.ts does
 * the sockets and timers. Every table here is bounded: reservations ≤ maxReservations,
 * circuits (pending or open) ≤ maxCircuits, connection prefixes ≤ maxConnections, and the
 * per-prefix counters hold an entry only while something of that prefix is held. Each request
 * is charged (rate class, caps) before the relay does any work for it.
 */
import { RateLimiter } from '../ratelimit/index.js';
import { RELAY_DEFAULTS, RELAY_STATUS_NAMES, RelayStatus } from './constants.js';

export type RelayLimits = { -readonly [K in keyof typeof RELAY_DEFAULTS]: (typeof RELAY_DEFAULTS)[K] extends boolean ? boolean : number };

export type Refusal = { ok: false; code: RelayStatus };

interface Reservation {
  prefix: string;
  /** The control connection that holds it (circuit notices go there). */
  conn: number;
  expiresAt: number;
  circuits: number;
}

export const enum CircuitState { PENDING, OPEN }

interface Circuit {
  target: string;
  prefix: string;
  state: CircuitState;
  /** Bytes carried A→B (0) and B→A (1). */
  bytes: [number, number];
}

export interface RelayStats {
  connections: number;
  reservations: number;
  circuits: number;
  pendingCircuits: number;
  bytesRelayed: number;
  /** Refusals by status name (NO_RESERVATION, CIRCUIT_LIMIT, ...). */
  refused: Record<string, number>;
  /** Circuits cut by their byte or duration limit. */
  cut: { bytes: number; duration: number };
}

/** Counts per key, deleting a key when it returns to 0 (so the map holds only live entries). */
class Counter {
  private readonly m = new Map<string, number>();
  get(k: string): number {
    return this.m.get(k) ?? 0;
  }
  add(k: string, d: number): void {
    const v = this.get(k) + d;
    if (v <= 0) this.m.delete(k);
    else this.m.set(k, v);
  }
}

const refuse = (code: RelayStatus): Refusal => ({ ok: false, code });

export class RelayCore {
  readonly limits: RelayLimits;
  private readonly reservations = new Map<string, Reservation>();
  private readonly circuits = new Map<number, Circuit>();
  private readonly pendingByToken = new Map<string, number>();
  private readonly reservationsPerPrefix = new Counter();
  private readonly circuitsPerPrefix = new Counter();
  private readonly connectionsPerPrefix = new Counter();
  private connections = 0;
  private nextCircuit = 1;
  private pending = 0;
  /** Global byte budget as GCRA: the time at which the bucket is full again. */
  private byteTat = 0;
  /** Rate classes of the relay's own, per source prefix ('handshake' bucket = reserve, 'task' bucket = circuit). */
  private readonly rates: RateLimiter;
  private readonly counters = { bytesRelayed: 0, refused: {} as Record<string, number>, cut: { bytes: 0, duration: 0 } };

  constructor(limits: Partial<RelayLimits> = {}) {
    // An option given as undefined keeps its default (a spread would overwrite it).
    const given = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
    this.limits = { ...RELAY_DEFAULTS, ...given };
    this.rates = new RateLimiter({
      classes: {
        handshake: { perMinute: this.limits.reservePerMinute, burst: this.limits.reserveBurst },
        task: { perMinute: this.limits.circuitPerMinute, burst: this.limits.circuitBurst },
      },
      maxTrackedPeers: 4 * this.limits.maxConnections,
    });
  }

  /** A new TCP connection from `prefix`: admitted within the global and per-prefix caps. */
  admitConnection(prefix: string): boolean {
    if (this.connections >= this.limits.maxConnections || this.connectionsPerPrefix.get(prefix) >= this.limits.maxConnectionsPerPrefix) return false;
    this.connections++;
    this.connectionsPerPrefix.add(prefix, 1);
    return true;
  }

  releaseConnection(prefix: string): void {
    this.connections--;
    this.connectionsPerPrefix.add(prefix, -1);
  }

  /** The rate class of a request (reserve or circuit) from `prefix`. */
  rate(prefix: string, cls: 'reserve' | 'circuit', now: number): boolean {
    return this.rates.take(prefix, cls === 'reserve' ? 'handshake' : 'task', now) === 0;
  }

  /**
   * Reserves (or renews) a slot for `key` held by connection `conn`. One reservation per key: a
   * new connection proving the same key takes it over (`replaced` names the old connection).
   */
  reserve(key: string, prefix: string, conn: number, ttlS: number, now: number): { ok: true; expiresAt: number; replaced: number | null } | Refusal {
    const old = this.reservations.get(key);
    const samePrefix = old !== undefined && old.prefix === prefix;
    if (old === undefined && this.reservations.size >= this.limits.maxReservations) return this.refused(RelayStatus.RESERVATION_LIMIT);
    if (!samePrefix && this.reservationsPerPrefix.get(prefix) >= this.limits.maxReservationsPerPrefix) return this.refused(RelayStatus.RESERVATION_LIMIT);
    const expiresAt = now + 1000 * Math.max(1, Math.min(ttlS, this.limits.maxReservationTtlS));
    if (old !== undefined) {
      this.reservationsPerPrefix.add(old.prefix, -1);
      old.prefix = prefix;
      old.expiresAt = expiresAt;
      const replaced = old.conn === conn ? null : old.conn;
      old.conn = conn;
      this.reservationsPerPrefix.add(prefix, 1);
      return { ok: true, expiresAt, replaced };
    }
    this.reservations.set(key, { prefix, conn, expiresAt, circuits: 0 });
    this.reservationsPerPrefix.add(prefix, 1);
    return { ok: true, expiresAt, replaced: null };
  }

  /** Ends `key`'s reservation if connection `conn` still holds it (and it is still due at `now`, for expiry). */
  release(key: string, conn: number, now = Infinity): boolean {
    const r = this.reservations.get(key);
    if (r === undefined || r.conn !== conn || r.expiresAt > now) return false;
    this.reservations.delete(key);
    this.reservationsPerPrefix.add(r.prefix, -1);
    return true;
  }

  reservationExpiry(key: string): number | null {
    return this.reservations.get(key)?.expiresAt ?? null;
  }

  /**
   * A circuit to `target` from `prefix`, pending until the target joins with `token`; the
   * reservation's connection gets the notice. Refused: no reservation, or a circuit cap.
   */
  openCircuit(target: string, prefix: string, token: string, now: number): { ok: true; id: number; conn: number } | Refusal {
    const r = this.reservations.get(target);
    if (r === undefined || r.expiresAt <= now) return this.refused(RelayStatus.NO_RESERVATION);
    if (this.circuits.size >= this.limits.maxCircuits || r.circuits >= this.limits.maxCircuitsPerTarget || this.circuitsPerPrefix.get(prefix) >= this.limits.maxCircuitsPerPrefix) {
      return this.refused(RelayStatus.CIRCUIT_LIMIT);
    }
    const id = this.nextCircuit++;
    this.circuits.set(id, { target, prefix, state: CircuitState.PENDING, bytes: [0, 0] });
    this.pendingByToken.set(token, id);
    this.pending++;
    r.circuits++;
    this.circuitsPerPrefix.add(prefix, 1);
    return { ok: true, id, conn: r.conn };
  }

  /** A circuit this relay passes on to a next relay (chaining): the circuit caps, no reservation. */
  openForward(prefix: string): { ok: true; id: number } | Refusal {
    if (this.circuits.size >= this.limits.maxCircuits || this.circuitsPerPrefix.get(prefix) >= this.limits.maxCircuitsPerPrefix) {
      return this.refused(RelayStatus.CIRCUIT_LIMIT);
    }
    const id = this.nextCircuit++;
    this.circuits.set(id, { target: '', prefix, state: CircuitState.PENDING, bytes: [0, 0] });
    this.pending++;
    this.circuitsPerPrefix.add(prefix, 1);
    return { ok: true, id };
  }

  acceptForward(id: number): void {
    const c = this.circuits.get(id);
    if (c === undefined || c.state !== CircuitState.PENDING) return;
    c.state = CircuitState.OPEN;
    this.pending--;
  }

  /** The target joined with `token`: the pending circuit opens (null: no such token). */
  acceptCircuit(token: string): number | null {
    const id = this.pendingByToken.get(token);
    if (id === undefined) return null;
    this.pendingByToken.delete(token);
    this.circuits.get(id)!.state = CircuitState.OPEN;
    this.pending--;
    return id;
  }

  /** Forgets a circuit (closed, refused, timed out); its token too if still pending. */
  closeCircuit(id: number, token?: string): void {
    const c = this.circuits.get(id);
    if (c === undefined) return;
    this.circuits.delete(id);
    if (c.state === CircuitState.PENDING) {
      this.pending--;
      if (token !== undefined) this.pendingByToken.delete(token);
    }
    const r = this.reservations.get(c.target);
    if (r !== undefined) r.circuits--;
    this.circuitsPerPrefix.add(c.prefix, -1);
  }

  /**
   * Charges `n` bytes in direction `dir` of circuit `id` before they are forwarded: 'cut' when
   * the circuit would pass its byte limit; otherwise the ms to wait for the global byte budget
   * (0: forward now, the budget is charged; > 0: nothing charged, ask again then).
   */
  charge(id: number, dir: 0 | 1, n: number, now: number): number | 'cut' {
    const c = this.circuits.get(id);
    if (c === undefined) return 'cut';
    if (c.bytes[dir] + n > this.limits.maxCircuitBytes) {
      this.counters.cut.bytes++;
      return 'cut';
    }
    const interval = 1000 / this.limits.maxBytesPerSecond;
    const due = Math.max(0, this.byteTat - now) + n * interval;
    // A chunk larger than the whole burst (1 s of budget) passes once the bucket is full.
    if (due > 1000 && this.byteTat > now) return due - Math.max(1000, n * interval);
    this.byteTat = now + due;
    c.bytes[dir] += n;
    this.counters.bytesRelayed += n;
    return 0;
  }

  cutForDuration(): void {
    this.counters.cut.duration++;
  }

  /** Counts a refusal (by status name) and returns it. */
  refused(code: RelayStatus): Refusal {
    const name = RELAY_STATUS_NAMES[code]!;
    this.counters.refused[name] = (this.counters.refused[name] ?? 0) + 1;
    return refuse(code);
  }

  stats(): RelayStats {
    return {
      connections: this.connections, reservations: this.reservations.size, circuits: this.circuits.size - this.pending,
      pendingCircuits: this.pending, bytesRelayed: this.counters.bytesRelayed,
      refused: { ...this.counters.refused }, cut: { ...this.counters.cut },
    };
  }
}
