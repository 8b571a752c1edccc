/**
 * The measurements of issue 5 on a DhtSimulation, shared by bench/sim-dht.js and the
 * simulation tests: recall of FIND_NODE against the true closest ids, FIND_VALUE success, RPCs
 * per lookup, lookup latency, and the same after churn.
 */
import { Identity } from '../crypto/index.js';
import { selfCertifyingName } from './binding.js';
import type { OpResult } from './operations.js';
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

export interface PublishedRecord {
  owner: number;
  entityId: string;
  capability: string;
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

/** `count` FIND_NODEs of random targets from random live nodes, `concurrency` at a time. */
export function measureFindNode(sim: DhtSimulation, count: number, concurrency = 50, onProgress?: (n: number) => void): LookupFigures {
  const k = sim.nodes[0]!.core.config.k;
  const tasks = Array.from({ length: count }, () => {
    const target = sim.random.bytes(32);
    return { node: sim.randomAlive().index, target, start: (core: import('./core.js').DhtCore, now: number) => core.findNode(target, now) };
  });
  const results = sim.runAll(tasks, concurrency, onProgress);
  let recall = 0;
  results.forEach((r, i) => {
    const truth = new Set(sim.trueClosest(tasks[i]!.target, k, tasks[i]!.node).map((j) => Buffer.from(sim.nodes[j]!.core.id).toString('hex')));
    let hit = 0;
    for (const c of r.closest) if (truth.has(Buffer.from(c.id).toString('hex'))) hit++;
    recall += hit / truth.size;
  });
  return figures(results, recall / results.length);
}

/**
 * `count` entities, each published by a random live node with its own Ed25519 key, offering
 * one of `capabilities` capabilities; returns what was published and the publish results.
 */
export function publishRecords(sim: DhtSimulation, count: number, capabilities = 50, concurrency = 50): { records: PublishedRecord[]; results: OpResult[] } {
  const records: PublishedRecord[] = [];
  const tasks = Array.from({ length: count }, (_, i) => {
    const owner = sim.randomAlive().index;
    const seed = Buffer.alloc(32);
    seed.writeUInt32BE(i + 1, 0);
    seed.writeUInt32BE(0x5eed, 4);
    const identity = Identity.fromSeed(seed);
    const entityId = selfCertifyingName(identity.publicKey);
    const capability = `cap-${i % capabilities}`;
    records.push({ owner, entityId, capability });
    return {
      node: owner,
      start: (core: import('./core.js').DhtCore, now: number) =>
        core.publish({ entityId, addresses: [`tcp://${sim.nodes[owner]!.ep.address}`], capabilities: [capability] }, identity, now),
    };
  });
  return { records, results: sim.runAll(tasks, concurrency) };
}

/** `count` FIND_VALUEs (lookup by entity id) of random published records from random live nodes. */
export function measureFindValue(sim: DhtSimulation, records: PublishedRecord[], count: number, concurrency = 50): LookupFigures {
  const tasks = Array.from({ length: count }, () => {
    const rec = records[sim.random.u32() % records.length]!;
    return { node: sim.randomAlive().index, start: (core: import('./core.js').DhtCore, now: number) => core.lookup(rec.entityId, now) };
  });
  const results = sim.runAll(tasks, concurrency);
  return figures(results, NaN);
}

/** discover() of `count` capabilities: mean fraction of each capability's providers found. */
export function measureDiscover(sim: DhtSimulation, records: PublishedRecord[], count: number, concurrency = 20): { ok: number; coverage: number; rpcsMedian: number } {
  const byCap = new Map<string, Set<string>>();
  for (const r of records) {
    if (!byCap.has(r.capability)) byCap.set(r.capability, new Set());
    byCap.get(r.capability)!.add(r.entityId);
  }
  const caps = [...byCap.keys()];
  const tasks = Array.from({ length: count }, (_, i) => {
    const cap = caps[i % caps.length]!;
    return { cap, node: sim.randomAlive().index, start: (core: import('./core.js').DhtCore, now: number) => core.discover(cap, now) };
  });
  const results = sim.runAll(tasks, concurrency);
  let coverage = 0;
  results.forEach((r, i) => {
    const want = byCap.get(tasks[i]!.cap)!;
    coverage += r.records.filter((rec) => want.has(rec.entityId)).length / want.size;
  });
  const f = figures(results, NaN);
  return { ok: f.ok, coverage: coverage / results.length, rpcsMedian: f.rpcsMedian };
}
