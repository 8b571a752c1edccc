/**
 * What the CLI checks before doing anything: numbers, ports, message types, pins. Each failure
 * is a UsageError (exit 2, one line); PeerErrors are exit 1; nothing prints a stack trace.
 */
import { constantTimeEqual, fingerprintOf } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import type { RemoteIdentity } from '../handshake/index.js';
import { TrustStore } from '../peer/index.js';
import { isMessageType, type MessageType } from '../wire/index.js';

export class UsageError extends Error {}

export function port(value: string | undefined, fallback: number, name = '--port'): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UsageError(`${name} must be a port number 0-65535, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function positive(value: string | undefined, fallback: number, name: string, max = 1e9): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > max) throw new UsageError(`${name} must be a number above 0 (at most ${max}), got ${JSON.stringify(value)}`);
  return n;
}

/** A type name (task, status, …) or an application type 0x80-0xff (decimal or 0x hex). */
export function messageType(value: string | undefined): MessageType | number {
  if (value === undefined) return 'message';
  if (isMessageType(value)) return value;
  const n = /^0x[0-9a-f]{1,2}$/i.test(value) ? parseInt(value, 16) : /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  if (n >= 0x80 && n <= 0xff) return n;
  throw new UsageError(`--type must be a message type name (task, status, …) or an application type 128-255 (0x80-0xff), got ${JSON.stringify(value)}`);
}

/** "host:port" with a valid port, or an entity id (no colon) resolved through the DHT. */
export function target(value: string): string {
  return value.includes(':') ? address(value, 'the address', ' or an entity id') : value;
}

/** "host:port" (IPv6 in brackets) with a port 1-65535. */
export function address(value: string, name: string, or = ''): string {
  const m = /^(?:\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new UsageError(`${name} must be host:port (port 1-65535)${or}, got ${JSON.stringify(value)}`);
  return value;
}

/** A pin: the remote's Ed25519 public key or its fingerprint (SHA-256 of the key), 64 hex chars either way. */
export function pin(value: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new UsageError('--pin must be 64 hex characters: the remote\'s public key or its fingerprint (both printed by `peercomm listen`)');
  return value.toLowerCase();
}

/**
 * A trust store that accepts exactly the pinned key (given as key or fingerprint) whatever the
 * entity id: the handshake refuses anyone else at step 2, before any session key exists.
 */
export class PinnedKey extends TrustStore {
  constructor(private readonly hex: string) {
    super([], false);
  }

  override check(remote: RemoteIdentity): void {
    const key = Buffer.from(remote.publicKey);
    const ok = constantTimeEqual(key, Buffer.from(this.hex, 'hex')) || constantTimeEqual(Buffer.from(fingerprintOf(key), 'hex'), Buffer.from(this.hex, 'hex'));
    if (!ok) throw new PeerError(ErrorCode.INVALID_SIGNATURE, `remote key ${key.toString('hex')} (fingerprint ${fingerprintOf(key)}) is not the pinned one`);
  }
}
