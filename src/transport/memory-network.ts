/**
 * An in-memory datagram network in virtual time, for simulations of thousands of nodes in one
 * process: nothing waits on a real clock, `run()` jumps from one event to the next. Latency comes
 * from positions in a unit square (so it is stable per pair, as on the Internet, and RTT
 * estimates mean something) plus optional jitter; loss drops datagrams at random; endpoints can
 * be killed and revived, or churn continuously (exponential up and down times).
 */
import { ErrorCode, PeerError } from '../errors.js';
import { MinHeap } from '../util/min-heap.js';

const UDP_MAX_PAYLOAD = 65_507;

export interface MemoryNetworkOptions {
  /** One-way delay between the closest endpoints (ms, default 5). */
  minLatencyMs?: number;
  /** One-way delay between opposite corners of the square (ms, default 100). */
  maxLatencyMs?: number;
  /** Uniform extra delay in [0, jitterMs) per datagram (default 0: no reordering on a path). */
  jitterMs?: number;
  /** Probability that a datagram is lost (default 0). */
  loss?: number;
  /** Seed of the network's own randomness (positions, loss, jitter, churn). */
  seed?: number;
  /** Virtual time at the start (ms; default 1.8e12, a plausible unix time). */
  startTime?: number;
}

export type DatagramHandler = (data: Uint8Array, from: string, now: number) => void;
export type TimerHandler = (now: number) => void;

export interface MemoryEndpoint {
  readonly index: number;
  readonly address: string;
  readonly alive: boolean;
  send(to: string, data: Uint8Array): void;
  /** Asks for onTimer at `at` (one callback per call; the owner ignores the stale ones). */
  setTimer(at: number): void;
}

class Endpoint implements MemoryEndpoint {
  alive = true;
  constructor(
    readonly net: MemoryNetwork,
    readonly index: number,
    readonly address: string,
    readonly x: number,
    readonly y: number,
    readonly onDatagram: DatagramHandler,
    readonly onTimer: TimerHandler | null,
  ) {}

  send(to: string, data: Uint8Array): void {
    this.net.send(this, to, data);
  }

  setTimer(at: number): void {
    this.net.timer(this.index, at);
  }
}

/** A delivery (data set), an endpoint timer (to ≥ 0, no data) or a callback (fn set). */
class Event {
  constructor(
    readonly at: number,
    readonly to: number,
    readonly from: string | null,
    readonly data: Uint8Array | null,
    readonly fn: (() => void) | null,
  ) {}
}

export interface MemoryNetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  /** Sent by, or addressed to, a dead or unknown endpoint. */
  undeliverable: number;
  tooLarge: number;
}

export class MemoryNetwork {
  now: number;
  private readonly endpoints: Endpoint[] = [];
  private readonly byAddress = new Map<string, Endpoint>();
  private readonly queue = new MinHeap<Event>();
  private rng: number;
  private readonly minLatency: number;
  private readonly latencySpan: number;
  private readonly jitter: number;
  private readonly loss: number;
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, lost: 0, undeliverable: 0, tooLarge: 0 };

  constructor(opts: MemoryNetworkOptions = {}) {
    this.now = opts.startTime ?? 1.8e12;
    this.rng = (opts.seed ?? 1) >>> 0 || 1;
    this.minLatency = opts.minLatencyMs ?? 5;
    this.latencySpan = Math.max(0, (opts.maxLatencyMs ?? 100) - this.minLatency);
    this.jitter = opts.jitterMs ?? 0;
    this.loss = opts.loss ?? 0;
    if (!(this.loss >= 0 && this.loss < 1) || this.minLatency < 0 || this.jitter < 0) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'memory network: loss must be in [0, 1), latencies and jitter ≥ 0');
    }
  }

  /** xorshift32: the network's own randomness, independent of the nodes'. */
  random(): number {
    let x = this.rng;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng / 0x100000000;
  }

  get size(): number {
    return this.endpoints.length;
  }

  get pending(): number {
    return this.queue.size;
  }

  /**
   * A new endpoint: by default 10.a.b.1:4000 with a.b the low 16 bits of its index + 1, so each
   * of the first 65,535 endpoints has a /24 of its own (limits count by prefix); or `address`
   * (an attacker's hosts sharing one subnet).
   */
  attach(onDatagram: DatagramHandler, onTimer: TimerHandler | null = null, at?: string): MemoryEndpoint {
    const index = this.endpoints.length;
    const n = index + 1;
    const address = at ?? `10.${n & 255}.${(n >>> 8) & 255}.${((n >>> 16) & 255) + 1}:4000`;
    if (this.byAddress.has(address)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `address ${address} is taken`);
    const ep = new Endpoint(this, index, address, this.random(), this.random(), onDatagram, onTimer);
    this.endpoints.push(ep);
    this.byAddress.set(address, ep);
    return ep;
  }

  endpoint(address: string): MemoryEndpoint | undefined {
    return this.byAddress.get(address);
  }

  /** One-way delay from a to b before jitter (ms). */
  latency(a: MemoryEndpoint, b: MemoryEndpoint): number {
    const ea = a as Endpoint;
    const eb = b as Endpoint;
    const d = Math.hypot(ea.x - eb.x, ea.y - eb.y) / Math.SQRT2;
    return this.minLatency + d * this.latencySpan;
  }

  send(from: MemoryEndpoint, to: string, data: Uint8Array): void {
    this.stats.sent++;
    const dst = this.byAddress.get(to);
    if (!from.alive || !dst || !dst.alive) {
      this.stats.undeliverable++;
      return;
    }
    if (data.length > UDP_MAX_PAYLOAD) {
      this.stats.tooLarge++;
      return;
    }
    if (this.loss > 0 && this.random() < this.loss) {
      this.stats.lost++;
      return;
    }
    const delay = this.latency(from, dst) + (this.jitter > 0 ? this.random() * this.jitter : 0);
    this.queue.push(new Event(this.now + delay, dst.index, from.address, data, null));
  }

  /** Calls endpoint `index`'s onTimer at `at`. */
  timer(index: number, at: number): void {
    this.queue.push(new Event(Math.max(at, this.now), index, null, null, null));
  }

  /** Runs `fn` at virtual time `at`. */
  schedule(at: number, fn: () => void): void {
    this.queue.push(new Event(Math.max(at, this.now), -1, null, null, fn));
  }

  kill(address: string): void {
    const ep = this.byAddress.get(address);
    if (ep) ep.alive = false;
  }

  revive(address: string): void {
    const ep = this.byAddress.get(address);
    if (ep) ep.alive = true;
  }

  /**
   * Continuous churn: every endpoint alive now stays up for an exponential time of mean
   * `meanUpMs`, then down for one of mean `meanDownMs`, and so on, until `untilMs`.
   * `onChange` runs after each switch (to re-arm a revived node's timers).
   */
  churn(meanUpMs: number, meanDownMs: number, untilMs: number, onChange?: (ep: MemoryEndpoint) => void): void {
    const exp = (mean: number): number => -Math.log(1 - this.random()) * mean;
    const flip = (ep: Endpoint): void => {
      ep.alive = !ep.alive;
      onChange?.(ep);
      const next = this.now + exp(ep.alive ? meanUpMs : meanDownMs);
      if (next < untilMs) this.schedule(next, () => flip(ep));
    };
    for (const ep of this.endpoints) {
      if (!ep.alive) continue;
      const first = this.now + exp(meanUpMs);
      if (first < untilMs) this.schedule(first, () => flip(ep));
    }
  }

  /** Processes one event; false when none is left. */
  step(): boolean {
    const ev = this.queue.pop();
    if (!ev) return false;
    this.now = Math.max(this.now, ev.at);
    if (ev.fn) {
      ev.fn();
    } else {
      const ep = this.endpoints[ev.to]!;
      if (ev.data) {
        // A node that died while the datagram was on its way never sees it.
        if (!ep.alive) this.stats.undeliverable++;
        else {
          this.stats.delivered++;
          ep.onDatagram(ev.data, ev.from!, this.now);
        }
      } else if (ep.alive && ep.onTimer) {
        ep.onTimer(this.now);
      }
    }
    return true;
  }

  /** Processes every event up to `until` (inclusive), then sets the clock to `until`. */
  run(until: number): void {
    while (this.queue.size > 0 && this.queue.peek()!.at <= until) this.step();
    this.now = Math.max(this.now, until);
  }

  /** Processes events until `done()` holds (checked after each), nothing is left, or `until`. */
  runUntil(done: () => boolean, until = Infinity): boolean {
    while (!done()) {
      if (this.queue.size === 0 || this.queue.peek()!.at > until) return false;
      this.step();
    }
    return true;
  }
}
