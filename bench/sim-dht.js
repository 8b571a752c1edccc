// The 10,000-node Kademlia simulation of issue 5, on the in-memory network in virtual time.
//
//   npm run sim:dht -- --nodes 10000 [--seed 1] [--lookups 1000] [--records 1000] [--loss 0]
//
// Scenarios, in order, on one network:
//  1. grow: nodes join one every 10 ms (virtual), each bootstrapping from a random joined node,
//     then 60 s for the joins' bucket refreshes; JS heap per node measured after a full GC.
//  2. healthy: `--records` entities publish signed records (one capability each, 50 distinct);
//     `--lookups` FIND_NODEs of random ids (recall of the true k closest live ids, computed from
//     the ids), `--lookups` FIND_VALUEs of random published records, discovery by capability.
//  3. churn: 30% of the nodes killed at once; at once FIND_VALUE and FIND_NODE again (success,
//     p95 latency against the healthy p95), then one refresh interval (tRefresh, 3600 s virtual)
//     and both again.
// Latency: one-way 5..100 ms from positions in a unit square. Figures are virtual-time ms.
import v8 from 'node:v8';
import vm from 'node:vm';
import { DhtSimulation } from '../dist/dht/simulation.js';
import { measureDiscover, measureFindNode, measureFindValue, publishRecords } from '../dist/dht/scenarios.js';
import { T_REFRESH_MS } from '../dist/dht/constants.js';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const N = arg('nodes', 10_000);
const SEED = arg('seed', 1);
const LOOKUPS = arg('lookups', 1000);
const RECORDS = arg('records', 1000);
const LOSS = arg('loss', 0);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const log = (s) => console.log(`[${elapsed()}] ${s}`);
const pct = (x) => `${(100 * x).toFixed(2)}%`;
const ms = (x) => `${Math.round(x)} ms`;
const verdict = (ok) => (ok ? 'PASS' : 'FAIL');

function memory() {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

const before = memory();
const sim = new DhtSimulation({ seed: SEED, network: { loss: LOSS } });
log(`growing to ${N} nodes (seed ${SEED}, loss ${LOSS})`);
const { failedJoins } = sim.grow(N, 10, 60_000, (j) => log(`  ${j} joined, ${sim.net.stats.sent} datagrams`));
const after = memory();
const heapPerNode = (after.heap - before.heap) / N;
const allPerNode = (after.heap + after.buffers - before.heap - before.buffers) / N;
const sizes = sim.nodes.map((n) => n.core.table.size).sort((a, b) => a - b);
log(`grown: ${failedJoins} failed joins, routing table median ${sizes[N >> 1]} contacts (min ${sizes[0]}, max ${sizes[N - 1]})`);

log(`publishing ${RECORDS} records`);
const { records, results: pubs } = publishRecords(sim, RECORDS);
const stored = pubs.map((r) => r.stored).sort((a, b) => a - b);
log(`published: ${pubs.filter((r) => r.ok).length}/${RECORDS} ok, median ${stored[stored.length >> 1]} stores per record (3 keys)`);

log(`healthy: ${LOOKUPS} FIND_NODE`);
const fn = measureFindNode(sim, LOOKUPS, 50, (n) => n % 500 === 0 && log(`  ${n} done`));
log(`healthy: ${LOOKUPS} FIND_VALUE`);
const fv = measureFindValue(sim, records, LOOKUPS);
const disc = measureDiscover(sim, records, 50);
const withRecords = memory();
const heapWithRecords = (withRecords.heap - before.heap) / N;
const allWithRecords = (withRecords.heap + withRecords.buffers - before.heap - before.buffers) / N;

log('churn: killing 30% of the nodes at once');
sim.kill(0.3);
const fvChurn = measureFindValue(sim, records, LOOKUPS);
const fnChurn = measureFindNode(sim, LOOKUPS);
log(`churn: one refresh interval (${T_REFRESH_MS / 1000} s virtual)`);
sim.advance(T_REFRESH_MS);
log('churn: after the refresh interval');
const fvAfter = measureFindValue(sim, records, LOOKUPS);
const fnAfter = measureFindNode(sim, LOOKUPS);

const rows = [
  ['', 'ok', 'recall', 'RPCs median', 'RPCs mean', 'latency p50', 'latency p95'],
  ...[
    ['FIND_NODE healthy', fn], ['FIND_VALUE healthy', fv],
    ['FIND_VALUE churn (at once)', fvChurn], ['FIND_NODE churn (at once)', fnChurn],
    ['FIND_VALUE churn (+tRefresh)', fvAfter], ['FIND_NODE churn (+tRefresh)', fnAfter],
  ].map(([name, f]) => [name, `${f.ok}/${f.count}`, Number.isNaN(f.recall) ? '' : f.recall.toFixed(4), String(f.rpcsMedian), f.rpcsMean.toFixed(1), ms(f.latencyP50), ms(f.latencyP95)]),
];
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
console.log(`\nDHT simulation: N = ${N}, k = 20, alpha = 3, seed ${SEED}, loss ${LOSS}, ${elapsed()} wall, ${sim.net.stats.sent} datagrams`);
for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
console.log(`discover (50 capabilities × ${RECORDS / 50} providers): ${disc.ok}/50 ok, ${pct(disc.coverage)} of providers found, median ${disc.rpcsMedian} RPCs`);
console.log(`memory: ${(heapPerNode / 1024).toFixed(1)} KB JS heap per node (${(allPerNode / 1024).toFixed(1)} KB with ArrayBuffers) after the joins; ` +
  `${(heapWithRecords / 1024).toFixed(1)} KB (${(allWithRecords / 1024).toFixed(1)} KB) with ${RECORDS} records × 3 keys × k copies stored`);

console.log('\nissue 5 targets:');
const checks = [
  [`FIND_NODE recall ≥ 0.99 (healthy)`, fn.recall >= 0.99, fn.recall.toFixed(4)],
  [`FIND_VALUE 1000/1000 (healthy)`, fv.ok === fv.count, `${fv.ok}/${fv.count}`],
  [`median RPCs per FIND_NODE ≤ 50`, fn.rpcsMedian <= 50, String(fn.rpcsMedian)],
  [`median RPCs per FIND_VALUE ≤ 20`, fv.rpcsMedian <= 20, String(fv.rpcsMedian)],
  [`churn at once: FIND_VALUE success ≥ 99%`, fvChurn.ok >= 0.99 * fvChurn.count, pct(fvChurn.ok / fvChurn.count)],
  [`churn at once: FIND_VALUE p95 ≤ 5× healthy`, fvChurn.latencyP95 <= 5 * fv.latencyP95, `${(fvChurn.latencyP95 / fv.latencyP95).toFixed(2)}×`],
  [`churn at once: FIND_NODE p95 ≤ 5× healthy`, fnChurn.latencyP95 <= 5 * fn.latencyP95, `${(fnChurn.latencyP95 / fn.latencyP95).toFixed(2)}×`],
  [`after tRefresh: FIND_VALUE success 100%`, fvAfter.ok === fvAfter.count, pct(fvAfter.ok / fvAfter.count)],
  [`after tRefresh: FIND_NODE recall ≥ 0.99`, fnAfter.recall >= 0.99, fnAfter.recall.toFixed(4)],
  [`JS heap per node ≤ 40 KB`, Math.max(heapPerNode, heapWithRecords) <= 40 * 1024, `${(heapPerNode / 1024).toFixed(1)} KB (${(heapWithRecords / 1024).toFixed(1)} KB with records)`],
];
for (const [what, ok, value] of checks) console.log(`  ${verdict(ok)}  ${what}: ${value}`);
process.exitCode = checks.every((c) => c[1]) ? 0 : 1;
