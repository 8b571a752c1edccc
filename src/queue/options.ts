/** The queue's options, their defaults (docs/QUEUE.md) and the checks on them. */
import { ErrorCode, PeerError } from '../errors.js';
import type { Durability } from './sqlite.js';
import type { QueueStore, Quota } from './store.js';

const HOUR = 3_600_000;
/** Default time to live of a queued message. */
export const DEFAULT_TTL_MS = 72 * HOUR;
/** Default cap on a message's TTL. */
export const DEFAULT_MAX_TTL_MS = 7 * 24 * HOUR;
/** The hard cap: no configuration can keep a message (or a seen id) longer. */
export const MAX_TTL_MS = 30 * 24 * HOUR;
/** Seen ids are kept this much longer than the sender's remaining TTL (clock differences). */
export const SEEN_CLOCK_ALLOWANCE_MS = 10 * 60_000;

export interface QueueOptions {
  /** SQLite file (default: `<identity file>.queue.db`, or in memory for an identity not from a file). */
  path?: string;
  /** SQLite `synchronous`: 'normal' (default: survives kill -9) or 'full' (survives power loss). */
  durability?: Durability;
  /** Use Redis instead of SQLite (several processes sharing one identity and one queue). */
  redis?: { url?: string; prefix?: string };
  /** A store of your own (it must pass test/queue/conformance.ts). */
  store?: QueueStore;
  /** Where to reach a recipient: "host:port" per entity id (default: the entity id, through the DHT). */
  routes?: Record<string, string>;
  defaultTtl?: number;
  maxTtl?: number;
  quota?: Partial<Quota>;
  maxPayload?: number;
  leaseMs?: number;
  maxAttempts?: number;
  /** Entries sent and not yet acknowledged per recipient. */
  window?: number;
  ackTimeoutMs?: number;
  backoff?: { minMs?: number; maxMs?: number };
  /** How often the store is polled for recipients with work (other processes' entries, lease take-over). */
  pollMs?: number;
  sweepMs?: number;
  /** Receiver: ids kept per sender key before further messages are refused. */
  maxSeenPerSender?: number;
}

export type ResolvedQueueOptions = Required<Omit<QueueOptions, 'path' | 'redis' | 'store' | 'routes' | 'quota' | 'backoff'>> & {
  routes: Record<string, string>;
  quota: Quota;
  backoff: { minMs: number; maxMs: number };
};

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `queue.${name} must be a positive number`);
  return v;
}

export function resolveOptions(o: QueueOptions): ResolvedQueueOptions {
  const maxTtl = positive('maxTtl', o.maxTtl ?? DEFAULT_MAX_TTL_MS);
  if (maxTtl > MAX_TTL_MS) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `queue.maxTtl above the hard cap of ${MAX_TTL_MS} ms (30 days)`);
  const defaultTtl = positive('defaultTtl', o.defaultTtl ?? Math.min(DEFAULT_TTL_MS, maxTtl));
  if (defaultTtl > maxTtl) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'queue.defaultTtl above queue.maxTtl');
  const leaseMs = positive('leaseMs', o.leaseMs ?? 30_000);
  return {
    durability: o.durability ?? 'normal',
    routes: o.routes ?? {},
    defaultTtl,
    maxTtl,
    quota: { messages: positive('quota.messages', o.quota?.messages ?? 100_000), bytes: positive('quota.bytes', o.quota?.bytes ?? 256 * 1024 * 1024) },
    maxPayload: positive('maxPayload', o.maxPayload ?? 1024 * 1024),
    leaseMs,
    maxAttempts: positive('maxAttempts', o.maxAttempts ?? 20),
    window: positive('window', o.window ?? 1024),
    // Outstanding entries are resent well before the lease could run out.
    ackTimeoutMs: positive('ackTimeoutMs', Math.min(o.ackTimeoutMs ?? 10_000, leaseMs / 3)),
    backoff: { minMs: positive('backoff.minMs', o.backoff?.minMs ?? 250), maxMs: positive('backoff.maxMs', o.backoff?.maxMs ?? 30_000) },
    pollMs: positive('pollMs', o.pollMs ?? Math.min(1000, leaseMs / 3)),
    sweepMs: positive('sweepMs', o.sweepMs ?? 60_000),
    maxSeenPerSender: positive('maxSeenPerSender', o.maxSeenPerSender ?? 1_000_000),
  };
}
