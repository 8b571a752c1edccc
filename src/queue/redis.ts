/**
 * The Redis backend: several agent-server processes sharing one identity and one queue. Each
 * operation is one Lua script (redis-scripts.ts), atomic and idempotent. Client: @redis/client
 * (node-redis' core; docs/QUEUE.md says why). At open, persistence is checked: without AOF a
 * restart of Redis loses the queue, and the caller is warned loudly.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { ErrorCode, PeerError } from '../errors.js';
import * as lua from './redis-scripts.js';
import {
  EPOCH_BYTES, type AcceptRequest, type AcceptResult, type EntryInfo, type EntryState, type LeaseRequest, type LeaseResult,
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

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const bytes = (r: Reply): Buffer => Buffer.from(String(r), 'hex');
const str = (r: Reply): string => String(r);
const int = (r: Reply): number => Number(String(r));

export class RedisStore implements QueueStore {
  readonly backend = 'redis' as const;
  private readonly shas = new Map<string, string>();

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
    let epoch: Buffer;
    for (;;) {
      try {
        persistence = String(await client.sendCommand(['INFO', 'persistence']));
        await client.sendCommand(['SET', `${prefix}:epoch`, randomBytes(EPOCH_BYTES).toString('hex'), 'NX']);
        epoch = bytes((await client.sendCommand(['GET', `${prefix}:epoch`])) as Reply);
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
    return new RedisStore(client, prefix, epoch);
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

  async put(requests: PutRequest[], quota: Quota, _now: number): Promise<PutResult[]> {
    if (requests.length === 0) return [];
    const args: (string | number | Buffer)[] = [quota.messages, quota.bytes, requests.length];
    for (const r of requests) args.push(hex(r.id), r.recipient, r.type, Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength), r.createdAt, r.expiresAt);
    const out = (await this.run(lua.PUT, args)) as number[];
    return out.map((v): PutResult => (v === -1 ? { ok: false, limit: 'messages' } : v === -2 ? { ok: false, limit: 'bytes' } : { ok: true, pos: v }));
  }

  async lease(recipient: string, req: LeaseRequest, now: number): Promise<LeaseResult> {
    const [held, flat, expired, dead] = (await this.run(lua.LEASE, [recipient, req.owner, req.after, req.max, req.leaseMs, req.maxAttempts, now])) as [number, Reply[], Reply[], Reply[]];
    const entries: OutboxEntry[] = [];
    for (let i = 0; i < flat.length; i += 7) {
      entries.push({
        id: bytes(flat[i]!), recipient, pos: int(flat[i + 1]!), type: int(flat[i + 2]!), payload: flat[i + 3] as Buffer,
        createdAt: int(flat[i + 4]!), expiresAt: int(flat[i + 5]!), attempts: int(flat[i + 6]!),
      });
    }
    return { held: held === 1, entries, expired: expired.map(bytes), dead: dead.map(bytes) };
  }

  async ack(recipient: string, ids: Uint8Array[]): Promise<Uint8Array[]> {
    if (ids.length === 0) return [];
    return ((await this.run(lua.ACK, [recipient, ...ids.map(hex)])) as Reply[]).map(bytes);
  }

  async release(recipient: string, owner: string): Promise<void> {
    await this.run(lua.RELEASE, [recipient, owner]);
  }

  async sweep(now: number, limit: number): Promise<{ expired: { recipient: string; id: Uint8Array }[]; seenPruned: number }> {
    const [flat, pruned] = (await this.run(lua.SWEEP, [now, limit])) as [Reply[], number];
    const expired: { recipient: string; id: Uint8Array }[] = [];
    for (let i = 0; i < flat.length; i += 2) expired.push({ recipient: str(flat[i]!), id: bytes(flat[i + 1]!) });
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
    const flat = (await this.run(lua.LIST, [recipient ?? '', state === 'dead' ? 'd' : 'q', limit])) as Reply[];
    const out: EntryInfo[] = [];
    for (let i = 0; i < flat.length; i += 9) {
      const f = flat.slice(i, i + 9);
      out.push({
        id: bytes(f[0]!), recipient: str(f[1]!), pos: int(f[2]!), type: int(f[3]!), size: int(f[4]!), createdAt: int(f[5]!),
        expiresAt: int(f[6]!), attempts: int(f[7]!), state: str(f[8]!) === '1' ? 'dead' : 'pending',
      });
    }
    return out;
  }

  async get(id: Uint8Array): Promise<(EntryInfo & { payload: Uint8Array }) | null> {
    const [f, payload] = (await this.run(lua.GET, [hex(id)])) as [Reply[], Reply];
    if (f[0] === null || payload === null) return null;
    return {
      id, recipient: str(f[0]!), pos: int(f[1]!), type: int(f[2]!), size: int(f[3]!), createdAt: int(f[4]!), expiresAt: int(f[5]!),
      attempts: int(f[6]!), state: str(f[7]!) === '1' ? 'dead' : 'pending', payload: payload as Buffer,
    };
  }

  async retry(recipient: string, ids?: Uint8Array[]): Promise<number> {
    return (await this.run(lua.RETRY, [recipient, ...(ids ?? []).map(hex)])) as number;
  }

  async purge(recipient: string, state: EntryState): Promise<number> {
    return (await this.run(lua.PURGE, [recipient, state === 'dead' ? 'd' : 'q'])) as number;
  }

  async accept(requests: AcceptRequest[], maxSeenPerSender: number, _now: number): Promise<AcceptResult[]> {
    if (requests.length === 0) return [];
    const args: (string | number)[] = [maxSeenPerSender, requests.length];
    for (const r of requests) args.push(r.sender, hex(r.epoch), hex(r.id), r.pos, r.prev, r.keepUntil);
    return ((await this.run(lua.ACCEPT, args)) as Reply[]).map((v) => str(v) as AcceptResult);
  }

  async handled(items: { sender: string; id: Uint8Array }[]): Promise<void> {
    if (items.length === 0) return;
    await this.run(lua.HANDLED, items.flatMap((it) => [it.sender, hex(it.id)]));
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }
}
