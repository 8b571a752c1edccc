/**
 * `peercomm queue`: an operator's view of an outbox (docs/QUEUE.md "Operations"), opened
 * directly (SQLite file or Redis), no network: list entries, inspect one, retry dead letters,
 * purge. Safe while the agent runs: each command is one store transaction (one Lua script), and
 * the agent's next poll sees the result. Bad arguments are UsageErrors (exit code 2).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ErrorCode, PeerError } from '../errors.js';
import { RedisStore } from '../queue/redis.js';
import { SqliteStore } from '../queue/sqlite.js';
import { MESSAGE_ID_BYTES, type EntryInfo, type QueueStore } from '../queue/store.js';
import { positive, UsageError } from './args.js';

export const QUEUE_USAGE = `usage: peercomm queue <command> [store] [options]
  list [RECIPIENT] [--dead] [--limit N (default 100)] [--json]
                              pending entries (or dead letters), oldest first, and the totals
  inspect <ID> [--json]       one entry (32 hex chars) with its payload (text, or hex when binary)
  retry <RECIPIENT> [ID...]   dead letters back to pending (all of the recipient's, or these)
  purge <RECIPIENT> [--pending]
                              removes the recipient's dead letters (--pending: its pending entries)
store: --db FILE (the SQLite outbox; default <--key>.queue.db, --key defaulting to ./peercomm.key),
       or --redis URL [--prefix P (default pc)] [--timeout MS (default 10000)]`;

const COMMANDS: Record<string, { min: number; max: number }> = {
  list: { min: 0, max: 1 }, inspect: { min: 1, max: 1 }, retry: { min: 1, max: Infinity }, purge: { min: 1, max: 1 },
};
/** Bytes of a payload that `inspect` prints. */
const PREVIEW_BYTES = 1024;

function id(value: string): Uint8Array {
  if (!new RegExp(`^[0-9a-fA-F]{${MESSAGE_ID_BYTES * 2}}$`).test(value)) {
    throw new UsageError(`queue: a message id is ${MESSAGE_ID_BYTES * 2} hex characters, got ${JSON.stringify(value)}`);
  }
  return Buffer.from(value, 'hex');
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const time = (ms: number): string => new Date(ms).toISOString();

function line(e: EntryInfo): string {
  return `${hex(e.id)} ${e.recipient} #${e.pos} ${e.state} type ${e.type} ${e.size} B attempts ${e.attempts} created ${time(e.createdAt)} expires ${time(e.expiresAt)}`;
}

function json(e: EntryInfo & { payload?: Uint8Array }): string {
  const { payload, ...rest } = e;
  return JSON.stringify({ ...rest, id: hex(e.id), ...(payload ? { payload: hex(payload) } : {}) });
}

/** UTF-8 text without control characters (tab, newline aside) when it is that, else hex. */
function preview(payload: Uint8Array): string {
  const head = Buffer.from(payload.buffer, payload.byteOffset, Math.min(payload.length, PREVIEW_BYTES));
  const more = payload.length > PREVIEW_BYTES ? ` … (${payload.length - PREVIEW_BYTES} B more)` : '';
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head);
  const printable = !text.includes('\uFFFD') && !/[\p{Cc}]/u.test(text.replace(/[\t\n]/g, ''));
  return printable ? `text: ${text}${more}` : `hex: ${head.toString('hex')}${more}`;
}

async function openStore(values: { db?: string; key?: string; redis?: string; prefix?: string; timeout?: string }): Promise<QueueStore> {
  if (values.redis !== undefined) {
    if (values.db !== undefined) throw new UsageError('queue: --db and --redis name two different stores; give one');
    if (!/^rediss?:\/\//.test(values.redis)) throw new UsageError(`queue: --redis must be a redis:// URL, got ${JSON.stringify(values.redis)}`);
    const ms = positive(values.timeout, 10_000, '--timeout', 3_600_000);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PeerError(ErrorCode.TIMEOUT, `cannot reach Redis at ${values.redis} within ${ms} ms (--timeout)`)), ms);
    });
    try {
      return await Promise.race([RedisStore.open({ url: values.redis, prefix: values.prefix, warn: (m) => process.stderr.write(`peercomm: warning: ${m}\n`) }), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
  if (values.prefix !== undefined) throw new UsageError('queue: --prefix goes with --redis');
  const file = values.db ?? `${values.key ?? 'peercomm.key'}.queue.db`;
  // Opening creates a database: an operator's typo must not make an empty outbox look like a drained one.
  if (!existsSync(file)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `no queue database at ${file} (--db FILE, or --key FILE for FILE.queue.db)`);
  return SqliteStore.open({ path: file });
}

export async function runQueue(args: string[], log: (line: string) => void): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' }, db: { type: 'string' }, key: { type: 'string' }, redis: { type: 'string' },
        prefix: { type: 'string' }, timeout: { type: 'string' }, dead: { type: 'boolean' }, pending: { type: 'boolean' },
        limit: { type: 'string' }, json: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new UsageError(`queue: ${(err as Error).message.split('\n')[0]}`);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') return log(QUEUE_USAGE);
  if (command === undefined) throw new UsageError('queue: a command is needed (list, inspect, retry, purge)');
  if (!Object.hasOwn(COMMANDS, command)) throw new UsageError(`queue: unknown command ${JSON.stringify(command)}`);
  const shape = COMMANDS[command]!;
  if (rest.length < shape.min) throw new UsageError(`queue ${command} needs ${command === 'inspect' ? 'a message id' : 'a recipient'}`);
  if (rest.length > shape.max) throw new UsageError(`queue ${command}: unexpected argument ${JSON.stringify(rest[shape.max])}`);
  if (values.dead && command !== 'list') throw new UsageError(`queue ${command}: --dead goes with list`);
  if (values.pending && command !== 'purge') throw new UsageError(`queue ${command}: --pending goes with purge`);
  const limit = positive(values.limit, 100, '--limit', 1_000_000);
  if (!Number.isInteger(limit)) throw new UsageError('queue: --limit must be a whole number');
  const ids = command === 'inspect' || command === 'retry' ? rest.slice(command === 'retry' ? 1 : 0).map(id) : [];

  const store = await openStore(values);
  try {
    switch (command) {
      case 'list': {
        const recipient = rest[0];
        const entries = await store.list(recipient, values.dead ? 'dead' : 'pending', limit);
        for (const e of entries) log(values.json ? json(e) : line(e));
        const u = await store.usage(recipient);
        if (!values.json) log(`${recipient ?? 'all recipients'}: ${u.messages} pending, ${u.dead} dead, ${u.bytes} B (${store.backend})`);
        return;
      }
      case 'inspect': {
        const e = await store.get(ids[0]!);
        if (e === null) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `no entry ${rest[0]} in the queue (delivered, expired or purged)`);
        log(values.json ? json(e) : `${line(e)}\npayload ${preview(e.payload)}`);
        return;
      }
      case 'retry': {
        const n = await store.retry(rest[0]!, ids.length > 0 ? ids : undefined);
        log(`${n} dead letter${n === 1 ? '' : 's'} of ${rest[0]} back to pending`);
        return;
      }
      case 'purge': {
        const state = values.pending ? 'pending' : 'dead';
        const n = await store.purge(rest[0]!, state);
        log(`purged ${n} ${state === 'dead' ? `dead letter${n === 1 ? '' : 's'}` : `pending entr${n === 1 ? 'y' : 'ies'}`} of ${rest[0]}`);
        return;
      }
    }
  } finally {
    await store.close();
  }
}
