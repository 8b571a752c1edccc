/**
 * The v1.0 endpoint's limits and their defaults (docs/V1_COMPAT.md "Limits against hostile
 * input"), and the rate class each v1.0 msg_type is charged to.
 */
import type { RateClass } from '../../ratelimit/index.js';
import { MESSAGE_TYPES, isMessageType } from '../../wire/index.js';
import { HANDSHAKE_TYPES } from './handshake.js';
import { JSON_MAX_BYTES, JSON_MAX_DEPTH, JSON_MAX_MEMBERS } from './json.js';

export interface V1EndpointLimits {
  /** One body (default 1 MiB). */
  maxBodyBytes: number;
  /** JSON nesting (default 100). */
  maxDepth: number;
  /** All bodies held at once (default 16 MiB); past it, 503 `busy` (v1.0 clients retry). */
  maxBufferedBytes: number;
  /** Bodies held at once from one address prefix (default 2 MiB); past it, 503 `busy`. */
  maxBufferedBytesPerAddress: number;
  /** Members of all JSON objects and arrays in one body (default 10,000). */
  maxMembers: number;
  /** After uploadGraceMs, a body must arrive at this many bytes a second on average, or 408 and closed (default 16 KiB/s; 0: no minimum). */
  minUploadBytesPerSecond: number;
  uploadGraceMs: number;
  /** Time to receive the request headers (default 10 s). */
  headersTimeoutMs: number;
  /** Time to receive the whole request (default 30 s). */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this (default 5 s). */
  keepAliveTimeoutMs: number;
  maxConnections: number;
  /** Open connections from one address prefix (default 64); more are answered 400 rate_limited and closed. */
  maxConnectionsPerAddress: number;
}

export const DEFAULT_ENDPOINT_LIMITS: Readonly<V1EndpointLimits> = {
  maxBodyBytes: JSON_MAX_BYTES,
  maxDepth: JSON_MAX_DEPTH,
  maxBufferedBytes: 16 * JSON_MAX_BYTES,
  maxBufferedBytesPerAddress: 2 * JSON_MAX_BYTES,
  maxMembers: JSON_MAX_MEMBERS,
  minUploadBytesPerSecond: 16 * 1024,
  uploadGraceMs: 2_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
  maxConnectionsPerAddress: 64,
};

/** The limiter key prefix of an address's refusal bucket, asked before a body is read. */
export const REFUSALS = 'refused:';

/** The rate class a v1.0 msg_type counts against (handshakes by themselves, unknown types as task). */
export function rateClassOfV1(msgType: string): RateClass {
  if ((HANDSHAKE_TYPES as readonly string[]).includes(msgType)) return 'handshake';
  if (msgType === 'chunk') return 'chunk';
  if (msgType === 'error') return 'heartbeat';
  return isMessageType(msgType) ? MESSAGE_TYPES[msgType].rateClass : 'task';
}
