/**
 * The offline queue of one Peer (docs/QUEUE.md): deliver() into the durable outbox (group
 * commit), one Courier per recipient driving delivery over sessions, acks removing entries,
 * and the receiving side (inbound.ts). All durable state is in the QueueStore.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { ErrorCode, PeerError } from '../errors.js';
import { SessionState } from '../handshake/index.js';
import type { Identity } from '../crypto/index.js';
import type { MessageV11 } from '../peer/message.js';
import { typeId } from '../peer/message.js';
import type { Session } from '../peer/session.js';
import type { MessageType } from '../wire/index.js';
import { Batcher } from './batcher.js';
import { Courier } from './courier.js';
import { MessageIds } from './ids.js';
import { AckKind, decodeAck, decodeEnvelope, encodeEnvelope } from './envelope.js';
import { Inbound, type QueuedMessage } from './inbound.js';
import { resolveOptions, type QueueOptions, type ResolvedQueueOptions } from './options.js';
import { openStore } from './open.js';
import type { EntryInfo, EntryState, OutboxEntry, PutRequest, PutResult, QueueStore } from './store.js';

/** What the queue needs of its Peer. */
export interface QueueHost {
  readonly identity: Identity;
  connect(target: string): Promise<Session>;
  on(event: 'session', listener: (session: Session) => void): unknown;
}

export interface QueueStats {
  backend: 'sqlite' | 'redis';
  pending: number;
  bytes: number;
  dead: number;
  inFlight: number;
  delivered: number;
  expired: number;
  deadLettered: number;
  received: number;
  duplicates: number;
  refused: number;
  gaps: number;
  malformed: number;
}

interface Link {
  courier: Courier;
  session: Session | null;
  running: boolean;
  wakeup: (() => void) | null;
}

/** The ids of one ack message, with the position each was sent at (0: not known here). */
interface AckBatch {
  recipient: string;
  ids: Uint8Array[];
  positions: number[];
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const SWEEP_BATCH = 10_000;
const QUEUED = { type: 'queued' } as const;

/**
 * Resolves when a session that wrote past its room may write again, or has ended, or after `ms`:
 * a 'drain' that never came must not stop delivery (the courier then looks again, its window
 * still bounding what is queued).
 */
function drained(session: Session, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      session.off('drain', done);
      session.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    session.on('drain', done);
    session.on('close', done);
  });
}

export class OfflineQueue extends EventEmitter {
  readonly options: ResolvedQueueOptions;
  /**
   * Our name in leases: per process on Redis (a dead process's lease must run out before another
   * takes over); fixed on SQLite, whose file has one writer, so a restarted process resumes at once.
   */
  private owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private store: Promise<QueueStore> | null = null;
  /** The store once open (deliver() then skips awaiting it). */
  private opened: QueueStore | null = null;
  private readonly links = new Map<string, Link>();
  private readonly byEntity = new Map<string, Set<Session>>();
  private readonly ids = new MessageIds();
  private readonly puts: Batcher<PutRequest, PutResult>;
  private readonly acks: Batcher<AckBatch, void>;
  private readonly inbound: Inbound;
  private poller: NodeJS.Timeout | null = null;
  private lastSweep = 0;
  private closed = false;
  private readonly counters = { delivered: 0, expired: 0, deadLettered: 0, received: 0, duplicates: 0, refused: 0, gaps: 0, malformed: 0 };

  constructor(private readonly host: QueueHost, private readonly config: QueueOptions = {}) {
    super();
    this.options = resolveOptions(config);
    this.puts = new Batcher(async (reqs) => {
      const results = await (await this.open()).put(reqs, this.options.quota, Date.now());
      // Each recipient given entries is woken once per batch.
      const woken = new Set<string>();
      reqs.forEach((r, i) => {
        if (results[i]!.ok && !woken.has(r.recipient)) woken.add(r.recipient), this.wake(r.recipient);
      });
      return results;
    });
    this.acks = new Batcher((items) => this.commitAcks(items));
    this.inbound = new Inbound(() => this.open(), this.options, (m) => this.emit('message', m),
      (m) => this.emit('refused', m), this.counters);
    host.on('session', (s) => this.track(s));
  }

  /** Opens the store and starts delivering what it holds (Peer.create does this when `queue` is configured). */
  async start(): Promise<void> {
    await this.open();
  }

  private open(): Promise<QueueStore> {
    if (this.closed) return Promise.reject(new PeerError(ErrorCode.INVALID_STATE, 'the queue is closed'));
    if (this.store === null) {
      this.store = openStore(this.config, this.host.identity, (m) => this.warn(m));
      this.store.then((store) => {
        this.opened = store;
        if (store.backend === 'sqlite') this.owner = 'local';
        this.startPolling();
      }, () => undefined);
    }
    return this.store;
  }

  /**
   * Stores a message for `recipient` (an entity id) and resolves with its 16-byte id once it is
   * durably in the outbox. Rejects with QUEUE_FULL over the recipient's quota.
   */
  async deliver(recipient: string, payload: Uint8Array | string, options: { type?: MessageType | number; ttl?: number } = {}): Promise<Uint8Array> {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    if (typeof recipient !== 'string' || recipient === '') throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'recipient must be an entity id');
    if (!(bytes instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'payload must be a Uint8Array or string');
    if (bytes.length > this.options.maxPayload) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `payload of ${bytes.length} bytes above queue.maxPayload (${this.options.maxPayload})`);
    const ttl = options.ttl ?? this.options.defaultTtl;
    if (!Number.isFinite(ttl) || ttl <= 0 || ttl > this.options.maxTtl) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `ttl must be in (0, ${this.options.maxTtl}] ms`);
    const type = typeId(options.type);
    if (this.opened === null || this.closed) await this.open();
    const now = Date.now();
    const id = this.ids.next();
    const r = await this.puts.add({ id, recipient, type, payload: bytes, createdAt: now, expiresAt: now + ttl });
    if (!r.ok) throw new PeerError(ErrorCode.QUEUE_FULL, `the queue for ${recipient} is full (${r.limit})`, { recipient, limit: r.limit });
    this.emit('queued', { id, recipient });
    return id;
  }

  /** Takes the queue's messages out of a session's stream; true when `m` was one. */
  divert(m: MessageV11): boolean {
    if (m.type !== 'queued' && m.type !== 'queue_ack') return false;
    if (m.streamed || m.session.remote === null) {
      this.counters.malformed++;
      void (async () => { for await (const _ of m.stream()) { /* discard */ } })().catch(() => undefined);
      return true;
    }
    try {
      if (m.type === 'queued') {
        this.inbound.arrive(m.session, decodeEnvelope(m.payload));
      } else {
        this.onAck(m.session, decodeAck(m.payload));
      }
    } catch {
      this.counters.malformed++;
    }
    return true;
  }

  async stats(): Promise<QueueStats> {
    const store = await this.open();
    const u = await store.usage();
    let inFlight = 0;
    for (const l of this.links.values()) inFlight += l.courier.inflight.size;
    return { backend: store.backend, pending: u.messages, bytes: u.bytes, dead: u.dead, inFlight, ...this.counters };
  }

  async list(recipient?: string, state: EntryState = 'pending', limit = 100): Promise<EntryInfo[]> {
    return (await this.open()).list(recipient, state, limit);
  }

  /** Dead letters of `recipient` back to pending (all, or these ids). */
  async retry(recipient: string, ids?: Uint8Array[]): Promise<number> {
    const n = await (await this.open()).retry(recipient, ids);
    if (n > 0) this.wake(recipient);
    return n;
  }

  async purge(recipient: string, state: EntryState = 'dead'): Promise<number> {
    return (await this.open()).purge(recipient, state);
  }

  /** Waits until what was delivered, acknowledged and received so far is committed. */
  async flush(): Promise<void> {
    await Promise.all([this.puts.settled(), this.acks.settled(), this.inbound.settled()]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    for (const l of this.links.values()) l.wakeup?.();
    const store = await this.store?.catch(() => null);
    if (store) {
      await Promise.all([...this.links.keys()].map((r) => store.release(r, this.owner).catch(() => undefined)));
      await store.close();
    }
  }

  private warn(message: string): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', message);
    else process.stderr.write(`\n*** peercomm queue WARNING: ${message} ***\n\n`);
  }

  private failure(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private track(session: Session): void {
    const entity = session.remote?.entityId;
    if (entity === undefined) return;
    const set = this.byEntity.get(entity) ?? new Set();
    set.add(session);
    this.byEntity.set(entity, set);
    session.once('close', () => {
      set.delete(session);
      if (set.size === 0 && this.byEntity.get(entity) === set) this.byEntity.delete(entity);
      const link = this.links.get(entity);
      if (link?.session === session) {
        link.session = null;
        link.courier.disconnected(Date.now());
        link.wakeup?.();
      }
    });
    // A recipient that connects to us gets its pending messages over that session.
    if (this.store !== null) this.links.get(entity)?.wakeup?.();
  }

  private startPolling(): void {
    if (this.poller !== null || this.closed) return;
    this.poller = setInterval(() => void this.poll(), this.options.pollMs);
    this.poller.unref();
    void this.poll();
  }

  /** Finds recipients with pending entries (after a restart, from other processes) and sweeps expiry. */
  private async poll(): Promise<void> {
    try {
      const store = await this.open();
      const now = Date.now();
      if (now - this.lastSweep >= this.options.sweepMs) {
        this.lastSweep = now;
        const swept = await store.sweep(now, SWEEP_BATCH);
        for (const e of swept.expired) this.removed(e.recipient, [e.id], 'expired');
      }
      for (const r of await store.recipients()) this.wake(r);
    } catch (err) {
      this.failure(err);
    }
  }

  private wake(recipient: string): void {
    if (this.closed) return;
    let link = this.links.get(recipient);
    if (link === undefined) {
      const o = this.options;
      link = { courier: new Courier({ window: o.window, ackTimeoutMs: o.ackTimeoutMs, backoff: o.backoff, random: Math.random }), session: null, running: false, wakeup: null };
      this.links.set(recipient, link);
    }
    link.courier.wake(Date.now());
    if (link.wakeup) link.wakeup();
    else if (!link.running) void this.drive(recipient, link);
  }

  /** The I/O loop of one recipient's Courier. */
  private async drive(recipient: string, link: Link): Promise<void> {
    link.running = true;
    const c = link.courier;
    try {
      while (!this.closed) {
        const now = Date.now();
        const action = c.next(now);
        if (action === 'idle') break;
        if (action === 'wait') {
          await this.sleep(link, c.deadline() - now);
        } else if (action === 'connect') {
          await this.connect(recipient, link);
        } else if (action === 'restart') {
          c.restart(now);
        } else if (action === 'release') {
          await (await this.open()).release(recipient, this.owner);
          c.released();
        } else {
          await this.lease(recipient, link);
        }
      }
    } catch (err) {
      this.failure(err);
      c.failed(Date.now());
      setTimeout(() => this.wake(recipient), this.options.backoff.minMs).unref();
    } finally {
      link.running = false;
      if (this.closed || c.state === 'idle') this.links.delete(recipient);
    }
  }

  private sleep(link: Link, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, Math.max(0, ms)) : null;
      function done(): void {
        if (timer) clearTimeout(timer);
        link.wakeup = null;
        resolve();
      }
      link.wakeup = done;
    });
  }

  private async connect(recipient: string, link: Link): Promise<void> {
    let session: Session | undefined;
    for (const s of this.byEntity.get(recipient) ?? []) if (s.state === SessionState.Ready) session = s;
    try {
      session ??= await this.host.connect(this.options.routes[recipient] ?? recipient);
      if (session.remote?.entityId !== recipient) {
        throw new PeerError(ErrorCode.UNKNOWN_SENDER, `the session reached ${session.remote?.entityId}, not ${recipient}`);
      }
    } catch {
      link.courier.failed(Date.now());
      return;
    }
    link.session = session;
    link.courier.connected(Date.now());
  }

  private async lease(recipient: string, link: Link): Promise<void> {
    const c = link.courier;
    const session = link.session;
    const store = await this.open();
    const o = this.options;
    const res = await store.lease(recipient, { owner: this.owner, after: c.after, max: c.room, leaseMs: o.leaseMs, maxAttempts: o.maxAttempts }, Date.now());
    this.removed(recipient, res.expired, 'expired');
    this.removed(recipient, res.dead, 'dead');
    if (!res.held) {
      c.failed(Date.now()); // another process delivers to this recipient; look again later
      return;
    }
    if (session === null || session.state !== SessionState.Ready) {
      c.disconnected(Date.now());
      return;
    }
    let prev = c.after;
    const sent: { key: string; pos: number }[] = [];
    let room = true;
    try {
      // Queued without waiting (no promise per entry); a full session is waited for after the slice.
      const now = Date.now();
      for (const e of res.entries) {
        room = session.write(envelope(e, prev, store.epoch, now), QUEUED);
        sent.push({ key: hex(e.id), pos: e.pos });
        prev = e.pos;
      }
    } catch (err) {
      // RATE_LIMITED on a live session: back off and start again; otherwise the session is gone.
      if (session.state === SessionState.Ready) {
        c.failed(Date.now());
        this.failure(err);
      } else {
        c.disconnected(Date.now());
      }
      return;
    }
    c.sent(sent, Date.now());
    if (!room) await drained(session, o.ackTimeoutMs);
  }

  private onAck(session: Session, ack: { kind: AckKind; ids: Uint8Array[] }): void {
    const recipient = session.remote!.entityId;
    const link = this.links.get(recipient);
    if (ack.kind === AckKind.Gap) {
      // Only the session we stream on can ask us to start again.
      if (link?.session === session) {
        link.courier.restart(Date.now());
        link.wakeup?.();
      }
      return;
    }
    // The positions this process sent them at, where it knows them: the store may then remove runs at once.
    const ids = ack.ids.map((id) => new Uint8Array(id));
    const positions = ids.map((id) => link?.courier.inflight.get(hex(id)) ?? 0);
    this.acks.add({ recipient, ids, positions }).catch((err) => this.failure(err));
  }

  private async commitAcks(items: AckBatch[]): Promise<void[]> {
    const store = await this.open();
    const by = new Map<string, AckBatch>();
    for (const it of items) {
      const all = by.get(it.recipient);
      if (all === undefined) by.set(it.recipient, { recipient: it.recipient, ids: [...it.ids], positions: [...it.positions] });
      else all.ids.push(...it.ids), all.positions.push(...it.positions);
    }
    for (const { recipient, ids, positions } of by.values()) this.removed(recipient, await store.ack(recipient, ids, positions), 'delivered');
    return [];
  }

  /** Entries gone from the store: counted, reported, no longer outstanding. */
  private removed(recipient: string, ids: Uint8Array[], why: 'delivered' | 'expired' | 'dead'): void {
    if (ids.length === 0) return;
    const link = this.links.get(recipient);
    link?.courier.acked(ids.map(hex), Date.now());
    this.counters[why === 'dead' ? 'deadLettered' : why] += ids.length;
    for (const id of ids) this.emit(why, { id, recipient });
    link?.wakeup?.();
  }
}

/** The wire form of an entry: prev is the position sent before it in this pass, the TTL what is left of it. */
function envelope(e: OutboxEntry, prev: number, epoch: Uint8Array, now: number): Buffer {
  const ttlSeconds = Math.max(1, Math.ceil((e.expiresAt - now) / 1000));
  return encodeEnvelope({ id: e.id, epoch, pos: e.pos, prev, ttlSeconds, type: e.type, payload: e.payload });
}

export type { QueuedMessage };
