/**
 * The receiving side of the queue: queued messages of one tick are checked against the seen
 * set in one store call, new ones handed to the application, then acknowledged (one ack message
 * per session) and marked handled. docs/QUEUE.md "Receiver side".
 */
import type { Session } from '../peer/session.js';
import { messageTypeName, type MessageType } from '../wire/index.js';
import { Batcher } from './batcher.js';
import { AckKind, MAX_ACK_IDS, encodeAck, type Envelope } from './envelope.js';
import { SEEN_CLOCK_ALLOWANCE_MS } from './options.js';
import type { AcceptResult, QueueStore } from './store.js';

/** What `peer.queue.on('message')` delivers. */
export interface QueuedMessage {
  /** The sender's 16-byte message id. */
  id: Uint8Array;
  /** The sender's entity id and key fingerprint (the seen set is keyed by the fingerprint). */
  from: string;
  fingerprint: string;
  type: MessageType | number;
  payload: Uint8Array;
  /** True when this id was handed to the application before a crash that came before it was marked handled. */
  redelivered: boolean;
  session: Session;
}

export interface InboundCounters {
  received: number;
  duplicates: number;
  refused: number;
  gaps: number;
}

interface Arrival {
  session: Session;
  env: Envelope;
  sender: string;
}

export class Inbound {
  private readonly batcher: Batcher<Arrival, void>;
  /**
   * Handed to the application, not yet marked handled in the store (the mark failed: a store
   * restarting). Marked with the next batch; until then a copy is a duplicate, not a redelivery.
   * Grows only while accept() succeeds and handled() fails, i.e. by what one store outage lets in.
   */
  private readonly unmarked = new Map<string, { sender: string; id: Uint8Array }>();
  /**
   * Sessions whose arrivals a failed accept() left unhanded: it may have been written before the
   * failure (a store killed before it answered), so later messages of that session would pass
   * the order check and overtake them. What still arrives on such a session is dropped unacked
   * and the session is closed: the sender sends again, in order, on a new one.
   */
  private readonly broken = new WeakSet<Session>();

  constructor(
    private readonly store: () => Promise<QueueStore>,
    private readonly limits: { maxTtl: number; maxSeenPerSender: number },
    /** Hands a message to the application; throws if a handler threw (then it is not acknowledged). */
    private readonly handOver: (m: QueuedMessage) => void,
    private readonly onRefused: (m: { from: string; fingerprint: string; id: Uint8Array }) => void,
    private readonly counters: InboundCounters,
  ) {
    this.batcher = new Batcher((items) => this.commit(items));
  }

  arrive(session: Session, env: Envelope): void {
    if (this.broken.has(session)) return;
    const sender = session.remote!.fingerprint;
    // Failures of the store are retried by the sender (no ack went out).
    this.batcher.push({ session, env, sender });
  }

  settled(): Promise<void> {
    return this.batcher.settled();
  }

  private async commit(queued: Arrival[]): Promise<void[]> {
    const items = queued.filter((a) => !this.broken.has(a.session));
    if (items.length === 0) return [];
    const now = Date.now();
    let store: QueueStore;
    let results: AcceptResult[];
    try {
      store = await this.store();
      results = await store.accept(items.map(({ env, sender }) => ({
        sender, epoch: env.epoch, id: env.id, pos: env.pos, prev: env.prev,
        keepUntil: now + Math.min(env.ttlSeconds * 1000, this.limits.maxTtl) + SEEN_CLOCK_ALLOWANCE_MS,
      })), this.limits.maxSeenPerSender, now);
    } catch (err) {
      for (const a of items) {
        if (this.broken.has(a.session)) continue;
        this.broken.add(a.session);
        void a.session.close().catch(() => undefined);
      }
      throw err;
    }
    const acks = new Map<Session, Uint8Array[]>();
    const gaps = new Map<Session, Uint8Array>();
    const handed: { sender: string; id: Uint8Array }[] = [];
    /** Keys of `handed`, built only when a copy may be among them (the store answered 'redeliver'). */
    let inBatch: Set<string> | null = null;
    items.forEach((a, i) => {
      let r = results[i] as AcceptResult;
      // A second copy in this batch, or of one whose mark is not written (the store says 'redeliver': seen, not yet marked), is a duplicate.
      let key: string | null = null;
      if (r === 'redeliver' || this.unmarked.size > 0) {
        key = keyOf(a.sender, a.env.id);
        if (r === 'redeliver') inBatch ??= new Set(handed.map((h) => keyOf(h.sender, h.id)));
        if (this.unmarked.has(key) || inBatch?.has(key)) r = 'duplicate';
      }
      if (r === 'new' || r === 'redeliver') {
        try {
          this.handOver({
            id: a.env.id, from: a.session.remote!.entityId, fingerprint: a.sender, type: messageTypeName(a.env.type) ?? a.env.type,
            payload: a.env.payload, redelivered: r === 'redeliver', session: a.session,
          });
        } catch {
          return; // a handler threw: not handled, not acknowledged; the sender will send it again
        }
        this.counters.received++;
        handed.push({ sender: a.sender, id: a.env.id });
        if (inBatch !== null) inBatch.add(key ?? keyOf(a.sender, a.env.id));
      } else if (r === 'duplicate') {
        this.counters.duplicates++;
      } else if (r === 'gap') {
        this.counters.gaps++;
        if (!gaps.has(a.session)) gaps.set(a.session, a.env.id);
        return;
      } else {
        this.counters.refused++;
        this.onRefused({ from: a.session.remote!.entityId, fingerprint: a.sender, id: a.env.id });
        return;
      }
      const list = acks.get(a.session) ?? [];
      list.push(a.env.id);
      acks.set(a.session, list);
    });
    for (const [session, ids] of acks) {
      for (let i = 0; i < ids.length; i += MAX_ACK_IDS) send(session, encodeAck(AckKind.Acked, ids.slice(i, i + MAX_ACK_IDS)));
    }
    for (const [session, id] of gaps) send(session, encodeAck(AckKind.Gap, [id]));
    if (handed.length > 0 || this.unmarked.size > 0) {
      const marks = this.unmarked.size > 0 ? [...this.unmarked.values(), ...handed] : handed;
      try {
        await store.handled(marks);
      } catch (err) {
        for (const it of handed) this.unmarked.set(keyOf(it.sender, it.id), it);
        throw err;
      }
      this.unmarked.clear();
    }
    return [];
  }
}

const keyOf = (sender: string, id: Uint8Array): string => `${sender}:${Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')}`;

/** An ack lost with its session is harmless: the sender sends again and gets a duplicate's ack. */
function send(session: Session, body: Uint8Array): void {
  session.send(body, { type: 'queue_ack' }).catch(() => undefined);
}
