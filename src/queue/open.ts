/** Chooses and opens the store a queue's options ask for (docs/QUEUE.md "Backends"). */
import type { Identity } from '../crypto/index.js';
import type { QueueOptions } from './options.js';
import { RedisStore } from './redis.js';
import { SqliteStore } from './sqlite.js';
import type { QueueStore } from './store.js';

/** The SQLite file next to a key file: `agent.key` → `agent.key.queue.db`. */
export function defaultQueuePath(identity: Identity): string {
  return identity.file === undefined ? ':memory:' : `${identity.file}.queue.db`;
}

export async function openStore(o: QueueOptions, identity: Identity, warn: (m: string) => void): Promise<QueueStore> {
  if (o.store !== undefined) return o.store;
  if (o.redis !== undefined) return RedisStore.open({ ...o.redis, warn });
  return SqliteStore.open({ path: o.path ?? defaultQueuePath(identity), durability: o.durability });
}
