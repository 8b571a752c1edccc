/** Kademlia DHT (issue 5): signed entity records, discovery by capability. See docs/DHT.md. */
export * from './constants.js';
export { DhtNode, type LookupResult, type DhtNodeOptions, type DhtStartOptions, type DhtNodeStats, type DatagramTransport, type TransportFactory } from './node.js';
export { DhtCore, type DhtCoreOptions, type DhtOutput, type DhtEvent, type DhtStats, type Outgoing } from './core.js';
export { DEFAULT_CONFIG, resolveConfig, type DhtConfig } from './config.js';
export type { OpKind, OpResult, PublishFields } from './operations.js';
export {
  capabilityHash, recordKey, providerKey, recordKeys, signRecord, decodeRecord, verifyRecord, hasValidSignatures,
  type DhtRecord, type RecordFields, type RecordSigner, type KeyKind,
} from './record.js';
export { RecordStore, rejectError, type PutResult, type RejectReason, type StoreLimits } from './store.js';
export { nodeIdOf, compareDistance, commonPrefixLength, idHex } from './id.js';
export { encodeAddress, formatAddress, normalizeAddress } from './address.js';
export { RoutingTable, type Contact } from './routing-table.js';
export { TokenBucketLimiter, type DhtRateLimiter } from './ratelimit.js';
export { SecureRandom, SeededRandom, type RandomSource } from './random.js';
export { DhtSimulation, type SimulationOptions, type SimNode } from './simulation.js';
export { selfCertifies, selfCertifyingName, isSelfCertifyingName, selfCertifyingOnly, type Binding, type BindingCheck } from './binding.js';
export type { ResolvedRecord } from './claims.js';
