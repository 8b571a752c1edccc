// The Kademlia simulation of issues 5 and 11 on the in-memory network, in virtual time: the
// honest network, then adversaries (src/dht/sim-adversary.ts), then churn.
//
//   npm run sim:dht -- --nodes 10000 [--seed 1] [--lookups 1000] [--records 1000] [--loss 0] [--settle 600] [--refresh]
//
// Stages, in order, on one network (a progress line with an ETA runs on stderr):
//  1. grow: nodes join one every 10 ms (virtual), each bootstrapping from a random joined node,
//     then 60 s for the joins' bucket refreshes; JS heap per node measured after a full GC.
//  2. honest: `--records` entities with self-certifying ids and `--records`/5 with human names
//     (pinned in every requester's trust store) publish signed records (one capability each, 50
//     distinct); `--lookups` FIND_NODEs of random ids (recall of the true k closest live ids),
//     `--lookups` lookups of each kind of name (found with the owner's key?), discovery.
//  3. ground ids: 20 Sybils whose ids are ground next to one entity's presence key, all in one
//     /24, join; then the entity publishes and `--lookups`/10 honest nodes look it up.
//  4. Sybils 10%, then 25%: random honest nodes (never an owner) are taken over until Sybils
//     are that fraction of all nodes. They answer FIND_NODE with each other only, FIND_VALUE with
//     forged records (attacker-signed claims of the name, dated now, a year ahead or stale,
//     and replays), drop STOREs while acknowledging them, and publish 6 forged claims of each
//     human name. Fresh entities publish with the Sybils in place and, `--settle` s (virtual,
//     default one record ttl) later, the stage 2 measurements are repeated on them. Each
//     stage's owners and forgers stop republishing when the next stage begins.
//  5. churn: 30% of the honest nodes killed at once (the Sybils stay); lookups of the live
//     owners' names and FIND_NODE at once (and, with --refresh, one tRefresh later).
// Latency: one-way 5..100 ms from positions in a unit square. Figures are virtual-time ms.
import v8 from 'node:v8';
import vm from 'node:vm';
import { DhtSimulation } from '../dist/dht/simulation.js';
import { Adversary } from '../dist/dht/sim-adversary.js';
import { measureFindNode, measureFindValue } from '../dist/dht/scenarios.js';
import { EntityPlan, retireStage, runGroundIds, runStage } from '../dist/dht/sim-stages.js';
import { RECORD_TTL_S, T_REFRESH_MS } from '../dist/dht/constants.js';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const N = arg('nodes', 10_000);
const SEED = arg('seed', 1);
const LOOKUPS = arg('lookups', 1000);
const RECORDS = arg('records', 1000);
const LOSS = arg('loss', 0);
const REFRESH = process.argv.includes('--refresh');
// Virtual time between publishing and measuring: one record ttl by default, so every copy
// measured was stored (and republished) with the stage's Sybils in place.
const SETTLE_MS = arg('settle', RECORD_TTL_S) * 1000;
const FORGERS_PER_NAME = 6;
const GROUND = 20;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const t0 = performance.now();
const secs = (ms) => (ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(Math.round(ms / 1000) / 60)} min ${Math.round(ms / 1000) % 60} s`);
const elapsed = () => secs(performance.now() - t0);
const pct = (x) => `${(100 * x).toFixed(2)}%`;
const ms = (x) => `${Math.round(x)} ms`;
const verdict = (ok) => (ok ? 'PASS' : 'FAIL');

// ---- progress: one line on stderr, rewritten in place on a terminal, every 15 s otherwise ----
const STAGES = ['grow', 'honest', 'ground ids', 'Sybils 10%', 'Sybils 25%', 'churn'];
let stage = 0;
let step = '';
let stepStart = 0;
let lastDraw = 0;
const tty = process.stderr.isTTY;
function log(s) {
  if (tty) process.stderr.write('\r\x1b[K');
  console.log(`[${elapsed()}] ${s}`);
}
function begin(name) {
  stage = STAGES.indexOf(name) + 1;
  log(`stage ${stage}/${STAGES.length}: ${name}`);
}
function doing(what) {
  step = what;
  stepStart = performance.now();
}
function progress(done, total) {
  const now = performance.now();
  if (now - lastDraw < (tty ? 250 : 15_000)) return;
  lastDraw = now;
  const spent = now - stepStart;
  const eta = done > 0 ? secs((spent / done) * (total - done)) : '?';
  const line = `[${elapsed()}] stage ${stage}/${STAGES.length} ${STAGES[stage - 1]}: ${step} ${done}/${total}, ETA ${eta}, ${sim.net.stats.sent} datagrams`;
  if (tty) process.stderr.write(`\r\x1b[K${line}`);
  else console.error(line);
}

function memory() {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

const before = memory();
const sim = new DhtSimulation({ seed: SEED, network: { loss: LOSS } });
sim.progress = progress;
const adversary = new Adversary(sim);

begin('grow');
doing(`joining (then 60 s virtual), ${N} nodes`);
const { failedJoins } = sim.grow(N, 10, 60_000);
const after = memory();
const heapPerNode = (after.heap - before.heap) / N;
const allPerNode = (after.heap + after.buffers - before.heap - before.buffers) / N;
const sizes = sim.nodes.map((n) => n.core.table.size).sort((a, b) => a - b);
log(`grown: ${failedJoins} failed joins, routing table median ${sizes[N >> 1]} contacts (min ${sizes[0]}, max ${sizes[N - 1]})`);

const plan = new EntityPlan();
const stageOptions = { records: RECORDS, names: Math.floor(RECORDS / 5), lookups: LOOKUPS, discovers: 50, settleMs: SETTLE_MS, forgersPerName: FORGERS_PER_NAME, step: doing };
const summary = (s) => ({
  ...s,
  published: s.publish.filter((r) => r.ok).length,
  storedMedian: s.publish.map((r) => r.stored).sort((x, y) => x - y)[s.publish.length >> 1],
  forgedOk: s.forged.filter((r) => r.ok).length,
});

begin('honest');
const honest = summary(runStage(sim, adversary, plan, { ...stageOptions, settleMs: 0 }));
const withRecords = memory();
const heapWithRecords = (withRecords.heap - before.heap) / N;
const allWithRecords = (withRecords.heap + withRecords.buffers - before.heap - before.buffers) / N;
retireStage(sim, adversary, honest);

begin('ground ids');
const ground = runGroundIds(sim, adversary, plan, GROUND, Math.max(20, LOOKUPS / 10), doing);
const gv = ground.lookups;
log(`ground ids: ${ground.tries} key pairs drawn, ${ground.inClosest} of the ${GROUND} among the key's 20 closest; victim published ${ground.publish.ok ? 'ok' : 'FAILED'} (${ground.publish.stored} stores)`);

const sybils = {};
for (const f of [0.1, 0.25]) {
  begin(`Sybils ${f * 100}%`);
  const turned = adversary.turnFraction(f);
  log(`${turned} nodes taken over: ${adversary.size} Sybils of ${sim.nodes.length} nodes`);
  sybils[f] = summary(runStage(sim, adversary, plan, stageOptions));
  log(`adversary so far: ${JSON.stringify(adversary.stats)}`);
  // The churn stage looks up the last stage's names: those keep being republished.
  if (f < 0.25) retireStage(sim, adversary, sybils[f]);
}

begin('churn');
const stage25 = sybils[0.25];
sim.kill(0.3, (n) => n.honest);
const liveRecords = (recs) => recs.filter((r) => sim.nodes[r.owner].ep.alive);
doing('lookups right after killing 30% of the honest nodes');
const churnSelf = measureFindValue(sim, liveRecords(stage25.records.filter((r) => !r.named)), LOOKUPS, 50, stage25.bind);
const churnNamed = measureFindValue(sim, liveRecords(stage25.records.filter((r) => r.named)), LOOKUPS, 50, stage25.bind);
doing('FIND_NODE right after');
const churnFn = measureFindNode(sim, LOOKUPS);
let refreshed = null;
if (REFRESH) {
  doing(`one refresh interval (${T_REFRESH_MS / 1000} s virtual), virtual ms`);
  sim.advance(T_REFRESH_MS);
  doing('lookups one tRefresh later');
  refreshed = {
    fv: measureFindValue(sim, liveRecords(stage25.records.filter((r) => !r.named)), LOOKUPS, 50, stage25.bind),
    fn: measureFindNode(sim, LOOKUPS),
  };
}
if (tty) process.stderr.write('\r\x1b[K');

// ---- report ----------------------------------------------------------------------------------
const nameCells = (f) => [`${f.right}/${f.count}`, String(f.wrong), String(f.unbound), String(f.contested), String(f.rpcsMedian), ms(f.latencyP95)];
const nodeCells = (f) => [`${f.ok}/${f.count}`, f.recall.toFixed(4), String(f.rpcsMedian), ms(f.latencyP95)];
function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
}
console.log(`\nDHT simulation: N = ${N}, k = 20, alpha = 3, seed ${SEED}, loss ${LOSS}, ${elapsed()} wall, ${sim.net.stats.sent} datagrams`);
console.log('\nlookups by name (right key / lookups; wrong = a bound record with another key; unbound = only claims bound to nothing; contested = forged claims met)');
const stages = [['honest', honest], ['Sybils 10%', sybils[0.1]], ['Sybils 25%', sybils[0.25]]];
table([
  ['', 'right key', 'wrong', 'unbound', 'contested', 'RPCs median', 'latency p95'],
  ...stages.flatMap(([name, s]) => [[`${name}: self-certifying ids`, ...nameCells(s.fv)], [`${name}: pinned names`, ...nameCells(s.fp)]]),
  [`ground ids (${GROUND} in one /24): victim`, ...nameCells(gv)],
  ['churn 30% + Sybils 25%: self-certifying', ...nameCells(churnSelf)],
  ['churn 30% + Sybils 25%: pinned names', ...nameCells(churnNamed)],
  ...(refreshed ? [['churn, one tRefresh later: self-certifying', ...nameCells(refreshed.fv)]] : []),
]);
console.log('\nFIND_NODE (recall of the true 20 closest live ids, Sybils included)');
table([
  ['', 'ok', 'recall', 'RPCs median', 'latency p95'],
  ...stages.map(([name, s]) => [name, ...nodeCells(s.fn)]),
  ['churn 30% + Sybils 25%', ...nodeCells(churnFn)],
  ...(refreshed ? [['churn, one tRefresh later', ...nodeCells(refreshed.fn)]] : []),
]);
console.log('\npublish and discover');
table([
  ['', 'published', 'stores median', 'forged claims published', 'discover ok', 'providers found', 'discover RPCs median'],
  ...stages.map(([name, s]) => [name, `${s.published}/${s.records.length}`, String(s.storedMedian), `${s.forgedOk}/${s.forged.length}`, `${s.disc.ok}/50`, pct(s.disc.coverage), String(s.disc.rpcsMedian)]),
]);
console.log(`adversary: ${JSON.stringify(adversary.stats)}`);
console.log(`memory: ${(heapPerNode / 1024).toFixed(1)} KB JS heap per node (${(allPerNode / 1024).toFixed(1)} KB with ArrayBuffers) after the joins; ` +
  `${(heapWithRecords / 1024).toFixed(1)} KB (${(allWithRecords / 1024).toFixed(1)} KB) with ${honest.records.length} records × 3 keys × k copies stored`);

const share = (f) => f.right / f.count;
const byName = (s) => [s.fv, s.fp];
console.log('\nissue 11 targets (issue 5\'s for the honest network):');
const checks = [
  ['honest: FIND_NODE recall ≥ 0.99', honest.fn.recall >= 0.99, honest.fn.recall.toFixed(4)],
  ['honest: median RPCs per FIND_NODE ≤ 30', honest.fn.rpcsMedian <= 30, String(honest.fn.rpcsMedian)],
  ['honest: median RPCs per FIND_VALUE ≤ 10', honest.fv.rpcsMedian <= 10 && honest.fp.rpcsMedian <= 10, `${honest.fv.rpcsMedian} / ${honest.fp.rpcsMedian}`],
  ['honest: every lookup reaches the right key', byName(honest).every((f) => f.right === f.count), byName(honest).map((f) => `${f.right}/${f.count}`).join(', ')],
  ['ground ids: every lookup of the victim reaches it', gv.right === gv.count, `${gv.right}/${gv.count}`],
  ...[[0.1, 0.99], [0.25, 0.95]].flatMap(([f, floor]) => [
    [`Sybils ${f * 100}%: never a wrong key`, byName(sybils[f]).every((x) => x.wrong === 0), byName(sybils[f]).map((x) => x.wrong).join(', ')],
    [`Sybils ${f * 100}%: lookups by name reach the right key ≥ ${floor * 100}%`, byName(sybils[f]).every((x) => share(x) >= floor), byName(sybils[f]).map((x) => pct(share(x))).join(', ')],
  ]),
  ['Sybils 10%: every lookup by name reaches the right key (100%)', byName(sybils[0.1]).every((x) => x.right === x.count), byName(sybils[0.1]).map((x) => `${x.right}/${x.count}`).join(', ')],
  ['JS heap per node ≤ 40 KB', Math.max(heapPerNode, heapWithRecords) <= 40 * 1024, `${(heapPerNode / 1024).toFixed(1)} KB (${(heapWithRecords / 1024).toFixed(1)} KB with records)`],
];
for (const [what, ok, value] of checks) console.log(`  ${verdict(ok)}  ${what}: ${value}`);
process.exitCode = checks.every((c) => c[1]) ? 0 : 1;
