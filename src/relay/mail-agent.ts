/**
 * Mailboxes from an agent's side (docs/RELAY.md "Mailboxes"). MailAgent (the recipient): keeps
 * its X25519 mailbox keys (the current one is published, signed, in its DHT record; the
 * previous one still opens what was sealed to it), drains its mailbox at start and then
 * periodically, and drops envelopes whose id it has already delivered. MailPost (the sender):
 * seals to the recipient's published key and deposits through a cached connection per relay.
 */
import { EventEmitter } from 'node:events';
import { Identity, randomBytes, x25519 } from '../crypto/index.js';
import type { DhtRecord, MailboxEntry } from '../dht/record.js';
import { ErrorCode, PeerError } from '../errors.js';
import { DEFAULT_RELAY_TIMEOUT_MS } from './client.js';
import { MailboxSender, drainMailbox } from './mailbox-client.js';
import { sealLetter } from './seal.js';

export interface MailboxUseOptions {
  /** The relay keeping our mailbox ("host:port" of its relay port). */
  relay: string;
  /** Our X25519 mailbox secret (32 bytes, or 64 hex): keep it across restarts to open mail sealed before. Default: a fresh one. */
  secret?: Uint8Array | string;
  /** How often to drain while running (default 30 s). */
  drainEveryMs?: number;
  /** Lifetime of a published mailbox key, seconds (default 86,400); `rotateMailboxKey()` replaces it sooner. */
  keyTtlS?: number;
}

export interface Mail {
  /** The sender's entity id and Ed25519 key, from inside the seal (signature verified). */
  from: string;
  senderKey: Uint8Array;
  /** The sender's 16-byte message id (hex). */
  id: string;
  type: number;
  payload: Uint8Array;
}

/** Ids remembered to drop duplicates (a redelivery after a crash between delivery and removal). */
const MAX_SEEN = 100_000;

export class MailAgent extends EventEmitter<{ mail: [mail: Mail]; change: [] }> {
  private secrets: Buffer[];
  private relayKey: Uint8Array | null = null;
  private keyExpiresAt: number;
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<number> | null = null;
  private closed = false;

  constructor(private readonly identity: Identity, private readonly opts: MailboxUseOptions) {
    super();
    const s = typeof opts.secret === 'string' ? Buffer.from(opts.secret, 'hex') : opts.secret ? Buffer.from(opts.secret) : randomBytes(32);
    if (s.length !== 32) throw new PeerError(ErrorCode.INVALID_KEY, 'mailbox secret must be 32 bytes');
    this.secrets = [s];
    this.keyExpiresAt = Date.now() + 1000 * (opts.keyTtlS ?? 86_400);
  }

  /** Drains once now (learning the relay's key), then every `drainEveryMs`. */
  async start(): Promise<void> {
    await this.drain().catch(() => 0);
    const every = this.opts.drainEveryMs ?? 30_000;
    const tick = (): void => {
      this.timer = setTimeout(() => void this.drain().catch(() => 0).finally(() => !this.closed && tick()), every);
    };
    if (!this.closed) tick();
  }

  /** What our DHT record says about our mailbox (null until the relay answered once). */
  entry(): MailboxEntry | null {
    if (this.relayKey === null) return null;
    return { address: this.opts.relay, relayKey: this.relayKey, key: x25519.publicKeyOf(this.secrets[0]!), expiresAt: this.keyExpiresAt };
  }

  /** A fresh mailbox key; the previous one still opens what was sealed to it. */
  rotate(): void {
    this.secrets = [randomBytes(32), this.secrets[0]!];
    this.keyExpiresAt = Date.now() + 1000 * (this.opts.keyTtlS ?? 86_400);
    this.emit('change');
  }

  /** Drains the mailbox now; resolves with the number of new messages delivered. */
  drain(): Promise<number> {
    this.draining ??= (async () => {
      try {
        let fresh = 0;
        const r = await drainMailbox(this.opts.relay, this.identity, this.secrets, (l) => {
          const id = Buffer.from(l.id).toString('hex');
          if (this.seen.has(id)) return;
          this.remember(id);
          fresh++;
          this.emit('mail', { from: l.from, senderKey: l.senderKey, id, type: l.type, payload: l.payload });
        }, DEFAULT_RELAY_TIMEOUT_MS);
        const first = this.relayKey === null;
        this.relayKey = r.relayKey;
        if (first) this.emit('change');
        return fresh;
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value!);
  }
}

/** Deposit connections kept per (relay, recipient). */
const MAX_POSTS = 32;

export class MailPost {
  private readonly open = new Map<string, Promise<MailboxSender>>();
  /** Per (relay, recipient): the last deposit's write step, so deposits go out in call order. */
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Looked-up records, shared by the sends of a minute (and so in call order). */
  private readonly records = new Map<string, { at: number; record: Promise<DhtRecord> }>();

  constructor(private readonly identity: Identity, private readonly entityId: string) {}

  /** The recipient's record, looked up at most once a minute per entity (at most 256 kept). */
  recordFor(entityId: string, lookup: () => Promise<DhtRecord>): Promise<DhtRecord> {
    const now = Date.now();
    const hit = this.records.get(entityId);
    if (hit !== undefined && now - hit.at < 60_000) return hit.record;
    if (this.records.size >= 256) this.records.delete(this.records.keys().next().value!);
    const record = lookup();
    this.records.set(entityId, { at: now, record });
    record.catch(() => this.records.delete(entityId));
    return record;
  }

  /**
   * Seals `payload` to the mailbox key in `record` (the recipient's verified record) and
   * deposits it; resolves with the 16-byte id once the mailbox stored it durably.
   */
  async send(record: DhtRecord, payload: Uint8Array, o: { type?: number; ttlMs?: number; id?: Uint8Array } = {}): Promise<Uint8Array> {
    const mb = record.mailbox;
    if (mb === null || mb.expiresAt <= Date.now()) throw new PeerError(ErrorCode.UNREACHABLE, `${record.entityId} names no mailbox (or its mailbox key expired)`);
    const id = o.id ?? randomBytes(16);
    const expiresAt = Date.now() + (o.ttlMs ?? 86_400_000);
    const envelope = sealLetter(this.identity, this.entityId, record.publicKey, mb.key, { id, expiresAt, type: o.type ?? 0x04, payload });
    const key = `${mb.address} ${Buffer.from(record.publicKey).toString('hex')}`;
    // Each deposit's write waits for the previous one's write (not its durability): in order, pipelined.
    const step = (this.tails.get(key) ?? Promise.resolve()).catch(() => undefined).then(async () => {
      let conn = this.open.get(key);
      const live = conn ? await conn.catch(() => null) : null;
      if (live === null || live.closed) {
        if (this.open.size >= MAX_POSTS) this.close(this.open.keys().next().value!);
        conn = MailboxSender.open(mb.address, record.bytes, DEFAULT_RELAY_TIMEOUT_MS);
        this.open.set(key, conn);
        conn.catch(() => this.open.delete(key));
      }
      return { stored: (await conn!).put(id, expiresAt, envelope) };
    });
    this.tails.set(key, step);
    void step.finally(() => this.tails.get(key) === step && this.tails.delete(key));
    await (await step).stored;
    return id;
  }

  closeAll(): void {
    for (const k of [...this.open.keys()]) this.close(k);
  }

  private close(key: string): void {
    void this.open.get(key)?.then((s) => s.close(), () => undefined);
    this.open.delete(key);
  }
}
