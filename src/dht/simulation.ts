/**
 * A network of DhtCores on the in-memory network, in virtual time: the driver that the 10,000-node
 * simulation (bench/sim-dht.js) and the simulation tests share. Each node is a core, an endpoint
 * and one pending timer; nothing else is kept per node, so memory per node is the core's.
 */
import { MemoryNetwork, type MemoryEndpoint, type MemoryNetworkOptions } from '../transport/memory-network.js';
import { ErrorCode, isPeerError, PeerError } from '../errors.js';
import type { DhtConfig } from './config.js';
import { DhtCore, type DhtOutput } from './core.js';
import { compareDistance } from './id.js';
import type { OpResult } from './operations.js';
import { SeededRandom } from './random.js';
import { TokenBucketLimiter } from './ratelimit.js';

export interface SimulationOptions {
  seed?: number;
  network?: MemoryNetworkOptions;
  config?: Partial<DhtConfig>;
  /** The spec's discovery limit on every node (default true). */
  rateLimit?: boolean;
}

export interface SimNode {
  readonly index: number;
  readonly core: DhtCore;
  readonly ep: MemoryEndpoint;
  timerAt: number;
}

/** Starts an operation on a core; returns its op id. */
export type Starter = (core: DhtCore, now: number) => number;

export class DhtSimulation {
  readonly net: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly random: SeededRandom;
  private readonly config: Partial<DhtConfig>;
  private readonly rateLimit: boolean;
  /** Callbacks for operations in flight, by op id × 2^20 + node index. */
  private readonly waiting = new Map<number, (r: OpResult) => void>();

  constructor(opts: SimulationOptions = {}) {
    this.random = new SeededRandom(opts.seed ?? 1);
    this.net = new MemoryNetwork({ seed: (opts.seed ?? 1) * 7919 + 1, ...opts.network });
    this.config = opts.config ?? {};
    this.rateLimit = opts.rateLimit ?? true;
  }

  get now(): number {
    return this.net.now;
  }

  addNode(): SimNode {
    // Simulated nodes never sign, so any 32 bytes serve as a public key (the id is its SHA-256).
    const core = new DhtCore({
      publicKey: this.random.bytes(32), now: this.net.now, config: this.config, random: this.random,
      rateLimiter: this.rateLimit ? new TokenBucketLimiter() : null,
    });
    const index = this.nodes.length;
    const node: SimNode = {
      index, core, timerAt: Infinity,
      ep: this.net.attach(
        (data, from, now) => this.apply(node, core.receive(data, from, now)),
        (now) => {
          if (now < node.timerAt) return;
          node.timerAt = Infinity;
          this.apply(node, core.tick(now));
        },
      ),
    };
    this.nodes.push(node);
    this.apply(node, core.drain());
    return node;
  }

  private apply(node: SimNode, out: DhtOutput): void {
    for (const d of out.datagrams) node.ep.send(d.to, d.data);
    for (const e of out.events) {
      const key = e.result.op * 0x100000 + node.index;
      const cb = this.waiting.get(key);
      if (cb) {
        this.waiting.delete(key);
        cb(e.result);
      }
    }
    if (out.deadline < node.timerAt) {
      node.timerAt = out.deadline;
      node.ep.setTimer(out.deadline);
    }
  }

  /** Starts an operation on node `index`; `done` gets its result (a synchronous refusal too). */
  start(index: number, starter: Starter, done: (r: OpResult) => void): void {
    const node = this.nodes[index]!;
    const now = this.net.now;
    let op: number;
    try {
      op = starter(node.core, now);
    } catch (err) {
      if (!isPeerError(err)) throw err;
      done(failure(err, now));
      return;
    }
    this.waiting.set(op * 0x100000 + index, done);
    this.apply(node, node.core.drain());
  }

  /** Runs one operation to its end. */
  run(index: number, starter: Starter): OpResult {
    let result: OpResult | null = null;
    this.start(index, starter, (r) => { result = r; });
    this.net.runUntil(() => result !== null);
    if (!result) throw new PeerError(ErrorCode.INVALID_STATE, 'simulation: the network went idle before the operation ended');
    return result;
  }

  /** Runs tasks with at most `concurrency` in flight; results in task order. */
  runAll(tasks: { node: number; start: Starter }[], concurrency: number, onProgress?: (done: number) => void): OpResult[] {
    const results: (OpResult | null)[] = tasks.map(() => null);
    let next = 0;
    let finished = 0;
    const launch = (): void => {
      if (next >= tasks.length) return;
      const i = next++;
      this.start(tasks[i]!.node, tasks[i]!.start, (r) => {
        results[i] = r;
        finished++;
        if (onProgress && finished % 100 === 0) onProgress(finished);
        // Launched from a timer, not from inside the finishing node's event handling.
        this.net.schedule(this.net.now, launch);
      });
    };
    for (let i = 0; i < concurrency; i++) launch();
    this.net.runUntil(() => finished === tasks.length);
    if (finished !== tasks.length) throw new PeerError(ErrorCode.INVALID_STATE, 'simulation: the network went idle before every task ended');
    return results as OpResult[];
  }

  /**
   * Grows the network to `total` nodes: one joins every `intervalMs` (virtual), bootstrapping
   * from a random live node already there; then runs `settleMs` so the joins' bucket refreshes end.
   */
  grow(total: number, intervalMs = 10, settleMs = 60_000, onProgress?: (joined: number) => void): { failedJoins: number } {
    let joined = 0;
    let failed = 0;
    const first = this.nodes.length;
    if (first === 0) this.addNode();
    const count = total - this.nodes.length;
    for (let i = 0; i < count; i++) {
      this.net.schedule(this.net.now + i * intervalMs, () => {
        const peer = this.randomAlive(true);
        const node = this.addNode();
        this.start(node.index, (core, now) => core.bootstrap([peer.ep.address], now), (r) => {
          joined++;
          if (!r.ok) failed++;
          if (onProgress && joined % 1000 === 0) onProgress(joined);
        });
      });
    }
    this.net.runUntil(() => joined === count);
    this.net.run(this.net.now + settleMs);
    return { failedJoins: failed };
  }

  /** A random live node (one that has joined, if `joined`: what a bootstrap list would hold). */
  randomAlive(joined = false): SimNode {
    for (;;) {
      const n = this.nodes[this.random.u32() % this.nodes.length]!;
      if (n.ep.alive && (!joined || n.core.joined || n.index === 0)) return n;
    }
  }

  /** Kills `fraction` of the live nodes at once (chosen at random); returns their indices. */
  kill(fraction: number): number[] {
    const alive = this.nodes.filter((n) => n.ep.alive);
    const victims: number[] = [];
    const count = Math.round(alive.length * fraction);
    for (let i = 0; i < count; i++) {
      const j = i + (this.random.u32() % (alive.length - i));
      [alive[i], alive[j]] = [alive[j]!, alive[i]!];
      this.net.kill(alive[i]!.ep.address);
      victims.push(alive[i]!.index);
    }
    return victims;
  }

  revive(index: number): void {
    const node = this.nodes[index]!;
    this.net.revive(node.ep.address);
    node.timerAt = Infinity;
    this.apply(node, node.core.tick(this.net.now));
  }

  /**
   * Continuous churn until `untilMs` (virtual): each live node stays up for an exponential time
   * of mean `meanUpMs`, then down for one of mean `meanDownMs` (keeping its state, like a host
   * that drops off the network), and so on.
   */
  churn(meanUpMs: number, meanDownMs: number, untilMs: number): void {
    this.net.churn(meanUpMs, meanDownMs, untilMs, (ep) => {
      if (!ep.alive) return;
      const node = this.nodes[ep.index]!;
      node.timerAt = Infinity;
      this.apply(node, node.core.tick(this.net.now));
    });
  }

  /** Advances virtual time by `ms`, processing everything due. */
  advance(ms: number): void {
    this.net.run(this.net.now + ms);
  }

  /** Indices of the `k` live nodes closest to `target` (excluding `exclude`), closest first. */
  trueClosest(target: Uint8Array, k: number, exclude = -1): number[] {
    const best: number[] = [];
    for (const n of this.nodes) {
      if (!n.ep.alive || n.index === exclude) continue;
      if (best.length === k && compareDistance(n.core.id, this.nodes[best[k - 1]!]!.core.id, target) >= 0) continue;
      let i = best.length === k ? k - 1 : best.length;
      if (best.length < k) best.push(n.index);
      while (i > 0 && compareDistance(n.core.id, this.nodes[best[i - 1]!]!.core.id, target) < 0) {
        best[i] = best[i - 1]!;
        i--;
      }
      best[i] = n.index;
    }
    return best;
  }
}

function failure(error: PeerError, now: number): OpResult {
  return { op: 0, kind: 'find-node', ok: false, error, closest: [], records: [], conflicts: [], stored: 0, rpcs: 0, startedAt: now, finishedAt: now };
}
