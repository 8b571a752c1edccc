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
import { SimulatedKeys } from './proof.js';

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
  /** What handles each datagram: the core's receive(), or an adversary's replacement (sim-adversary.ts). */
  receive: (data: Uint8Array, from: string, now: number) => DhtOutput;
  /** False once an adversary has taken the node over: measurements start only from honest nodes. */
  honest: boolean;
  timerAt: number;
}

export interface AddNodeOptions {
  /** The node's public key (its id is the key's SHA-256); default 32 random bytes. */
  publicKey?: Uint8Array;
  /** Default: the network's next address (a /24 of its own). */
  address?: string;
}

/** Told how far a long step has got: `done` of `total` (operations, joins or virtual ms). */
export type ProgressHook = (done: number, total: number) => void;

/** Starts an operation on a core; returns its op id. */
export type Starter = (core: DhtCore, now: number) => number;

export class DhtSimulation {
  readonly net: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly random: SeededRandom;
  /** The nodes' keys (they sign PONGs to prove their ids). */
  readonly keys = new SimulatedKeys();
  private readonly config: Partial<DhtConfig>;
  private readonly rateLimit: boolean;
  /** Called as runAll(), grow() and advance() go (a long run shows where it is). */
  progress: ProgressHook | null = null;
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

  addNode(opts: AddNodeOptions = {}): SimNode {
    // Simulated keys: Ed25519 for 10,000 nodes would dominate the run (proof.ts). A given
    // public key (an adversary's ground id) gets a secret of its own in the keyring.
    const core = new DhtCore({
      identity: this.keys.signer(this.random, opts.publicKey), verify: this.keys.verify, now: this.net.now, config: this.config, random: this.random,
      rateLimiter: this.rateLimit ? new TokenBucketLimiter() : null,
    });
    const index = this.nodes.length;
    const node: SimNode = {
      index, core, honest: true, timerAt: Infinity,
      receive: (data, from, now) => core.receive(data, from, now),
      ep: this.net.attach(
        (data, from, now) => this.apply(node, node.receive(data, from, now)),
        (now) => {
          if (now < node.timerAt) return;
          node.timerAt = Infinity;
          this.apply(node, core.tick(now));
        },
        opts.address,
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
  runAll(tasks: { node: number; start: Starter }[], concurrency: number): OpResult[] {
    const results: (OpResult | null)[] = tasks.map(() => null);
    let next = 0;
    let finished = 0;
    const launch = (): void => {
      if (next >= tasks.length) return;
      const i = next++;
      this.start(tasks[i]!.node, tasks[i]!.start, (r) => {
        results[i] = r;
        finished++;
        if (this.progress && finished % 10 === 0) this.progress(finished, tasks.length);
        // Launched from a timer, not from inside the finishing node's event handling.
        this.net.schedule(this.net.now, launch);
      });
    };
    for (let i = 0; i < concurrency; i++) launch();
    this.net.runUntil(() => finished === tasks.length);
    if (finished !== tasks.length) throw new PeerError(ErrorCode.INVALID_STATE, 'simulation: the network went idle before every task ended');
    return results as OpResult[];
  }

  /** Adds a node (see addNode) that joins through a random joined node; `done` gets the bootstrap's result. */
  join(opts: AddNodeOptions, done: (r: OpResult) => void): SimNode {
    const peer = this.randomAlive(true);
    const node = this.addNode(opts);
    this.start(node.index, (core, now) => core.bootstrap([peer.ep.address], now), done);
    return node;
  }

  /**
   * Grows the network to `total` nodes: one joins every `intervalMs` (virtual), bootstrapping
   * from a random live node already there; then runs `settleMs` so the joins' bucket refreshes end.
   */
  grow(total: number, intervalMs = 10, settleMs = 60_000): { failedJoins: number } {
    let joined = 0;
    let failed = 0;
    if (this.nodes.length === 0) this.addNode();
    const count = total - this.nodes.length;
    for (let i = 0; i < count; i++) {
      this.net.schedule(this.net.now + i * intervalMs, () => {
        this.join({}, (r) => {
          joined++;
          if (!r.ok) failed++;
          if (this.progress && joined % 10 === 0) this.progress(joined, count);
        });
      });
    }
    this.net.runUntil(() => joined === count);
    this.advance(settleMs);
    return { failedJoins: failed };
  }

  /** A random live node (one that has joined, if `joined`: what a bootstrap list would hold). */
  randomAlive(joined = false): SimNode {
    for (;;) {
      const n = this.nodes[this.random.u32() % this.nodes.length]!;
      if (n.ep.alive && (!joined || n.core.joined || n.index === 0)) return n;
    }
  }

  /** A random live honest node (requesters and owners in the measurements). */
  randomHonest(): SimNode {
    for (;;) {
      const n = this.nodes[this.random.u32() % this.nodes.length]!;
      if (n.ep.alive && n.honest) return n;
    }
  }

  /** Kills `fraction` of the live nodes that pass `which` (all by default), chosen at random; returns their indices. */
  kill(fraction: number, which: (n: SimNode) => boolean = () => true): number[] {
    const alive = this.nodes.filter((n) => n.ep.alive && which(n));
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

  /** Advances virtual time by `ms`, processing everything due (in steps of a virtual second, for the progress hook). */
  advance(ms: number): void {
    const start = this.net.now;
    const end = start + ms;
    for (let t = start; t < end;) {
      t = Math.min(end, t + 1000);
      this.net.run(t);
      this.progress?.(t - start, ms);
    }
    this.net.run(end);
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
