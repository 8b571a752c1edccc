/**
 * Relay control protocol (docs/RELAY.md, docs/PROTOCOL.md §10): frame types, status codes,
 * sizes and the relay's default limits, each next to its meaning.
 */

/** Every control body starts with the protocol version byte, as every other frame does. */
export const RELAY_VERSION = 0x11;

export const RelayType = {
  /** R → any, first bytes on every accepted connection: relay key ‖ challenge. */
  HELLO: 0x30,
  /** B → R: reserve (or renew) a slot, signed over the relay's challenge. */
  RESERVE: 0x31,
  /** R → B: reservation granted until expires_at, with the relay's voucher and the next challenge. */
  RESERVE_OK: 0x32,
  /** R → B on its reservation connection: a circuit waits for you under this token. */
  CIRCUIT_INCOMING: 0x33,
  /** B → R on a new connection: join the circuit of this token. */
  CIRCUIT_ACCEPT: 0x34,
  /** A (or an upstream relay) → R: open a circuit to this target (through these next relays). */
  CIRCUIT_CONNECT: 0x35,
  /** R → A / B: the outcome; after OK the connection is spliced, otherwise it is closed. */
  STATUS: 0x36,
  /** Sender → R: the recipient's signed DHT record, naming this relay as its mailbox. */
  MAILBOX_OPEN: 0x37,
  /** Sender → R: one sealed envelope (id, expiry) for that recipient. */
  MAILBOX_PUT: 0x38,
  /** R → sender: the envelope of this id is durably stored (code 0) or refused. */
  MAILBOX_STORED: 0x39,
  /** Recipient → R: drain my mailbox (signed over HELLO's challenge). */
  MAILBOX_FETCH: 0x3a,
  /** R → recipient: one stored envelope. */
  MAILBOX_ITEM: 0x3b,
  /** Recipient → R: these ids are handled (removed from the mailbox); the next batch follows. */
  MAILBOX_DONE: 0x3c,
} as const;
export type RelayType = (typeof RelayType)[keyof typeof RelayType];

/** Status codes of a STATUS message; every refusal names the hop that refused it. */
export const RelayStatus = {
  OK: 0,
  /** The target holds no reservation at this relay. */
  NO_RESERVATION: 1,
  /** A reservation cap (relay full, per key, per address prefix) refused the reservation. */
  RESERVATION_LIMIT: 2,
  /** A circuit cap (relay full, per target, per source prefix) refused the circuit. */
  CIRCUIT_LIMIT: 3,
  /** The relay's own rate classes (reserve, circuit) refused the request's source prefix. */
  RATE_LIMITED: 4,
  /** The relay's global byte or memory budget is spent. */
  BUDGET: 5,
  /** The hop budget reached 0 before the target. */
  HOP_LIMIT: 6,
  /** This relay already is on the circuit's path. */
  LOOP: 7,
  /** This relay does not chain (the default). */
  CHAIN_DISABLED: 8,
  /** The next relay of the chain could not be reached. */
  NEXT_HOP_UNREACHABLE: 9,
  /** The reserved target did not join the circuit in time. */
  TARGET_UNREACHABLE: 10,
  /** The reserve signature does not verify. */
  BAD_SIGNATURE: 11,
  /** A control message that does not parse, or is not allowed here. */
  MALFORMED: 12,
  /** CIRCUIT_ACCEPT with a token no pending circuit has. */
  BAD_TOKEN: 13,
  /** The recipient's or the sender prefix's mailbox quota is full. */
  MAILBOX_FULL: 14,
  /** This relay keeps no mailbox for that recipient (no mailbox here, or the record does not name this relay, or it expired). */
  NO_MAILBOX: 15,
} as const;
export type RelayStatus = (typeof RelayStatus)[keyof typeof RelayStatus];

export const RELAY_STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(RelayStatus).map(([name, code]) => [code, name]),
);

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const CHALLENGE_BYTES = 32;
export const TOKEN_BYTES = 16;
/** Largest control body (a CIRCUIT_CONNECT with 3 visited keys and 2 next addresses is < 400). */
export const MAX_CONTROL_BODY = 512;
/** Relays on one circuit at most (Tor-like bound on circuit length). */
export const MAX_HOPS = 3;
export const MAX_RELAY_ADDRESS_BYTES = 128;
/** Largest sealed envelope a mailbox takes (32 KiB), and so the largest mailbox control body. */
export const MAX_ENVELOPE_BYTES = 32 * 1024;
export const MAX_MAILBOX_BODY = 2 + 16 + 8 + MAX_ENVELOPE_BYTES;
/** Envelopes per MAILBOX_ITEM batch, and ids per MAILBOX_DONE. */
export const MAILBOX_BATCH = 64;
export const FETCH_CONTEXT = Buffer.from('peercomm mailbox fetch v1\0', 'utf8');

/** Domain separation for the two signatures of the protocol. */
export const RESERVE_CONTEXT = Buffer.from('peercomm relay reserve v1\0', 'utf8');
export const VOUCHER_CONTEXT = Buffer.from('peercomm relay voucher v1\0', 'utf8');

/**
 * Default limits (docs/RELAY.md "Limits"). libp2p's go defaults (2 min, 128 KiB per direction)
 * fit a relay that only bridges a hole punch; here the circuit carries the whole session of an
 * agent that has no other path, so a circuit gets 64 MiB per direction and 10 minutes, and the
 * relay's total cost is bounded by the global caps (circuits, bytes/s) instead. A session cut by
 * a limit is reopened by the reconnecting handle, which pays the circuit rate class again.
 */
export const RELAY_DEFAULTS = {
  /** Reservations held at once, all keys. */
  maxReservations: 1024,
  /** Reservations from one address prefix (IPv4 /32, IPv6 /64). One per key always. */
  maxReservationsPerPrefix: 4,
  /** Longest reservation granted, seconds; never more than the requested ttl (≤ the record ttl). */
  maxReservationTtlS: 3600,
  /** Circuits open or pending at once. */
  maxCircuits: 256,
  /** Circuits to one reserved target. */
  maxCircuitsPerTarget: 16,
  /** Circuits opened from one source address prefix. */
  maxCircuitsPerPrefix: 8,
  /** Bytes one circuit carries per direction before it is cut. */
  maxCircuitBytes: 64 * 1024 * 1024,
  /** Lifetime of one circuit, ms. */
  maxCircuitDurationMs: 10 * 60_000,
  /** Global byte budget: bytes per second over all circuits (a token bucket, burst 1 s). */
  maxBytesPerSecond: 64 * 1024 * 1024,
  /** TCP connections to the relay port at once, and from one prefix. */
  maxConnections: 1024,
  maxConnectionsPerPrefix: 32,
  /** Time for a new connection to send its first control message, and for a target to join. */
  controlTimeoutMs: 10_000,
  /** Rate classes per source prefix: reservations and circuit opens per minute (burst). */
  reservePerMinute: 10,
  reserveBurst: 20,
  circuitPerMinute: 60,
  circuitBurst: 60,
  /** Relay chaining (forwarding to a next relay): off by default. */
  chain: false,
} as const;
