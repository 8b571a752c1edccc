/** Every tunable of a DHT node, with the spec's values and this implementation's limits as defaults. */
import { ErrorCode, PeerError } from '../errors.js';
import * as C from './constants.js';

export interface DhtConfig {
  /** Bucket size and replication (spec k = 20). */
  k: number;
  /** Lookup parallelism (spec alpha = 3). */
  alpha: number;
  /** Bucket refresh period (spec tRefresh = 3600 s). */
  tRefreshMs: number;
  /** Owners republish this often (tRefresh). */
  republishMs: number;
  /** Stored records expire this long after being stored (spec tExpire = 86400 s). */
  tExpireMs: number;
  /** ttl (s) written into records this node publishes. */
  recordTtlS: number;
  maxDatagramBytes: number;
  maxRecordBytes: number;
  rtoInitialMs: number;
  rtoMinMs: number;
  rtoMaxMs: number;
  maxFailures: number;
  pingFreshMs: number;
  tokenRotationMs: number;
  maintenanceMs: number;
  maxStoredRecords: number;
  maxRecordsPerEntity: number;
  maxProvidersPerKey: number;
  clockSkewMs: number;
  maxPendingRequests: number;
  maxOperations: number;
  maxLookupCandidates: number;
  maxDiscovered: number;
  maxOwnedRecords: number;
  /** Claims (keys) one name may have at a node; records and providers one source prefix may store. */
  maxKeysPerName: number;
  maxRecordsPerSource: number;
  maxProvidersPerSource: number;
  /** An operation's lookups end at this deadline, and a lookup sends at most maxLookupRequests. */
  opDeadlineMs: number;
  maxLookupRequests: number;
  /** New candidates one answer may add to a lookup (the closest of them). */
  maxCandidatesPerAnswer: number;
  /** IPv4 prefix length the rate limiter counts a source by (32, or 24 for a whole subnet); IPv6 is /64. */
  limitPrefixV4: number;
  /** Contacts of one address prefix (IPv4 /24, IPv6 /64) per bucket and per k-closest set. */
  maxPerPrefix: number;
  /** Disjoint paths of a name's value lookup (alpha and maxLookupRequests are shared among them). */
  disjointPaths: number;
  /** Serve no requests' routing: ask others not to add us (short-lived clients, CLI lookups). */
  readOnly: boolean;
}

export const DEFAULT_CONFIG: Readonly<DhtConfig> = Object.freeze({
  k: C.K,
  alpha: C.ALPHA,
  tRefreshMs: C.T_REFRESH_MS,
  republishMs: C.REPUBLISH_MS,
  tExpireMs: C.T_EXPIRE_MS,
  recordTtlS: C.RECORD_TTL_S,
  maxDatagramBytes: C.MAX_DATAGRAM_BYTES,
  maxRecordBytes: C.MAX_RECORD_BYTES,
  rtoInitialMs: C.RTO_INITIAL_MS,
  rtoMinMs: C.RTO_MIN_MS,
  rtoMaxMs: C.RTO_MAX_MS,
  maxFailures: C.MAX_FAILURES,
  pingFreshMs: C.PING_FRESH_MS,
  tokenRotationMs: C.TOKEN_ROTATION_MS,
  maintenanceMs: C.MAINTENANCE_MS,
  maxStoredRecords: C.MAX_STORED_RECORDS,
  maxRecordsPerEntity: C.MAX_RECORDS_PER_ENTITY,
  maxProvidersPerKey: C.MAX_PROVIDERS_PER_KEY,
  clockSkewMs: C.CLOCK_SKEW_MS,
  maxPendingRequests: C.MAX_PENDING_REQUESTS,
  maxOperations: C.MAX_OPERATIONS,
  maxLookupCandidates: C.MAX_LOOKUP_CANDIDATES,
  maxDiscovered: C.MAX_DISCOVERED,
  maxOwnedRecords: C.MAX_OWNED_RECORDS,
  maxKeysPerName: C.MAX_KEYS_PER_NAME,
  maxRecordsPerSource: C.MAX_RECORDS_PER_SOURCE,
  maxProvidersPerSource: C.MAX_PROVIDERS_PER_SOURCE,
  opDeadlineMs: C.OP_DEADLINE_MS,
  maxLookupRequests: C.MAX_LOOKUP_REQUESTS,
  maxCandidatesPerAnswer: C.MAX_CANDIDATES_PER_ANSWER,
  maxPerPrefix: C.MAX_PER_PREFIX,
  disjointPaths: C.DISJOINT_PATHS,
  limitPrefixV4: 32,
  readOnly: false,
});

const RANGES: Partial<Record<keyof DhtConfig, [number, number]>> = {
  k: [1, 255],
  alpha: [1, 64],
  maxDatagramBytes: [512, 65_507],
  maxRecordBytes: [256, C.MAX_RECORD_BYTES],
  maxFailures: [1, 255],
  recordTtlS: [1, 0xffffffff],
  maxPerPrefix: [1, 255],
  disjointPaths: [1, 8],
  limitPrefixV4: [8, 32],
};

/** Resolved configs by input object: 10,000 simulated nodes given one object share one config. */
const resolved = new WeakMap<object, DhtConfig>();

/**
 * Defaults overlaid with `partial` (frozen; shared by every node given the same object);
 * PeerError INVALID_ARGUMENT for an unknown key or a bad value.
 */
export function resolveConfig(partial?: Partial<DhtConfig>): Readonly<DhtConfig> {
  if (partial === undefined) return DEFAULT_CONFIG;
  const hit = resolved.get(partial);
  if (hit) return hit;
  const out: DhtConfig = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(partial) as [keyof DhtConfig, unknown][]) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_CONFIG)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `unknown DHT option ${key}`);
    if (key === 'readOnly') {
      if (typeof value !== 'boolean') throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'readOnly must be a boolean');
      out.readOnly = value;
      continue;
    }
    const [lo, hi] = RANGES[key] ?? [1, Number.MAX_SAFE_INTEGER];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `DHT option ${key} must be an integer in [${lo}, ${hi}]`);
    }
    (out as unknown as Record<string, number>)[key] = value;
  }
  if (out.rtoMinMs > out.rtoMaxMs) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'rtoMinMs must not exceed rtoMaxMs');
  Object.freeze(out);
  resolved.set(partial, out);
  return out;
}
