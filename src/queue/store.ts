/**
 * The store interface every queue backend implements (SQLite, Redis), and the types it speaks.
 * Every method takes `now` from the caller: no backend reads the clock, so the conformance suite
 * (test/queue/conformance.ts) drives them all in virtual time.
 */

/** Length of a message id (random, chosen by the sender). */
export const MESSAGE_ID_BYTES = 16;
/** Length of an outbox epoch (random, created with the outbox). */
export const EPOCH_BYTES = 8;

export interface PutRequest {
  id: Uint8Array;
  recipient: string;
  /** Application message type (wire id). */
  type: number;
  payload: Uint8Array;
  createdAt: number;
  expiresAt: number;
}

export type PutResult =
  | { ok: true; pos: number }
  | { ok: false; limit: 'messages' | 'bytes' };

export interface Quota {
  messages: number;
  bytes: number;
}

/** An outbox entry as leased for sending. */
export interface OutboxEntry {
  id: Uint8Array;
  recipient: string;
  /** Position in the recipient's FIFO, from 1. */
  pos: number;
  type: number;
  payload: Uint8Array;
  createdAt: number;
  expiresAt: number;
  /** Times it was handed out, this lease included. */
  attempts: number;
}

export interface LeaseRequest {
  /** Who leases (a process-unique string). */
  owner: string;
  /** Hand out entries with a position above this (what this owner already sent in the pass). */
  after: number;
  max: number;
  leaseMs: number;
  /** Entries already handed out this many times go to the dead letters instead. */
  maxAttempts: number;
}

export interface LeaseResult {
  /** False when another owner holds the recipient's lease: nothing was handed out. */
  held: boolean;
  entries: OutboxEntry[];
  /** Ids removed because they expired. */
  expired: Uint8Array[];
  /** Ids moved to the dead letters. */
  dead: Uint8Array[];
}

export interface Usage {
  /** Pending entries (not dead). */
  messages: number;
  /** Payload bytes of pending and dead entries. */
  bytes: number;
  dead: number;
}

export type EntryState = 'pending' | 'dead';

export interface EntryInfo {
  id: Uint8Array;
  recipient: string;
  pos: number;
  type: number;
  size: number;
  createdAt: number;
  expiresAt: number;
  attempts: number;
  state: EntryState;
}

/** A message received from a remote outbox, checked against the seen set. */
export interface AcceptRequest {
  /** The sender's key fingerprint (hex). */
  sender: string;
  epoch: Uint8Array;
  id: Uint8Array;
  pos: number;
  prev: number;
  /** Keep the id in the seen set until then. */
  keepUntil: number;
}

/**
 * new: hand to the application; redeliver: seen but not marked handled (a crash came between):
 * hand again, flagged; duplicate: handled before, only ack; gap: a message before it is missing;
 * full: this sender's seen set is at its cap.
 */
export type AcceptResult = 'new' | 'redeliver' | 'duplicate' | 'gap' | 'full';

export interface QueueStore {
  readonly backend: 'sqlite' | 'redis';
  /** This outbox's epoch (created with the store). */
  readonly epoch: Uint8Array;
  /** Inserts in order, atomically per request; an id already stored returns its position. */
  put(requests: PutRequest[], quota: Quota, now: number): Promise<PutResult[]>;
  /** Takes or renews the recipient's lease and hands out its oldest pending entries after `after`. */
  lease(recipient: string, req: LeaseRequest, now: number): Promise<LeaseResult>;
  /**
   * Removes these entries of `recipient` (pending or dead); returns the ids removed. `positions`
   * (parallel to `ids`, 0 = unknown) is a hint from the caller's lease: a backend may remove a run
   * of consecutive positions with one statement, but only where the id stored at each position is
   * the one acknowledged; a wrong hint must never remove anything else.
   */
  ack(recipient: string, ids: Uint8Array[], positions?: number[]): Promise<Uint8Array[]>;
  /** Gives up the recipient's lease if `owner` holds it. */
  release(recipient: string, owner: string): Promise<void>;
  /** Removes expired entries and expired seen ids (at most `limit` of each). */
  sweep(now: number, limit: number): Promise<{ expired: { recipient: string; id: Uint8Array }[]; seenPruned: number }>;
  /** One recipient's usage, or the sum over all. */
  usage(recipient?: string): Promise<Usage>;
  /** Recipients with pending entries. */
  recipients(): Promise<string[]>;
  list(recipient: string | undefined, state: EntryState, limit: number): Promise<EntryInfo[]>;
  get(id: Uint8Array): Promise<(EntryInfo & { payload: Uint8Array }) | null>;
  /** Dead letters back to pending with attempts 0 (all of the recipient's when `ids` is absent). */
  retry(recipient: string, ids?: Uint8Array[]): Promise<number>;
  /** Removes the recipient's entries in `state`. */
  purge(recipient: string, state: EntryState): Promise<number>;
  /** Receiver: checks and records each message in the seen set, in order. */
  accept(requests: AcceptRequest[], maxSeenPerSender: number, now: number): Promise<AcceptResult[]>;
  /** Receiver: marks ids handled by the application. */
  handled(items: { sender: string; id: Uint8Array }[]): Promise<void>;
  close(): Promise<void>;
}
