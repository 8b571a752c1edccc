export { OfflineQueue, type QueueHost, type QueueStats, type QueuedMessage } from './queue.js';
export { DEFAULT_TTL_MS, DEFAULT_MAX_TTL_MS, MAX_TTL_MS, type QueueOptions } from './options.js';
export { SqliteStore, type SqliteStoreOptions, type Durability } from './sqlite.js';
export { RedisStore, type RedisStoreOptions } from './redis.js';
export { defaultQueuePath } from './open.js';
export type {
  QueueStore, PutRequest, PutResult, Quota, OutboxEntry, LeaseRequest, LeaseResult, Usage, EntryInfo, EntryState, AcceptRequest, AcceptResult,
} from './store.js';
