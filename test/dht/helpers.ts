/** Shared by the DHT tests: deterministic signers and records. */
import { Identity } from '../../src/crypto/index.js';
import { signRecord, type DhtRecord, type RecordFields } from '../../src/dht/record.js';

export const T0 = 1_790_000_000_000;

export function signer(n: number): Identity {
  const seed = Buffer.alloc(32);
  seed.writeUInt32BE(n + 1, 28);
  return Identity.fromSeed(seed);
}

export function fields(over: Partial<RecordFields> = {}): RecordFields {
  return { entityId: 'alice', addresses: ['tcp://10.0.0.1:7000'], capabilities: ['summarize', 'translate'], lastSeen: T0, ttl: 3600, ...over };
}

export function record(n = 0, over: Partial<RecordFields> = {}): DhtRecord {
  return signRecord(fields(over), signer(n));
}
