/**
 * A few hundred nodes with churn, in virtual time: 30% killed at once, then continuous churn.
 * The figures of issue 5 (at N = 300 here; bench/sim-dht.js measures N = 10,000).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { T_REFRESH_MS } from '../../src/dht/constants.js';
import type { OpResult } from '../../src/dht/operations.js';
import { measureFindNode, measureFindValue, publishRecords, type LookupFigures, type PublishedRecord } from '../../src/dht/scenarios.js';
import { DhtSimulation } from '../../src/dht/simulation.js';

describe('300 nodes, 30% killed at once', () => {
  const sim = new DhtSimulation({ seed: 11 });
  let records: PublishedRecord[];
  let results: OpResult[];
  let healthy: LookupFigures;
  let healthyNodes: LookupFigures;

  beforeAll(() => {
    sim.grow(300, 100, 60_000);
    ({ records, results } = publishRecords(sim, 30, 10));
    healthy = measureFindValue(sim, records, 300);
    healthyNodes = measureFindNode(sim, 200);
  }, 900_000);

  it('is healthy first', () => {
    expect(results.every((r) => r.ok)).toBe(true);
    expect(healthy.ok).toBe(300);
    expect(healthyNodes.recall).toBeGreaterThanOrEqual(0.99);
  });

  it('right after: FIND_VALUE succeeds ≥ 99% with p95 latency ≤ 5× the healthy p95', () => {
    expect(sim.kill(0.3)).toHaveLength(90);
    const churned = measureFindValue(sim, records, 300);
    expect(churned.ok).toBeGreaterThanOrEqual(297);
    expect(churned.latencyP95).toBeLessThanOrEqual(5 * healthy.latencyP95);
    const nodes = measureFindNode(sim, 200);
    expect(nodes.ok).toBe(200);
    expect(nodes.latencyP95).toBeLessThanOrEqual(5 * healthyNodes.latencyP95);
  }, 900_000);

  it('after one refresh interval: FIND_VALUE 100%, FIND_NODE recall ≥ 0.99, dead contacts gone', () => {
    sim.advance(T_REFRESH_MS);
    // Records of the killed owners have expired (their ttl is minutes: issue 11); every live
    // owner's record is still found.
    const live = records.filter((r) => sim.nodes[r.owner]!.ep.alive);
    expect(live.length).toBeGreaterThan(0);
    expect(measureFindValue(sim, live, 300).ok).toBe(300);
    expect(measureFindNode(sim, 200).recall).toBeGreaterThanOrEqual(0.99);
    const dead = new Set(sim.nodes.filter((n) => !n.ep.alive).map((n) => n.ep.address));
    let stale = 0;
    let total = 0;
    for (const n of sim.nodes) {
      if (!n.ep.alive) continue;
      for (const c of n.core.contacts()) {
        total++;
        if (dead.has(c.address)) stale++;
      }
    }
    // Refresh lookups ask (and drop) dead contacts in every bucket they cover.
    expect(stale / total).toBeLessThan(0.1);
  }, 900_000);
});

describe('300 nodes under continuous churn', () => {
  it('keeps finding records while nodes come and go (mean 30 min up, 10 min down, 1% loss, for an hour)', () => {
    const sim = new DhtSimulation({ seed: 12, network: { loss: 0.01, jitterMs: 5 } });
    sim.grow(300, 100, 60_000);
    const { records } = publishRecords(sim, 20, 10);
    sim.churn(30 * 60_000, 10 * 60_000, sim.now + 3600_000);
    let ok = 0;
    let tries = 0;
    for (let round = 0; round < 8; round++) {
      sim.advance(7.5 * 60_000);
      const alive = sim.nodes.filter((n) => n.ep.alive).length;
      expect(alive).toBeGreaterThan(150);
      // Agents that are down vanish within their ttl (issue 11): the records of the live ones are what must be found.
      const f = measureFindValue(sim, records.filter((r) => sim.nodes[r.owner]!.ep.alive), 50);
      ok += f.ok;
      tries += f.count;
    }
    expect(ok / tries).toBeGreaterThanOrEqual(0.98);
  }, 900_000);
});
