/**
 * DhtNode: a DHT node with I/O. It binds a UDP socket (or any DatagramTransport), feeds the
 * sans-I/O DhtCore with datagrams and the wall clock, keeps one timer armed at the core's next
 * deadline, and turns operations into promises. This is the API the Peer and the CLI use.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import net from 'node:net';
import { Identity } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { UdpTransport, splitUdpAddress, formatUdpAddress } from '../transport/udp.js';
import type { DhtConfig } from './config.js';
import { DhtCore, type DhtOutput, type DhtStats } from './core.js';
import type { OpResult, PublishFields } from './operations.js';
import type { DhtRateLimiter } from './ratelimit.js';
import type { DhtRecord, RecordSigner } from './record.js';
import type { Contact } from './routing-table.js';
import { selfCertifyingOnly, unboundError, type BindingCheck } from './binding.js';
import type { ResolvedRecord } from './claims.js';

/** A name's record with the claims by other keys the lookup met on the way. */
export type LookupResult = ResolvedRecord & { conflicts: ResolvedRecord[] };

/** Where a node's datagrams go: UDP by default, the in-memory network in tests. */
export interface DatagramTransport {
  /** The bound address, "ip:port". */
  readonly address: string;
  send(to: string, data: Uint8Array): void;
  close(): Promise<void> | void;
}

export type TransportFactory = (onDatagram: (data: Uint8Array, from: string) => void, host: string, port: number) => Promise<DatagramTransport>;

export interface DhtNodeOptions {
  /** The node's key (its id is SHA-256 of the public key) and the default record signer; generated if absent. */
  identity?: RecordSigner;
  config?: Partial<DhtConfig>;
  /** Default: the spec's discovery limit (10/min, burst 20 per source); null for none. */
  rateLimiter?: DhtRateLimiter | null;
  /** Default: UDP on node:dgram. */
  transport?: TransportFactory;
  /** Wall clock in unix ms (default Date.now). */
  clock?: () => number;
  /** Which keys are bound to which names (default: self-certifying `agent-<fingerprint>` ids only). */
  binding?: BindingCheck;
}

export interface DhtStartOptions {
  /** Interface to bind (default 0.0.0.0). */
  host?: string;
  /** UDP port (default 0: any free port). */
  port?: number;
  /** "host:port" of nodes already in the network; none to start a new network. */
  bootstrap?: string[];
}

export interface DhtNodeStats extends DhtStats {
  contacts: number;
  storedRecords: number;
  pendingRequests: number;
  operations: number;
  /** Exceptions (a bug of ours) caught on the datagram or timer path: that datagram or tick was dropped. */
  internalErrors: number;
}

/** How long close() waits for its tombstones to be stored. */
const RETIRE_WAIT_MS = 3000;

const udpFactory: TransportFactory = async (onDatagram, host, port) => UdpTransport.bind({ host, port, onDatagram });

export class DhtNode {
  readonly identity: RecordSigner;
  private readonly clock: () => number;
  private readonly factory: TransportFactory;
  private readonly coreOptions: Pick<DhtNodeOptions, 'config' | 'rateLimiter'>;
  private core: DhtCore | null = null;
  private transport: DatagramTransport | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private readonly waiting = new Map<number, { resolve: (r: OpResult) => void; reject: (e: PeerError) => void }>();
  private state: 'new' | 'starting' | 'open' | 'closed' = 'new';
  private readonly binding: BindingCheck;
  private internalErrors = 0;

  constructor(opts: DhtNodeOptions = {}) {
    this.identity = opts.identity ?? Identity.generate();
    this.clock = opts.clock ?? Date.now;
    this.factory = opts.transport ?? udpFactory;
    this.coreOptions = { config: opts.config, rateLimiter: opts.rateLimiter };
    this.binding = opts.binding ?? selfCertifyingOnly;
  }

  /** Binds the socket and, given bootstrap addresses, joins through them (DHT_ERROR if none answers; the node is then closed). */
  async start(opts: DhtStartOptions = {}): Promise<void> {
    if (this.state !== 'new') throw new PeerError(ErrorCode.INVALID_STATE, `DHT node is ${this.state}`);
    this.state = 'starting';
    const core = new DhtCore({ identity: this.identity, now: this.clock(), ...this.coreOptions });
    try {
      this.transport = await this.factory((data, from) => this.guard(() => this.apply(core.receive(data, from, this.clock()))), opts.host ?? '0.0.0.0', opts.port ?? 0);
    } catch (err) {
      this.state = 'closed';
      throw err;
    }
    this.core = core;
    this.state = 'open';
    this.apply(core.drain());
    if (opts.bootstrap && opts.bootstrap.length > 0) {
      try {
        await this.bootstrap(opts.bootstrap);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
  }

  /** Joins (again) through `addresses`; host names are resolved. Resolves with the closest nodes found. */
  async bootstrap(addresses: string[]): Promise<Contact[]> {
    const resolved = await Promise.all(addresses.map((a) => this.resolve(a)));
    return (await this.operation((core, now) => core.bootstrap(resolved, now))).closest;
  }

  /**
   * Signs the record (last_seen = now; default signer: this node's identity) and stores it under
   * all its keys; it is republished every tRefresh until unpublish() or close(). Resolves with
   * the signed record once every key is stored on at least one node (else DHT_ERROR; the
   * republishing still goes on).
   */
  async publish(fields: PublishFields, signer: RecordSigner = this.identity): Promise<DhtRecord> {
    const r = await this.operation((core, now) => core.publish(fields, signer, now));
    return r.records[0]!;
  }

  unpublish(entityId: string): boolean {
    return this.open().unpublish(entityId);
  }

  /**
   * The signed record of an entity whose key is bound to its name (`bind`, default the node's
   * binding), with any claims by other keys met on the way (`conflicts`). DHT_ERROR with
   * details.reason 'unbound' or 'conflict' when records exist but none is bound, 'gone' after
   * the entity's signed tombstone, 'not-found' / 'unreachable' / 'no-contacts' otherwise.
   */
  async lookup(entityId: string, capability?: string, bind: BindingCheck = this.binding): Promise<LookupResult> {
    const claims = await this.claims(entityId, capability, bind);
    const [best, ...others] = claims;
    if (!best || best.binding === 'none') throw unboundError(entityId, claims.length);
    return { ...best, conflicts: others };
  }

  /** Every live claim on a name (bound first, then newest), whatever its binding: for callers that pin keys themselves. */
  async claims(entityId: string, capability?: string, bind: BindingCheck = this.binding): Promise<ResolvedRecord[]> {
    const r = await this.operation((core, now) => core.lookup(entityId, now, capability, bind));
    return [...r.records, ...r.conflicts];
  }

  /** Signed records of the entities offering `capability` (possibly none), each with its binding ('none': only a claim). */
  async discover(capability: string, bind: BindingCheck = this.binding): Promise<ResolvedRecord[]> {
    return (await this.operation((core, now) => core.discover(capability, now, bind))).records;
  }

  /** The k nodes closest to a 32-byte id. */
  async findNode(target: Uint8Array): Promise<Contact[]> {
    return (await this.operation((core, now) => core.findNode(target, now))).closest;
  }

  async ping(address: string): Promise<Contact> {
    const a = await this.resolve(address);
    return (await this.operation((core, now) => core.ping(a, now))).closest[0]!;
  }

  get id(): Uint8Array {
    return this.open().id;
  }

  /** "ip:port" the node is bound to. */
  get address(): string {
    if (!this.transport) throw new PeerError(ErrorCode.INVALID_STATE, 'DHT node is not started');
    return this.transport.address;
  }

  get port(): number {
    return splitUdpAddress(this.address)[1];
  }

  /** The underlying core (routing table, store, counters). */
  get dht(): DhtCore {
    return this.open();
  }

  stats(): DhtNodeStats {
    const core = this.open();
    return {
      ...core.stats, contacts: core.table.size, storedRecords: core.store.size, pendingRequests: core.pendingRequests, operations: core.ops.active,
      internalErrors: this.internalErrors,
    };
  }

  /** Stops republishing, rejects pending operations with DHT_ERROR and closes the socket. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'open' && this.core) {
      // Graceful: tombstones replace our records at the nodes holding them, so lookups and
      // discover() stop returning us within seconds instead of a ttl. Bounded: a node that
      // cannot reach anyone still closes after RETIRE_WAIT_MS.
      const core = this.core;
      const ops = core.retire(this.clock());
      const done = ops.map((op) => new Promise<void>((resolve) => this.waiting.set(op, { resolve: () => resolve(), reject: () => resolve() })));
      this.apply(core.drain());
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(done), new Promise<void>((r) => { timer = setTimeout(r, RETIRE_WAIT_MS); })]);
      clearTimeout(timer);
    }
    if ((this.state as string) === 'closed') return;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.waiting.values()) w.reject(new PeerError(ErrorCode.DHT_ERROR, 'DHT node closed', { reason: 'closed' }));
    this.waiting.clear();
    await this.transport?.close();
  }

  private open(): DhtCore {
    if (this.state !== 'open' || !this.core) throw new PeerError(ErrorCode.INVALID_STATE, `DHT node is ${this.state}`);
    return this.core;
  }

  private operation(start: (core: DhtCore, now: number) => number): Promise<OpResult> {
    const core = this.open();
    const op = start(core, this.clock());
    return new Promise<OpResult>((resolve, reject) => {
      this.waiting.set(op, { resolve, reject });
      this.apply(core.drain());
    }).then((r) => {
      if (!r.ok) throw r.error ?? new PeerError(ErrorCode.DHT_ERROR, `${r.kind} failed`);
      return r;
    });
  }

  private apply(out: DhtOutput): void {
    if (this.state !== 'open' || !this.transport) return;
    for (const d of out.datagrams) this.transport.send(d.to, d.data);
    for (const e of out.events) {
      const w = this.waiting.get(e.result.op);
      if (!w) continue;
      this.waiting.delete(e.result.op);
      w.resolve(e.result);
    }
    this.arm(out.deadline);
  }

  /**
   * The backstop of the datagram and timer handlers: what escapes them (a bug of ours; the core
   * turns every bad datagram into a count, never an exception) drops that datagram or tick and
   * is counted, instead of reaching the event loop and killing the process.
   */
  private guard(handler: () => void): void {
    try {
      handler();
    } catch {
      this.internalErrors++;
    }
  }

  /** One timer, at the core's next deadline (unref'd: the socket keeps the process alive). */
  private arm(deadline: number): void {
    if (deadline >= this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      if (this.state === 'open' && this.core) this.guard(() => this.apply(this.core!.tick(this.clock())));
    }, Math.max(0, deadline - this.clock()));
    this.timer.unref();
  }

  private async resolve(address: string): Promise<string> {
    const [host, port] = splitUdpAddress(address);
    if (net.isIP(host)) return formatUdpAddress(host, port);
    const v6 = this.transport ? this.transport.address.startsWith('[') : false;
    try {
      const r = await dnsLookup(host, { family: v6 ? 6 : 4 });
      return formatUdpAddress(r.address, port);
    } catch (err) {
      throw new PeerError(ErrorCode.DHT_ERROR, `cannot resolve ${host}: ${(err as Error).message}`, { reason: 'unreachable' });
    }
  }
}
