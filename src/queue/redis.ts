/**
 * The Redis backend: several agent-server processes sharing one identity and one queue. Each
 * operation is one Lua script (redis-scripts.ts), atomic and idempotent (a purge: one per slice).
 * Client: @redis/client (node-redis' core; docs/QUEUE.md says why). At open, the key layout is
 * checked (an older one is refused, not misread) and so is persistence: without AOF a restart of
 * Redis loses the queue, and the caller is warned loudly.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { ErrorCode, PeerError } from '../errors.js';
import * as lua from './redis-scripts.js';
import {
  EPOCH_BYTES, MESSAGE_ID_BYTES, type AcceptRequest, type AcceptResult, type EntryInfo, type EntryState, type LeaseRequest, type LeaseResult,
  type OutboxEntry, type PutRequest, type PutResult, type QueueStore, type Quota, type Usage,
} from './store.js';

export interface RedisStoreOptions {
  /** redis://host:port (default redis://127.0.0.1:6379). */
  url?: string;
  /** Key prefix, the hash tag of every key (default 'pc'). */
  prefix?: string;
  /** Called with a warning (AOF off); default: written to stderr. */
  warn?: (message: string) => void;
}

type Reply = Buffer | number | null | Reply[];

/** The part of a node-redis client used here. */
interface Client {
  connect(): Promise<unknown>;
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
  withTypeMapping(mapping: Record<number, unknown>): Client;
  on(event: 'error', fn: (err: Error) => void): unknown;
  close(): Promise<unknown>;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const hex = (b: Uint8Array): string => buf(b).toString('hex');
const str = (r: Reply): string => String(r);
const int = (r: Reply): number => Number(String(r));

/**
 * An entry as stored ({p}:e:r, one string): id (16 bytes), expiry and creation (ms, 15 decimal
 * digits each), type (3 digits), then the payload. Decimal so that the scripts read the expiry
 * with string.sub and tonumber.
 */
export const HEADER_BYTES = MESSAGE_ID_BYTES + 15 + 15 + 3;
const TIME_DIGITS = 15;

function packEntry(r: PutRequest): Buffer {
  const expires = Math.ceil(r.expiresAt);
  const e = Buffer.allocUnsafe(HEADER_BYTES + r.payload.byteLength);
  e.set(r.id, 0);
  e.write(String(expires).padStart(TIME_DIGITS, '0'), MESSAGE_ID_BYTES, 'latin1');
  e.write(String(Math.floor(r.createdAt)).padStart(TIME_DIGITS, '0'), MESSAGE_ID_BYTES + TIME_DIGITS, 'latin1');
  e.write(String(r.type).padStart(3, '0'), MESSAGE_ID_BYTES + 2 * TIME_DIGITS, 'latin1');
  e.set(r.payload, HEADER_BYTES);
  return e;
}

function header(e: Buffer): { id: Buffer; expiresAt: number; createdAt: number; type: number } {
  const at = (from: number, len: number): number => Number(e.toString('latin1', from, from + len));
  return {
    id: e.subarray(0, MESSAGE_ID_BYTES), expiresAt: at(MESSAGE_ID_BYTES, TIME_DIGITS),
    createdAt: at(MESSAGE_ID_BYTES + TIME_DIGITS, TIME_DIGITS), type: at(MESSAGE_ID_BYTES + 2 * TIME_DIGITS, 3),
  };
}

/** LIST and GET describe an entry in this many fields: recipient, pos, header, size, attempts, dead. */
const DESCRIBED = 6;

function info(f: Reply[], i: number): EntryInfo {
  const h = header(f[i + 2] as Buffer);
  return {
    id: h.id, recipient: str(f[i]!), pos: int(f[i + 1]!), type: h.type, size: int(f[i + 3]!), createdAt: h.createdAt,
    expiresAt: h.expiresAt, attempts: int(f[i + 4]!), state: int(f[i + 5]!) === 1 ? 'dead' : 'pending',
  };
}

/** Entries a purge removes per script. */
const PURGE_SLICE = 10_000;
/** Handled marks are written with the next accept, or after this long without one (see handled()). */
const MARK_DELAY_MS = 50;
/** Entries per put script (a 1 KiB entry holds Redis ~5–15 µs: a slice ~1–2 ms). */
const PUT_SLICE = 128;

export class RedisStore implements QueueStore {
  readonly backend = 'redis' as const;
  private readonly shas = new Map<string, string>();
  /** Receiver: ids handed to the application whose handled mark is not written yet (see handled()). */
  private readonly marks: { sender: string; id: Uint8Array }[] = [];
  private markTimer: NodeJS.Timeout | null = null;

  private constructor(private readonly client: Client, private readonly prefix: string, readonly epoch: Uint8Array) {}

  static async open(opts: RedisStoreOptions = {}): Promise<RedisStore> {
    let redis: { createClient(o: object): Client; RESP_TYPES: { BLOB_STRING: number }; ErrorReply: new () => Error };
    try {
      redis = createRequire(import.meta.url)('@redis/client');
    } catch (err) {
      throw new PeerError(ErrorCode.INVALID_STATE, `the Redis queue needs @redis/client, which did not load: ${(err as Error).message}`);
    }
    const base = redis.createClient({ url: opts.url ?? 'redis://127.0.0.1:6379', socket: { reconnectStrategy: (n: number) => Math.min(50 * 2 ** n, 2000) } });
    base.on('error', () => undefined); // it reconnects by itself; the commands that failed reject
    try {
      await base.connect();
    } catch (err) {
      throw new PeerError(ErrorCode.INVALID_STATE, `cannot reach Redis at ${opts.url}: ${(err as Error).message}`);
    }
    const client = base.withTypeMapping({ [redis.RESP_TYPES.BLOB_STRING]: Buffer });
    const prefix = `{${opts.prefix ?? 'pc'}}`;
    // Redis going away now (a restart) must not fail the open: the setup is idempotent, so it is
    // done again once the client is back, as connect() itself waits for Redis. A reply with an
    // error (other than LOADING, a restarted Redis replaying its AOF) fails it.
    let persistence: string;
    let opened: Reply[];
    for (;;) {
      try {
        persistence = String(await client.sendCommand(['INFO', 'persistence']));
        opened = (await client.sendCommand(['EVAL', lua.OPEN, '0', prefix, randomBytes(EPOCH_BYTES).toString('hex')])) as Reply[];
        break;
      } catch (err) {
        if (err instanceof redis.ErrorReply && !/^LOADING/.test(err.message)) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!/aof_enabled:1/.test(persistence)) {
      (opts.warn ?? ((m) => process.stderr.write(`\n*** peercomm queue WARNING: ${m} ***\n\n`)))(
        `Redis at ${opts.url ?? 'redis://127.0.0.1:6379'} runs without AOF (appendonly no): a restart of Redis loses queued messages that deliver() acknowledged. Set "appendonly yes".`,
      );
    }
    if (str(opened[0]!) !== 'ok') {
      await client.close().catch(() => undefined);
      throw new PeerError(ErrorCode.INVALID_STATE, str(opened[0]!) === 'old'
        ? `the Redis queue under prefix ${prefix} holds entries in layout 1 (peercomm before layout 2: keys ${prefix}:m:*, ${prefix}:exp), which this version does not read: deliver them with the version that stored them, or remove them (redis-cli --scan --pattern '${prefix}:*' | xargs redis-cli del), or use another prefix`
        : `the Redis queue under prefix ${prefix} has layout ${str(opened[1]!)}, this version reads layout ${lua.LAYOUT}: use the version that wrote it, or another prefix`);
    }
    return new RedisStore(client, prefix, Buffer.from(str(opened[1]!), 'hex'));
  }

  /** Runs a script by its SHA, loading it first (again after a Redis restart: NOSCRIPT). */
  private async run(script: string, args: (string | number | Buffer)[]): Promise<Reply> {
    const argv = [this.prefix, ...args].map((a) => (typeof a === 'number' ? String(a) : a));
    for (let attempt = 0; ; attempt++) {
      let sha = this.shas.get(script);
      if (sha === undefined) {
        sha = String(await this.client.sendCommand(['SCRIPT', 'LOAD', script]));
        this.shas.set(script, sha);
      }
      try {
        return (await this.client.sendCommand(['EVALSHA', sha, '0', ...argv])) as Reply;
      } catch (err) {
        if (attempt > 0 || !/NOSCRIPT/.test((err as Error).message)) throw err;
        this.shas.delete(script);
      }
    }
  }

  /**
   * In scripts of at most PUT_SLICE entries, all sent at once (one pipeline, run in order): Redis
   * is held for one slice at a time, so other processes' leases, acks and accepts run in between
   * instead of waiting for the whole batch. Each entry is atomic on its own, as the interface asks.
   */
  async put(requests: PutRequest[], quota: Quota, _now: number): Promise<PutResult[]> {
    const slices: Promise<PutResult[]>[] = [];
    for (let i = 0; i < requests.length; i += PUT_SLICE) slices.push(this.putSlice(requests.slice(i, i + PUT_SLICE), quota));
    return (await Promise.all(slices)).flat();
  }

  private async putSlice(requests: PutRequest[], quota: Quota): Promise<PutResult[]> {
    // Grouped by recipient (the script answers group by group); `order` maps the answers back.
    const groups = new Map<string, number[]>();
    requests.forEach((r, i) => {
      const g = groups.get(r.recipient);
      if (g === undefined) groups.set(r.recipient, [i]);
      else g.push(i);
    });
    const args: (string | number | Buffer)[] = [quota.messages, quota.bytes];
    const order: number[] = [];
    for (const [recipient, indexes] of groups) {
      args.push(recipient, indexes.length);
      for (const i of indexes) {
        args.push(packEntry(requests[i]!));
        order.push(i);
      }
    }
    const out = (await this.run(lua.PUT, args)) as number[];
    const results: PutResult[] = new Array(requests.length);
    out.forEach((v, j) => {
      results[order[j]!] = v === -1 ? { ok: false, limit: 'messages' } : v === -2 ? { ok: false, limit: 'bytes' } : { ok: true, pos: v };
    });
    return results;
  }

  async lease(recipient: string, req: LeaseRequest, now: number): Promise<LeaseResult> {
    const [held, flat, expired, dead] = (await this.run(lua.LEASE, [recipient, req.owner, req.after, req.max, req.leaseMs, req.maxAttempts, now])) as [number, Reply[], Buffer[], Buffer[]];
    const entries: OutboxEntry[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const e = flat[i + 1] as Buffer;
      const h = header(e);
      entries.push({ id: h.id, recipient, pos: int(flat[i]!), type: h.type, payload: e.subarray(HEADER_BYTES), createdAt: h.createdAt, expiresAt: h.expiresAt, attempts: int(flat[i + 2]!) });
    }
    return { held: held === 1, entries, expired, dead };
  }

  async ack(recipient: string, ids: Uint8Array[]): Promise<Uint8Array[]> {
    if (ids.length === 0) return [];
    return (await this.run(lua.ACK, [recipient, ...ids.map(buf)])) as Buffer[];
  }

  async release(recipient: string, owner: string): Promise<void> {
    await this.run(lua.RELEASE, [recipient, owner]);
  }

  async sweep(now: number, limit: number): Promise<{ expired: { recipient: string; id: Uint8Array }[]; seenPruned: number }> {
    const [flat, pruned] = (await this.run(lua.SWEEP, [now, limit])) as [Reply[], number];
    const expired: { recipient: string; id: Uint8Array }[] = [];
    for (let i = 0; i < flat.length; i += 2) expired.push({ recipient: str(flat[i]!), id: flat[i + 1] as Buffer });
    return { expired, seenPruned: pruned };
  }

  async usage(recipient?: string): Promise<Usage> {
    const [messages, bytesUsed, dead] = (await this.run(lua.USAGE, [recipient ?? ''])) as number[];
    return { messages: messages!, bytes: bytesUsed!, dead: dead! };
  }

  async recipients(): Promise<string[]> {
    return ((await this.run(lua.RECIPIENTS, [])) as Reply[]).map(str).sort();
  }

  async list(recipient: string | undefined, state: EntryState, limit: number): Promise<EntryInfo[]> {
    const flat = (await this.run(lua.LIST, [recipient ?? '', state === 'dead' ? 'dl' : 'o', limit])) as Reply[];
    const out: EntryInfo[] = [];
    for (let i = 0; i < flat.length; i += DESCRIBED) out.push(info(flat, i));
    return out;
  }

  async get(id: Uint8Array): Promise<(EntryInfo & { payload: Uint8Array }) | null> {
    const f = (await this.run(lua.GET, [buf(id)])) as Reply[];
    if (f.length === 0) return null;
    return { ...info(f, 0), payload: (f[DESCRIBED] as Buffer).subarray(HEADER_BYTES) };
  }

  async retry(recipient: string, ids?: Uint8Array[]): Promise<number> {
    return (await this.run(lua.RETRY, [recipient, ...(ids ?? []).map(buf)])) as number;
  }

  /** In slices of PURGE_SLICE entries, each one script, so that Redis is never blocked for long. */
  async purge(recipient: string, state: EntryState): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await this.run(lua.PURGE, [recipient, state === 'dead' ? 'dl' : 'o', PURGE_SLICE])) as number;
      total += n;
      if (n < PURGE_SLICE) return total;
    }
  }

  /** The pending handled marks are written first, in the same script (see handled()). */
  async accept(requests: AcceptRequest[], maxSeenPerSender: number, _now: number): Promise<AcceptResult[]> {
    if (requests.length === 0) return [];
    const args: (string | number)[] = [maxSeenPerSender];
    const taken = this.takeMarks(args);
    args.push(requests.length);
    for (const r of requests) args.push(r.sender, hex(r.epoch), hex(r.id), r.pos, r.prev, r.keepUntil);
    try {
      return ((await this.run(lua.ACCEPT, args)) as Reply[]).map((v) => str(v) as AcceptResult);
    } catch (err) {
      this.marks.unshift(...taken);
      throw err;
    }
  }

  /**
   * As SqliteStore: the marks wait for the next accept's script (a copy arriving later then finds
   * them), or MARK_DELAY_MS, or close(): one script and one round trip per batch of arrivals
   * instead of two. A crash before they are written leaves the ids seen and not handled:
   * delivered again with redelivered: true (docs/QUEUE.md "Receiver side").
   */
  handled(items: { sender: string; id: Uint8Array }[]): Promise<void> {
    for (const it of items) this.marks.push(it);
    if (this.markTimer === null && this.marks.length > 0) {
      this.markTimer = setTimeout(() => {
        this.markTimer = null;
        // A failure leaves them for the next accept or timer (retried, never dropped).
        this.writeMarks().catch(() => this.handled([]));
      }, MARK_DELAY_MS);
      this.markTimer.unref();
    }
    return Promise.resolve();
  }

  /**
   * Takes every pending mark into `args` (count, then sender and id each). Taken out at once, so
   * a timer's write and an accept never carry the same marks; both go on one connection, in
   * order. The caller puts them back if its script fails.
   */
  private takeMarks(args: (string | number)[]): { sender: string; id: Uint8Array }[] {
    const taken = this.marks.splice(0, this.marks.length);
    args.push(taken.length);
    for (const it of taken) args.push(it.sender, hex(it.id));
    return taken;
  }

  private async writeMarks(): Promise<void> {
    if (this.marks.length === 0) return;
    const args: (string | number)[] = [];
    const taken = this.takeMarks(args);
    try {
      await this.run(lua.HANDLED, args.slice(1));
    } catch (err) {
      this.marks.unshift(...taken);
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.markTimer !== null) clearTimeout(this.markTimer);
    this.markTimer = null;
    await this.writeMarks().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }
}
