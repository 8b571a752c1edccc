/**
 * A relay's mailbox (docs/RELAY.md "Mailboxes"): stores sealed envelopes for recipients whose
 * own signed DHT record names this relay (so nobody can use it as storage for anyone else),
 * in the offline queue's store (QueueStore: SQLite by default, fsync on every commit), answers
 * MAILBOX_STORED only after the write is durable, and hands a recipient its envelopes in order
 * when it proves its key, removing each only when the recipient says it is handled. Quotas:
 * messages and bytes per recipient (the store's), deposits per sender address prefix per hour
 * (a rate quota of its own), envelope size, expiry. The mailbox never sees a sender identity
 * or a payload: both are inside the seal (seal.ts).
 */
import type net from 'node:net';
import { Identity, randomBytes } from '../crypto/index.js';
import { decodeRecord, hasValidSignatures } from '../dht/record.js';
import { RateLimiter } from '../ratelimit/index.js';
import { SqliteStore } from '../queue/sqlite.js';
import type { QueueStore } from '../queue/store.js';
import { MAILBOX_BATCH, MAX_MAILBOX_BODY, RelayStatus, RelayType } from './constants.js';
import { encodeMailboxItem, encodeMailboxStored, encodeStatus, fetchSigned, type MailboxFetch } from './messages.js';
import { readControl } from './read-control.js';

export interface MailboxOptions {
  /** SQLite file of the mailbox (default ':memory:', which a restart loses). */
  path?: string;
  /** Or any QueueStore (a RedisStore shared by several relay processes). */
  store?: QueueStore;
  /** Stored envelopes per recipient (default 10,000) and their bytes (default 64 MiB). */
  maxMessagesPerRecipient?: number;
  maxBytesPerRecipient?: number;
  /** Deposits per sender address prefix per hour (default 10,000, burst the same). */
  maxDepositsPerPrefixPerHour?: number;
  /** Longest an envelope is kept (default 7 days); a later expiry is shortened to it. */
  maxTtlMs?: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class Mailbox {
  private readonly deposits: RateLimiter;
  private readonly quota: { messages: number; bytes: number };
  private readonly maxTtlMs: number;
  private nextOwner = 0;
  /** Envelopes stored and handed out since start. */
  readonly counters = { stored: 0, refused: 0, delivered: 0, removed: 0 };

  private constructor(readonly store: QueueStore, opts: MailboxOptions, private readonly relayKey: Uint8Array, private readonly timeoutMs: number) {
    const perHour = opts.maxDepositsPerPrefixPerHour ?? 10_000;
    this.deposits = new RateLimiter({ classes: { task: { perMinute: perHour / 60, burst: perHour } }, maxTrackedPeers: 100_000 });
    this.quota = { messages: opts.maxMessagesPerRecipient ?? 10_000, bytes: opts.maxBytesPerRecipient ?? 64 * 1024 * 1024 };
    this.maxTtlMs = opts.maxTtlMs ?? 7 * 86_400_000;
  }

  static async open(opts: MailboxOptions, relayKey: Uint8Array, timeoutMs: number): Promise<Mailbox> {
    const store = opts.store ?? (await SqliteStore.open({ path: opts.path ?? ':memory:', durability: 'full' }));
    return new Mailbox(store, opts, relayKey, timeoutMs);
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /**
   * A sender's connection: the recipient's record first (checked: it verifies, names this relay
   * as its mailbox, not expired), then envelopes, each answered once durable or refused.
   */
  async deposit(socket: net.Socket, prefix: string, recordBytes: Uint8Array): Promise<void> {
    let recipient: string;
    try {
      const rec = decodeRecord(recordBytes);
      const mb = rec.mailbox;
      if (!hasValidSignatures(rec) || mb === null || !Buffer.from(mb.relayKey).equals(this.relayKey) || mb.expiresAt <= Date.now()) throw new Error('no mailbox');
      recipient = hex(rec.publicKey);
    } catch {
      socket.end(encodeStatus({ code: RelayStatus.NO_MAILBOX, hop: 1 }));
      return;
    }
    socket.write(encodeStatus({ code: RelayStatus.OK, hop: 1 }));
    for (;;) {
      const m = await readControl(socket, this.timeoutMs * 6, 'mailbox sender', MAX_MAILBOX_BODY);
      if (m.type !== RelayType.MAILBOX_PUT) return void socket.end(encodeStatus({ code: RelayStatus.MALFORMED, hop: 1 }));
      const now = Date.now();
      // The sender prefix's deposit quota is charged before the store is touched.
      if (this.deposits.take(prefix, 'task', now) !== 0) {
        this.counters.refused++;
        socket.write(encodeMailboxStored(m.id, RelayStatus.MAILBOX_FULL));
        continue;
      }
      const expiresAt = Math.min(m.expiresAt, now + this.maxTtlMs);
      if (expiresAt <= now) {
        socket.write(encodeMailboxStored(m.id, RelayStatus.MALFORMED));
        continue;
      }
      const [r] = await this.store.put([{ id: m.id, recipient, type: 0, payload: m.envelope, createdAt: now, expiresAt }], this.quota, now);
      if (r!.ok) this.counters.stored++;
      else this.counters.refused++;
      socket.write(encodeMailboxStored(m.id, r!.ok ? RelayStatus.OK : RelayStatus.MAILBOX_FULL));
    }
  }

  /**
   * The recipient drains: it proved its key over HELLO's challenge; envelopes go out in the
   * store's order in batches, each batch followed by STATUS OK, and are removed only when the
   * recipient lists them in MAILBOX_DONE. An empty batch ends the drain.
   */
  async drain(socket: net.Socket, m: MailboxFetch, challenge: Uint8Array): Promise<void> {
    if (!Identity.isValidSignature(m.key, fetchSigned(this.relayKey, challenge), m.signature)) {
      return void socket.end(encodeStatus({ code: RelayStatus.BAD_SIGNATURE, hop: 1 }));
    }
    const recipient = hex(m.key);
    const owner = `drain-${this.nextOwner++}-${hex(randomBytes(4))}`;
    try {
      let after = 0;
      for (;;) {
        const lease = await this.store.lease(recipient, { owner, after, max: MAILBOX_BATCH, leaseMs: this.timeoutMs * 6, maxAttempts: Number.MAX_SAFE_INTEGER }, Date.now());
        for (const e of lease.entries) {
          socket.write(encodeMailboxItem({ id: e.id, expiresAt: e.expiresAt, envelope: e.payload }));
          after = e.pos;
        }
        this.counters.delivered += lease.entries.length;
        socket.write(encodeStatus({ code: RelayStatus.OK, hop: 1 }));
        if (lease.entries.length === 0) return void socket.end();
        const done = await readControl(socket, this.timeoutMs * 6, 'mailbox recipient', 3 + MAILBOX_BATCH * 16);
        if (done.type !== RelayType.MAILBOX_DONE) return void socket.end(encodeStatus({ code: RelayStatus.MALFORMED, hop: 1 }));
        this.counters.removed += (await this.store.ack(recipient, done.ids)).length;
      }
    } finally {
      await this.store.release(recipient, owner).catch(() => undefined);
    }
  }
}
