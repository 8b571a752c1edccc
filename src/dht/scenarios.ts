/**
 * The measurements of issues 5 and 11 on a DhtSimulation, shared by bench/sim-dht.js and the
 * simulation tests: recall of FIND_NODE against the true closest ids, FIND_VALUE success and
 * whether it reached the right key, RPCs per lookup, lookup latency. Requesters and owners are
 * always honest nodes (sim-adversary.ts takes the others over).
 */
import { selfCertifyingName, selfCertifyingOnly, type BindingCheck } from './binding.js';
import type { DhtCore } from './core.js';
import type { OpResult } from './operations.js';
import { SimKey } from './sim-keys.js';
import type { DhtSimulation } from './simulation.js';

export interface LookupFigures {
  count: number;
  ok: number;
  /** FIND_NODE: mean fraction of the true k closest live ids returned. */
  recall: number;
  rpcsMedian: number;
  rpcsMean: number;
  latencyP50: number;
  latencyP95: number;
}

/**
 * Lookups by name: did they reach the key bound to the name? A lookup that found only claims
 * bound to nothing counts as failed (DhtNode.lookup() rejects it as unbound, connect() too).
 */
export interface NameFigures extends LookupFigures {
  /** Resolved to a bound record with the owner's key. */
  right: number;
  /** Resolved to a bound record with another key (must never happen). */
  wrong: number;
  /** Found claims, but none bound to the name: the genuine record was not reached. */
  unbound: number;
  /** Lookups that met claims of the name by other keys (the adversaries' forgeries at work). */
  contested: number;
}

export interface PublishedRecord {
  owner: number;
  entityId: string;
  capability: string;
  /** The owner's key for this entity. */
  publicKey: Uint8Array;
  /** A human name (bound by the requesters' trust store), not a self-certifying id. */
  named: boolean;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function figures(results: OpResult[], recall: number): LookupFigures {
  const rpcs = results.map((r) => r.rpcs).sort((a, b) => a - b);
  const lat = results.map((r) => r.finishedAt - r.startedAt).sort((a, b) => a - b);
  return {
    count: results.length,
    ok: results.filter((r) => r.ok).length,
    recall,
    rpcsMedian: quantile(rpcs, 0.5),
    rpcsMean: rpcs.reduce((a, b) => a + b, 0) / Math.max(1, rpcs.length),
    latencyP50: quantile(lat, 0.5),
    latencyP95: quantile(lat, 0.95),
  };
}

/** `count` FIND_NODEs of random targets from random live honest nodes, `concurrency` at a time. */
export function measureFindNode(sim: DhtSimulation, count: number, concurrency = 50): LookupFigures {
  const k = sim.nodes[0]!.core.config.k;
  const tasks = Array.from({ length: count }, () => {
    const target = sim.random.bytes(32);
    return { node: sim.randomHonest().index, target, start: (core: DhtCore, now: number) => core.findNode(target, now) };
  });
  const results = sim.runAll(tasks, concurrency);
  let recall = 0;
  results.forEach((r, i) => {
    const truth = new Set(sim.trueClosest(tasks[i]!.target, k, tasks[i]!.node).map((j) => Buffer.from(sim.nodes[j]!.core.id).toString('hex')));
    let hit = 0;
    for (const c of r.closest) if (truth.has(Buffer.from(c.id).toString('hex'))) hit++;
    recall += hit / truth.size;
  });
  return figures(results, recall / results.length);
}

/** The key pair of entity number `i` (publishRecords): fixed, so an attacker can aim at it in advance. */
export function entityKey(i: number): SimKey {
  const seed = new Uint8Array(32);
  new DataView(seed.buffer).setUint32(0, i + 1);
  new DataView(seed.buffer).setUint32(4, 0x5eed);
  return new SimKey(seed);
}

export interface PublishOptions {
  /** Human names (`name-<i>`), bound by a trust store (pinnedBy()), instead of self-certifying ids. */
  named?: boolean;
  /** First entity number (entities of separate calls must differ). */
  from?: number;
  concurrency?: number;
}

/**
 * `count` entities, each published by a random live honest node with its own Ed25519 key,
 * offering one of `capabilities` capabilities; returns what was published and the publish results.
 */
export function publishRecords(sim: DhtSimulation, count: number, capabilities = 50, opts: PublishOptions = {}): { records: PublishedRecord[]; results: OpResult[] } {
  const records: PublishedRecord[] = [];
  const from = opts.from ?? 0;
  const tasks = Array.from({ length: count }, (_, j) => {
    const i = from + j;
    const owner = sim.randomHonest().index;
    const key = entityKey(i);
    const entityId = opts.named ? `name-${i}` : selfCertifyingName(key.publicKey);
    const capability = `cap-${i % capabilities}`;
    records.push({ owner, entityId, capability, publicKey: key.publicKey, named: opts.named ?? false });
    return {
      node: owner,
      start: (core: DhtCore, now: number) =>
        core.publish({ entityId, addresses: [`tcp://${sim.nodes[owner]!.ep.address}`], capabilities: [capability] }, key, now),
    };
  });
  return { records, results: sim.runAll(tasks, opts.concurrency ?? 50) };
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/**
 * The requesters' binding check: a trust store in which each named entity is pinned to its
 * owner's key (as if every requester had been given it), and self-certifying ids.
 */
export function pinnedBy(records: PublishedRecord[]): BindingCheck {
  const pins = new Map(records.filter((r) => r.named).map((r) => [r.entityId, hex(r.publicKey)]));
  return (entityId, publicKey) => (pins.get(entityId) === hex(publicKey) ? 'pinned' : selfCertifyingOnly(entityId, publicKey));
}

/**
 * `count` FIND_VALUEs (lookup by entity id, what connect(name) does first) of random published
 * records from random live honest nodes: found, and found with the owner's key. `bind` is the
 * requesters' binding check (default: self-certifying ids only).
 */
export function measureFindValue(sim: DhtSimulation, records: PublishedRecord[], count: number, concurrency = 50, bind?: BindingCheck): NameFigures {
  const tasks = Array.from({ length: count }, () => {
    const rec = records[sim.random.u32() % records.length]!;
    return { rec, node: sim.randomHonest().index, start: (core: DhtCore, now: number) => core.lookup(rec.entityId, now, undefined, bind) };
  });
  const results = sim.runAll(tasks, concurrency);
  let right = 0;
  let wrong = 0;
  let unbound = 0;
  let contested = 0;
  results.forEach((r, i) => {
    if (r.conflicts.length > 0 || r.records.some((x) => x.binding === 'none')) contested++;
    const got = r.ok ? r.records[0] : undefined;
    if (!got) return;
    if (got.binding === 'none') unbound++;
    else if (hex(got.publicKey) === hex(tasks[i]!.rec.publicKey)) right++;
    else wrong++;
  });
  return { ...figures(results, NaN), right, wrong, unbound, contested };
}

/**
 * discover() of `count` capabilities: mean fraction of each capability's providers found with
 * a binding to their owner's key (an attacker's claim of a provider's name does not count).
 */
export function measureDiscover(sim: DhtSimulation, records: PublishedRecord[], count: number, concurrency = 20, bind?: BindingCheck): { ok: number; coverage: number; rpcsMedian: number } {
  const byCap = new Map<string, Map<string, string>>();
  for (const r of records) {
    if (!byCap.has(r.capability)) byCap.set(r.capability, new Map());
    byCap.get(r.capability)!.set(r.entityId, hex(r.publicKey));
  }
  const caps = [...byCap.keys()];
  const tasks = Array.from({ length: count }, (_, i) => {
    const cap = caps[i % caps.length]!;
    return { cap, node: sim.randomHonest().index, start: (core: DhtCore, now: number) => core.discover(cap, now, bind) };
  });
  const results = sim.runAll(tasks, concurrency);
  let coverage = 0;
  results.forEach((r, i) => {
    const want = byCap.get(tasks[i]!.cap)!;
    const found = r.records.filter((rec) => rec.binding !== 'none' && want.get(rec.entityId) === hex(rec.publicKey));
    coverage += new Set(found.map((rec) => rec.entityId)).size / want.size;
  });
  const f = figures(results, NaN);
  return { ok: f.ok, coverage: coverage / results.length, rpcsMedian: f.rpcsMedian };
}
