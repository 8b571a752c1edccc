/**
 * Kademlia parameters (spec "Kademlia Parameters": k, alpha, tExpire, tRefresh) and the limits
 * this implementation adds. Every one is a default: DhtConfig overrides any of them.
 */

/** Bucket size and replication factor (spec: k = 20). */
export const K = 20;
/** Parallel requests per lookup (spec: alpha = 3). */
export const ALPHA = 3;
/** A stored record is dropped this long after it was stored (spec: tExpire = 86400 s). */
export const T_EXPIRE_MS = 86_400_000;
/** Buckets without a lookup for this long are refreshed; owners republish this often (spec: tRefresh = 3600 s). */
export const T_REFRESH_MS = 3_600_000;

/**
 * Liveness (issue 11): records live minutes, not the spec's day, and owners republish well
 * inside that (three chances per ttl), so a killed agent vanishes within RECORD_TTL_S.
 */
export const RECORD_TTL_S = 600;
export const REPUBLISH_MS = 180_000;

/** Ids are SHA-256 digests: a 256-bit XOR metric, one bucket per shared-prefix length. */
export const ID_BYTES = 32;
export const ID_BITS = 256;

/**
 * Largest datagram sent or accepted: the IPv6 minimum MTU (1280) less IPv6 and UDP headers, so
 * nothing is ever fragmented. 20 IPv6 contacts, or one record of MAX_RECORD_BYTES, fit.
 */
export const MAX_DATAGRAM_BYTES = 1232;
/** Largest encoded record (fields and signatures). */
export const MAX_RECORD_BYTES = 1024;

/** Spec discovery limit: 10 per minute, burst 20, per source address (FIND_NODE, FIND_VALUE, STORE). */
export const DISCOVERY_PER_MINUTE = 10;
export const DISCOVERY_BURST = 20;
/** Sources tracked by the default limiter at once (idle ones are forgotten first). */
export const MAX_LIMITER_SOURCES = 4096;

/** Retransmission timeout (RFC 6298 shape): first guess, and the clamp. */
export const RTO_INITIAL_MS = 1000;
export const RTO_MIN_MS = 50;
export const RTO_MAX_MS = 5000;
/** A contact that failed this many requests in a row leaves the routing table. */
export const MAX_FAILURES = 2;
/** A full bucket's least-recently-seen contact heard from within this window is not pinged again. */
export const PING_FRESH_MS = 60_000;

/** Store tokens: the secret rotates this often; a token from the previous secret still passes. */
export const TOKEN_ROTATION_MS = 300_000;
export const TOKEN_BYTES = 16;

/** Record storage per node: records in total, per entity, and entities per provider key. */
export const MAX_STORED_RECORDS = 4096;
/** 1 presence key + a capability key and a provider key per capability. */
export const MAX_CAPABILITIES = 16;
export const MAX_RECORDS_PER_ENTITY = 1 + 2 * MAX_CAPABILITIES;
export const MAX_PROVIDERS_PER_KEY = 128;
/** Keys one name may be claimed by at one node (one per source prefix): the first cannot squat it. */
export const MAX_KEYS_PER_NAME = 4;
/** Records one source prefix may have stored at a node (1/16 of the store), and providers per key. */
export const MAX_RECORDS_PER_SOURCE = MAX_STORED_RECORDS / 16;
export const MAX_PROVIDERS_PER_SOURCE = 8;
/** A record's last_seen may run this far ahead of the receiver's clock. */
export const CLOCK_SKEW_MS = 300_000;

/** In-flight requests and concurrent operations per node (beyond them: DHT_ERROR, not memory). */
export const MAX_PENDING_REQUESTS = 2048;
export const MAX_OPERATIONS = 256;
/** Candidates a lookup remembers (closest first): k plus room for a third of them failing, twice. */
export const MAX_LOOKUP_CANDIDATES = 3 * K;
/** Records a discover() gathers at most. */
export const MAX_DISCOVERED = 256;
/** Owned records republished by one node. */
export const MAX_OWNED_RECORDS = 64;

/** An operation's deadline; requests one lookup may send (honest median: 7 to 30). */
export const OP_DEADLINE_MS = 15_000;
export const MAX_LOOKUP_REQUESTS = 100;
/** New candidates one answer may add to a lookup: made-up ids cost one answer, not a lookup. */
export const MAX_CANDIDATES_PER_ANSWER = 10;
/** Contacts sharing an IPv4 /24 or IPv6 /64 per bucket and per k-closest set (BEP 42 spirit, S/Kademlia). */
export const MAX_PER_PREFIX = 2;
/** Disjoint paths of a name's value lookup (S/Kademlia's d): each asks nodes no other path asks. */
export const DISJOINT_PATHS = 3;
/** Answers are at most this many times the request's size (spoofed-source amplification). */
export const MAX_AMPLIFICATION = 3;

/** Housekeeping period: bucket refresh, republish, expiry, limiter sweep, token rotation. */
export const MAINTENANCE_MS = 60_000;
