/**
 * Issue 5's healthy-network figures at N = 1,000 on the in-memory network (bench/sim-dht.js
 * measures the same at N = 10,000): FIND_NODE recall of the true 20 closest ≥ 0.99, FIND_VALUE
 * 1,000 of 1,000, median RPCs ≤ 50 per FIND_NODE and ≤ 20 per FIND_VALUE. Prints the figures.
 */
import { describe, expect, it } from 'vitest';
import { measureDiscover, measureFindNode, measureFindValue, publishRecords } from '../../src/dht/scenarios.js';
import { DhtSimulation } from '../../src/dht/simulation.js';

describe('1,000-node simulation, healthy', () => {
  it('meets the figures of issue 5', () => {
    const started = performance.now();
    const sim = new DhtSimulation({ seed: 2026 });
    expect(sim.grow(1000, 10, 60_000).failedJoins).toBe(0);
    const { records, results } = publishRecords(sim, 200, 20);
    expect(results.filter((r) => r.ok)).toHaveLength(200);
    const fn = measureFindNode(sim, 1000);
    const fv = measureFindValue(sim, records, 1000);
    const disc = measureDiscover(sim, records, 20);
    console.log(
      `N=1000 (${((performance.now() - started) / 1000).toFixed(1)} s): FIND_NODE recall ${fn.recall.toFixed(4)}, ` +
      `median ${fn.rpcsMedian} RPCs, p95 ${Math.round(fn.latencyP95)} ms; FIND_VALUE ${fv.ok}/${fv.count}, ` +
      `median ${fv.rpcsMedian} RPCs, p95 ${Math.round(fv.latencyP95)} ms; discover ${(100 * disc.coverage).toFixed(1)}% of providers`,
    );
    expect(fn.ok).toBe(1000);
    expect(fn.recall).toBeGreaterThanOrEqual(0.99);
    expect(fn.rpcsMedian).toBeLessThanOrEqual(50);
    expect(fv.ok).toBe(1000);
    expect(fv.rpcsMedian).toBeLessThanOrEqual(20);
    expect(disc.coverage).toBeGreaterThanOrEqual(0.95);
  }, 180_000);
});
