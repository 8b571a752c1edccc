/**
 * Peer: the object most users touch. It owns an identity, a trust policy, a TCP listener and
 * the sessions, and re-emits their messages:
 *
 *   const peer = await Peer.create({ identity });
 *   await peer.listen({ port: 7400 });
 *   const session = await peer.connect('127.0.0.1:7401');
 *   await session.send('hello', { type: 'task' });
 *   peer.on('message', ({ from, type, payload, seq, session }) => …);
 *   await peer.close();
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { V1Endpoint, type JsonInput, type V1EndpointOptions, type V1Message, type V1Session } from '../compat/v1/index.js';
import {
  DEFAULT_PROCESS_REASSEMBLY_BYTES, ReassemblyBudgets, bufferPoolStats, processReassemblyBudget, type BudgetLease, type BufferPoolStats,
} from '../chunking/index.js';
import { Identity, type AeadSuite } from '../crypto/index.js';
import { DhtNode, RECORD_TTL_S, type DhtConfig, type LookupResult, type ResolvedRecord } from '../dht/index.js';
import { DhtNames } from './dht-names.js';
import { RateLimiter, type PeerLimits, type RateClass, type RateLimiterOptions } from '../ratelimit/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { InitReplayGuard, type HandshakeOptions, type RemoteIdentity } from '../handshake/index.js';
import { connectTcp, listenTcp, parseAddress, type TcpAddress } from '../transport/index.js';
import { messageTypeId, type MessageType } from '../wire/index.js';
import { OfflineQueue, type QueueOptions } from '../queue/index.js';
import { ListenerGuard, type AddressLimits, type ListenerLimits, type ListenerStats } from './listener-guard.js';
import { acceptConnection } from './listener.js';
import { Session, type AdmissionHooks, type MessageV11, type SessionIoOptions } from './session.js';
import { TrustStore, type PublicKeyInput } from './trust.js';
import { sessionForwarders, type PeerEvents, type SessionForwarders } from './events.js';
import { RemoteHandle, type HandleOptions } from './handle.js';
import { MailAgent, MailPost, RelayAgent, RelayServer, openCircuit, type MailboxUseOptions, type RelayOptions, type ReserveOptions } from '../relay/index.js';

export interface PeerOptions {
  identity?: Identity;
  /** Our entity id (default: "agent-" + the first 16 hex chars of the fingerprint). */
  entityId?: string;
  /** Pinned keys per entity id, or a TrustStore. */
  trust?: TrustStore | Iterable<[string, PublicKeyInput]>;
  /** Accept entities with no pinned key (default true). Ignored when `trust` is a TrustStore. */
  acceptUnknown?: boolean;
  /** Cipher suites in preference order. */
  suites?: AeadSuite[];
  session?: SessionIoOptions;
  /** Reassembly memory one remote peer may hold across its sessions (default 128 MiB). */
  maxReassemblyBytesPerPeer?: number;
  /** Reassembly memory all peers whose key is not pinned may hold together (default 128 MiB). */
  maxReassemblyBytesUnpinned?: number;
  /** Reassembly memory unpinned peers from one address prefix (IPv4 /32, IPv6 /64) may hold together (default 72 MiB). */
  maxReassemblyBytesPerPrefix?: number;
  /** Reassembly memory of all peers in this process together (default 512 MiB; the first Peer sets it). */
  maxReassemblyBytesPerProcess?: number;
  /** Listener defences: connections and handshakes per address, half-open cap, cookie threshold, deadlines. */
  listener?: ListenerLimits;
  /**
   * How per-address limits (listener, v1.0 endpoint unless `v1.addressLimits`) group addresses:
   * by prefix (default IPv4 /32, IPv6 /64), and the prefixes exempt from them (a load balancer,
   * a private network).
   */
  addressLimits?: AddressLimits;
  /** DHT nodes ("host:port", UDP) to join through; giving this (or `dht`) starts the DHT node. */
  bootstrap?: string[];
  /** Capabilities to publish in this peer's DHT record (found with `peer.discover`). */
  capabilities?: string[];
  /** DHT node settings: UDP host/port, Kademlia parameters, the addresses to advertise. */
  dht?: {
    host?: string; port?: number; config?: Partial<DhtConfig>; advertise?: string[];
    /** Trust a human name's key on first lookup, then pin it (default false: only pinned or self-certifying names resolve). */
    pinFirstSeen?: boolean;
  };
  /**
   * Speak v1.0 (JSON over HTTP, signed, NOT encrypted) — off by default, never silently:
   * `listenV1()` and `sendV1()` refuse unless this is true. docs/V1_COMPAT.md.
   */
  allowV1?: boolean;
  /** v1.0 endpoint settings (v1.0 peers' URLs, limits, ...); identity, entity id and trust are the Peer's. */
  v1?: Omit<V1EndpointOptions, 'identity' | 'entityId' | 'trust'>;
  /**
   * Rate limits per (peer, class), the spec's defaults unless configured; handshakes are limited
   * per source address. Peers whose key is pinned in `trust` get the level 'trusted'
   * (unlimited unless `levels.trusted` says otherwise). See docs/RATE_LIMITS.md.
   */
  rateLimits?: RateLimiterOptions;
  handshake?: Pick<HandshakeOptions, 'challengeLifetimeMs' | 'handshakeTimeoutMs' | 'versions'>;
  /**
   * The durable offline queue (`peer.deliver`, docs/QUEUE.md). Given, the store opens and
   * delivery of what it holds starts at create; otherwise on first use.
   */
  queue?: QueueOptions;
  /** Serve as a relay for agents that reserve with it, on a port of its own (opt-in; docs/RELAY.md). */
  relay?: RelayOptions;
  /** Reserve slots on these relays and list them in our DHT record, for when nobody can connect to us (docs/RELAY.md). */
  reserve?: ReserveOptions;
  /** Keep a mailbox on this relay for when we are offline: published with its key in our record, drained on start (docs/RELAY.md). */
  mailbox?: MailboxUseOptions;
}

/** How a session reached its remote: directly, or through these relays (first hop first). */
export interface Route {
  path: 'direct' | 'relay';
  via: string[];
}

export interface PeerStats {
  sessions: number;
  handshakesCompleted: number;
  handshakesFailed: number;
  sessionErrors: Partial<Record<ErrorCode, number>>;
  messagesReceived: number;
  recordsDropped: number;
  /** Chunked messages refused or abandoned (CHUNK_ERROR), in either direction. */
  chunkErrors: number;
  /**
   * Exceptions caught by a session's backstop (socket and timer handlers, session.ts): each
   * ended only its session. Also emitted as 'internalError' (err, session).
   */
  internalErrors: number;
  /** Publications of our DHT record that reached no node (e.g. the first node of a network). */
  dhtPublishFailures: number;
  /** What the listener refused before any crypto (listener-guard.ts). */
  listener: ListenerStats;
  /** Messages dropped by the rate limiter, per class. */
  rateLimited: ReturnType<RateLimiter['stats']>;
  /** Handshakes refused per source address (class handshake). */
  handshakeRateLimited: ReturnType<RateLimiter['stats']>;
  /**
   * Memory of buffered chunked messages being received: this peer's (all its remotes), of which
   * unpinned remotes hold `unpinnedBytesInUse`, the whole process's (the budget every Peer
   * shares), and the process-wide large-buffer pool.
   */
  reassembly: { bytesInUse: number; unpinnedBytesInUse: number; processBytesInUse: number; pool: BufferPoolStats };
}

export class Peer extends EventEmitter<PeerEvents> {
  readonly identity: Identity;
  readonly entityId: string;
  readonly trust: TrustStore;
  private server: net.Server | null = null;
  private readonly sessions = new Set<Session>();
  private readonly handles = new Set<RemoteHandle>();
  /** Accepted connections, whatever state their session is in. */
  private readonly sockets = new Set<net.Socket>();
  private readonly replayGuard = new InitReplayGuard();
  /** Messages per (remote key, class). */
  private readonly limiter: RateLimiter;
  /** Handshakes per source address: a separate table, so an address flood cannot evict identities. */
  private readonly addressLimiter: RateLimiter;
  private readonly unwatchTrust: () => void;
  private readonly guard: ListenerGuard;
  /** The offline queue: `peer.deliver()`, and `peer.queue.on('message')` for what others queued to us. */
  readonly queue: OfflineQueue;
  private v1: V1Endpoint | null = null;
  private dhtNode: DhtNode | null = null;
  private readonly names: DhtNames;
  /** Reassembly budgets per remote peer, address prefix and trust, nested in the process budget. */
  private readonly budgets: ReassemblyBudgets;
  private relayServer: RelayServer | null = null;
  private relayAgent: RelayAgent | null = null;
  private mailAgent: MailAgent | null = null;
  private mailPost: MailPost | null = null;
  private readonly routes = new WeakMap<Session, Route>();
  /** The same for every session (renewals too): built once. */
  private readonly handshakeOptions: HandshakeOptions;
  /** Listeners on every session's events, shared (events.ts). */
  private readonly forwarders: SessionForwarders;
  /** Received messages go through the offline queue first (its acknowledgements). */
  private readonly divert: (m: MessageV11) => boolean;
  /** An accepted socket's 'close' listener, shared by all of them. */
  private readonly forgetSocket: (this: net.Socket) => void;
  private closed = false;
  private readonly counters: Omit<PeerStats, 'listener' | 'rateLimited' | 'handshakeRateLimited' | 'reassembly'> = {
    sessions: 0, handshakesCompleted: 0, handshakesFailed: 0, sessionErrors: {}, messagesReceived: 0, recordsDropped: 0, chunkErrors: 0, internalErrors: 0, dhtPublishFailures: 0,
  };

  private constructor(private readonly opts: PeerOptions) {
    super();
    this.identity = opts.identity ?? Identity.generate();
    this.entityId = opts.entityId ?? `agent-${this.identity.fingerprint.slice(0, 16)}`;
    this.trust = opts.trust instanceof TrustStore ? opts.trust : new TrustStore(opts.trust ?? [], opts.acceptUnknown ?? true);
    // Pinned (trusted) peers get the 'trusted' level: unlimited unless configured otherwise.
    this.limiter = new RateLimiter({
      levelOf: (fingerprint) => (this.trust.isPinnedKey(fingerprint) ? 'trusted' : undefined),
      ...opts.rateLimits,
      levels: { trusted: 'unlimited', ...opts.rateLimits?.levels },
    });
    // A key pinned (or unpinned) later moves a peer already tracked to its new level at once.
    this.unwatchTrust = this.trust.watch((fingerprint) => this.limiter.refreshLevel(fingerprint, Date.now()));
    this.addressLimiter = new RateLimiter({ classes: opts.rateLimits?.classes });
    this.guard = new ListenerGuard(opts.listener ?? {}, this.addressLimiter, Date.now(), opts.addressLimits);
    this.names = new DhtNames(this.trust, opts.dht?.pinFirstSeen ?? false);
    this.budgets = new ReassemblyBudgets(
      {
        perPeer: opts.maxReassemblyBytesPerPeer, perPrefix: opts.maxReassemblyBytesPerPrefix, unpinned: opts.maxReassemblyBytesUnpinned,
        prefixBits: opts.addressLimits?.prefixBits, exempt: opts.addressLimits?.exempt,
      },
      this.processBudget(),
    );
    this.queue = new OfflineQueue(this, opts.queue);
    this.divert = (m) => this.queue.divert(m);
    const sockets = this.sockets;
    this.forgetSocket = function (this: net.Socket) {
      sockets.delete(this);
    };
    this.forwarders = sessionForwarders(this, this.counters, (session) => this.sessions.delete(session));
    this.handshakeOptions = {
      identity: this.identity,
      entityId: this.entityId,
      suites: this.opts.suites,
      replayGuard: this.replayGuard,
      verifyRemote: (remote) => this.trust.check(remote),
      ...this.opts.handshake,
    };
  }

  static async create(opts: PeerOptions = {}): Promise<Peer> {
    const peer = new Peer(opts);
    if (opts.bootstrap !== undefined || opts.dht !== undefined) await peer.startDht();
    if (opts.queue !== undefined) await peer.queue.start();
    if (opts.relay !== undefined) {
      peer.relayServer = new RelayServer(peer.identity, opts.relay);
      await peer.relayServer.listen();
    }
    if (opts.reserve !== undefined) {
      const ttlS = opts.reserve.ttlS ?? opts.dht?.config?.recordTtlS ?? RECORD_TTL_S;
      peer.relayAgent = new RelayAgent(peer.identity, { ...opts.reserve, ttlS }, (socket, relay) => peer.attachRelayed(socket, 'responder', [relay]));
      peer.relayAgent.on('change', () => void peer.publish());
    }
    if (opts.mailbox !== undefined) {
      const agent = (peer.mailAgent = new MailAgent(peer.identity, opts.mailbox));
      agent.on('mail', (m) => peer.emit('mail', m));
      agent.on('change', () => void peer.publish());
      // Not awaited: the first drain's messages arrive after the caller attached its 'mail' listener.
      void agent.start();
    }
    return peer;
  }

  /**
   * Leaves a message in `entityId`'s mailbox (named, with its key, in its signed DHT record),
   * sealed to it, with our identity and signature inside the seal; resolves with its 16-byte id
   * once the mailbox stored it durably. For a recipient that is offline (docs/RELAY.md).
   */
  async mail(entityId: string, payload: Uint8Array | string, options: { type?: MessageType | number; ttlMs?: number; id?: Uint8Array } = {}): Promise<Uint8Array> {
    this.mailPost ??= new MailPost(this.identity, this.entityId);
    const record = await this.mailPost.recordFor(entityId, () => this.lookup(entityId));
    const type = typeof options.type === 'string' ? messageTypeId(options.type) : options.type;
    return this.mailPost.send(record, typeof payload === 'string' ? Buffer.from(payload) : payload, { ...options, type });
  }

  /** Our mailbox (option `mailbox`): `drain()` now, `rotate()` the key; null without one. */
  get mailbox(): MailAgent | null {
    return this.mailAgent;
  }

  /**
   * Queues a message for `recipient` (entity id) in the durable outbox; resolves with its 16-byte
   * id once stored. Delivered when reachable, exactly once to its application (docs/QUEUE.md).
   */
  deliver(recipient: string, payload: Uint8Array | string, options?: { type?: MessageType | number; ttl?: number }): Promise<Uint8Array> {
    return this.queue.deliver(recipient, payload, options);
  }

  /** The DHT node, when this peer joined one (Peer.create with `bootstrap` or `dht`). */
  get dht(): DhtNode | null {
    return this.dhtNode;
  }

  /**
   * The signed DHT record of an entity whose key is bound to its id (self-certifying, pinned
   * in `trust`, or first-seen if opted in), with `binding` and any `conflicts`. PeerError
   * DHT_ERROR (details.reason 'unbound' / 'conflict' / 'gone' / 'not-found' …) otherwise.
   */
  async lookup(entityId: string): Promise<LookupResult> {
    return this.names.lookup(this.requireDht(), entityId);
  }

  /** Signed DHT records of the entities offering `capability` (possibly none), each with its `binding`. */
  async discover(capability: string): Promise<ResolvedRecord[]> {
    return this.requireDht().discover(capability, this.names.bind);
  }

  private async startDht(): Promise<void> {
    const node = new DhtNode({ identity: this.identity, config: this.opts.dht?.config });
    await node.start({ host: this.opts.dht?.host ?? '0.0.0.0', port: this.opts.dht?.port ?? 0, bootstrap: this.opts.bootstrap ?? [] });
    this.dhtNode = node;
    await this.publish();
  }

  /** Publishes (and the node keeps republishing) our record: entity id, TCP addresses, capabilities. */
  private async publish(): Promise<void> {
    // A read-only DHT node is a client (the CLI's lookups): it serves nothing and publishes nothing.
    if (this.dhtNode === null || this.opts.dht?.config?.readOnly) return;
    const tcp = this.address;
    const host = tcp && tcp.host !== '0.0.0.0' && tcp.host !== '::' ? tcp.host : '127.0.0.1';
    const addresses = this.opts.dht?.advertise ?? (tcp ? [`${host}:${tcp.port}`] : []);
    try {
      const relays = this.relayAgent?.listed() ?? [];
      await this.dhtNode.publish({ entityId: this.entityId, addresses, capabilities: this.opts.capabilities ?? [], relays, mailbox: this.mailAgent?.entry() ?? null });
    } catch (err) {
      // A first node has nobody to store on yet: the peer still works, and says so.
      if (!(err instanceof PeerError && err.code === ErrorCode.DHT_ERROR)) throw err;
      this.counters.dhtPublishFailures++;
      if (this.listenerCount('dhtError') > 0) this.emit('dhtError', err);
    }
  }

  private requireDht(): DhtNode {
    if (this.dhtNode === null) throw new PeerError(ErrorCode.INVALID_STATE, 'this peer has no DHT node: create it with bootstrap (or dht) options');
    return this.dhtNode;
  }

  /** Listens for sessions on TCP; resolves with the bound address. */
  async listen(address: Partial<TcpAddress> = {}): Promise<TcpAddress> {
    if (this.closed) throw new PeerError(ErrorCode.INVALID_STATE, 'peer is closed');
    if (this.server) throw new PeerError(ErrorCode.INVALID_STATE, 'peer is already listening');
    this.server = await listenTcp(address, (socket) => this.accept(socket));
    await this.publish();
    return this.address!;
  }

  get address(): TcpAddress | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  /**
   * Starts the v1.0 HTTP endpoint (POST /message, GET /public-key, GET /health) so v1.0 peers can
   * reach this node. Verified v1.0 messages arrive on `peer.on('message')` with
   * `version: '1.0'` and `encrypted: false`. Requires `allowV1: true`.
   */
  async listenV1(address: { host?: string; port?: number } = {}): Promise<{ host: string; port: number }> {
    return this.v1Endpoint().listen(address);
  }

  /**
   * Sends a v1.0 message to a v1.0 peer (its URL from `v1.peers` or `url`), after the v1.0
   * handshake if there is no session yet. Use only for peers that do not speak v1.1.
   * Requires `allowV1: true`.
   */
  async sendV1(entityId: string, msgType: string, payload: Record<string, JsonInput>, url?: string): Promise<void> {
    const endpoint = this.v1Endpoint();
    if (!endpoint.sessions().some((s) => s.peerId === entityId)) await endpoint.handshake(entityId, url);
    await endpoint.send(entityId, msgType, payload, url === undefined ? {} : { url });
  }

  /**
   * v1.1 first, v1.0 only as configured: connects over TCP with the 6-step handshake; only if
   * that fails (no v1.1 listener there, or no common version) and `allowV1` is true and a v1.0
   * URL is given for this peer, runs the v1.0 handshake with it instead. Says which it got.
   */
  async connectAny(
    address: string | TcpAddress,
    fallback?: { entityId: string; v1Url: string },
  ): Promise<{ version: '1.1'; session: Session } | { version: '1.0'; session: V1Session }> {
    try {
      return { version: '1.1', session: await this.connect(address) };
    } catch (err) {
      const code = err instanceof PeerError ? err.code : undefined;
      const noV11 = code === ErrorCode.UNREACHABLE || code === ErrorCode.SESSION_NOT_FOUND || code === ErrorCode.INVALID_VERSION;
      if (!noV11 || !this.opts.allowV1 || fallback === undefined) throw err;
      this.emit('v1Fallback', { entityId: fallback.entityId, url: fallback.v1Url, reason: err });
      return { version: '1.0', session: await this.v1Endpoint().handshake(fallback.entityId, fallback.v1Url) };
    }
  }

  /** Where a v1.0 peer's endpoint is (replies in v1.0 are POSTs to the sender). Requires allowV1. */
  addV1Peer(entityId: string, url: string): void {
    this.v1Endpoint().addPeer(entityId, url);
  }

  /** The v1.0 endpoint, created on first use; refused unless allowV1. */
  private v1Endpoint(): V1Endpoint {
    if (!this.opts.allowV1) throw new PeerError(ErrorCode.INVALID_STATE, 'v1.0 is off: create the Peer with allowV1: true to speak v1.0 (signed, not encrypted)');
    if (this.closed) throw new PeerError(ErrorCode.INVALID_STATE, 'peer is closed');
    if (this.v1 === null) {
      this.v1 = new V1Endpoint({ addressLimits: this.opts.addressLimits, ...this.opts.v1, identity: this.identity, entityId: this.entityId, trust: this.trust });
      this.v1.on('message', (m: V1Message) => {
        this.counters.messagesReceived++;
        try {
          this.emit('message', m);
        } catch (err) {
          this.emit('handlerError', err, m); // an application handler never kills the endpoint
        }
      });
    }
    return this.v1;
  }

  /**
   * Connects over TCP and completes the handshake; rejects with the handshake's PeerError.
   * `target` is "host:port", an address, or an entity id resolved through the DHT: then the
   * record's addresses are tried in turn and the remote must prove the record's key.
   */
  async connect(target: string | TcpAddress): Promise<Session> {
    if (this.closed) throw new PeerError(ErrorCode.INVALID_STATE, 'peer is closed');
    if (typeof target === 'string' && !/:\d{1,5}$/.test(target.trim())) return this.connectEntity(target);
    const socket = await connectTcp(parseAddress(target));
    return this.attach(socket, 'initiator');
  }

  /** The record's addresses in turn, then (when none answers) its unexpired relays: says which path it took ('route'). */
  private async connectEntity(entityId: string): Promise<Session> {
    const record = await this.lookup(entityId);
    const now = Date.now();
    const routes: Route[] = [
      ...record.addresses.map((a): Route => ({ path: 'direct', via: [a] })),
      ...record.relays.filter((r) => r.expiresAt > now).map((r): Route => ({ path: 'relay', via: [r.address] })),
    ];
    let last: unknown = new PeerError(ErrorCode.DHT_ERROR, `${entityId}'s record lists no address and no relay`);
    for (const route of routes) {
      try {
        const session = route.path === 'direct' ? await this.connect(route.via[0]!) : await this.connectVia(route.via, record.publicKey);
        if (!Buffer.from(session.remote!.publicKey).equals(record.publicKey) || session.remote!.entityId !== entityId) {
          await session.close();
          throw new PeerError(ErrorCode.INVALID_SIGNATURE, `${route.via[0]} is not the ${entityId} of the signed DHT record`);
        }
        this.routes.set(session, route);
        this.emit('route', { entityId, ...route, session });
        return session;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /**
   * Opens a circuit through `relays` (1–3 relay addresses, the target reserved on the last) to
   * the entity whose Ed25519 key is `publicKey`, and runs the handshake through it: the relays
   * see only ciphertext. Rejects UNREACHABLE naming the refusing hop (details.relayStatus, hop),
   * or INVALID_SIGNATURE if the key that answered is not `publicKey`.
   */
  async connectVia(relays: string[], publicKey: Uint8Array): Promise<Session> {
    if (this.closed) throw new PeerError(ErrorCode.INVALID_STATE, 'peer is closed');
    const session = await this.attachRelayed(await openCircuit(relays, publicKey), 'initiator', relays);
    if (!Buffer.from(session.remote!.publicKey).equals(publicKey)) {
      await session.close();
      throw new PeerError(ErrorCode.INVALID_SIGNATURE, `the circuit through ${relays.join(' → ')} reached another key`);
    }
    return session;
  }

  /** How `session` reached its remote (sessions opened by address or accepted on our listener: direct). */
  routeOf(session: Session): Route {
    return this.routes.get(session) ?? { path: 'direct', via: [] };
  }

  /** The relay this peer serves (option `relay`), or null. */
  get relay(): RelayServer | null {
    return this.relayServer;
  }

  /** Our reservations on relays (option `reserve`), or null. */
  get relayReservations(): RelayAgent | null {
    return this.relayAgent;
  }

  /** A session over a spliced circuit socket (paused until the session reads it). */
  private attachRelayed(socket: net.Socket, role: 'initiator' | 'responder', via: string[]): Promise<Session> {
    const session = this.attach(socket, role);
    socket.resume();
    return session.then((s) => {
      this.routes.set(s, { path: 'relay', via });
      return s;
    });
  }

  /**
   * A handle to one remote (entity id or "host:port") that reconnects with jittered exponential
   * back-off whenever its session ends, keeping call order for what is sent through it
   * (handle.ts). `handle.close()` stops it; closing the peer closes its handles' sessions.
   */
  to(target: string | TcpAddress, options: HandleOptions = {}): RemoteHandle {
    if (this.closed) throw new PeerError(ErrorCode.INVALID_STATE, 'peer is closed');
    const handle: RemoteHandle = new RemoteHandle((t) => this.connect(t), target, options, () => this.handles.delete(handle));
    this.handles.add(handle);
    return handle;
  }

  /** Runs a session over any duplex stream (in-memory transport, a relay, a test harness). */
  async connectStream(stream: Duplex, role: 'initiator' | 'responder' = 'initiator'): Promise<Session> {
    return this.attach(stream, role);
  }

  /**
   * The message rate limiter, keyed by the remote's fingerprint: e.g.
   * `peer.rateLimiter.setLevel(session.fingerprint, 'partner')` or with limits of its own.
   */
  get rateLimiter(): RateLimiter {
    return this.limiter;
  }

  stats(): PeerStats {
    return {
      ...this.counters, sessionErrors: { ...this.counters.sessionErrors }, sessions: this.sessions.size,
      listener: this.guard.stats(), rateLimited: this.limiter.stats(), handshakeRateLimited: this.addressLimiter.stats(),
      reassembly: {
        bytesInUse: this.budgets.inUse,
        unpinnedBytesInUse: this.budgets.unpinnedInUse,
        processBytesInUse: this.processBudget().inUse,
        pool: bufferPoolStats(),
      },
    };
  }

  private processBudget(): ReturnType<typeof processReassemblyBudget> {
    return processReassemblyBudget(this.opts.maxReassemblyBytesPerProcess ?? DEFAULT_PROCESS_REASSEMBLY_BYTES);
  }

  /** Stops listening, closes every session after sending what it has queued. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unwatchTrust();
    this.relayAgent?.close();
    this.mailAgent?.close();
    this.mailPost?.closeAll();
    await this.queue.close();
    await Promise.all([...this.handles].map((h) => h.close()));
    const server = this.server;
    this.server = null;
    const stopped = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.sessions].map((s) => s.close()));
    // Connections whose session already ended but whose remote keeps them open would hold
    // server.close() forever.
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([stopped, this.v1?.close(), this.dhtNode?.close(), this.relayServer?.close()]);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', this.forgetSocket);
    if (this.closed) {
      socket.destroy();
      return;
    }
    acceptConnection(socket, this.guard, (admission) => this.attach(socket, 'responder', admission));
  }

  private async attach(stream: Duplex, role: 'initiator' | 'responder', admission: AdmissionHooks | null = null): Promise<Session> {
    // One budget per session (renewals keep it), chosen by the remote's key, trust and address prefix.
    let lease: BudgetLease | null = null;
    const reassemblyBudget = (remote: { fingerprint: string }) =>
      (lease ??= this.budgets.lease(remote.fingerprint, this.trust.isPinnedKey(remote.fingerprint), (stream as Partial<net.Socket>).remoteAddress)).budget;
    // One handle per session: the limiter's table is looked up once, not per message.
    let limits: PeerLimits | null = null;
    const rateLimit = (remote: RemoteIdentity, cls: RateClass, now: number): number => {
      if (limits === null || limits.key !== remote.fingerprint) limits = this.limiter.peer(remote.fingerprint);
      return limits.take(cls, now);
    };
    const rateLimitRun = (remote: RemoteIdentity, cls: RateClass, now: number, count: number): number => {
      if (limits === null || limits.key !== remote.fingerprint) limits = this.limiter.peer(remote.fingerprint);
      return limits.takeRun(cls, now, count);
    };
    const session = new Session(stream, this.handshakeOptions, { ...this.opts.session, reassemblyBudget, rateLimit, rateLimitRun, divert: this.divert }, role, admission);
    this.sessions.add(session);
    const on = this.forwarders;
    session.on('messages', on.messages);
    session.on('dropped', on.dropped);
    session.on('internalError', on.internalError);
    session.on('request', on.request);
    session.on('rejected', on.rejected);
    session.on('handlerError', on.handlerError);
    session.on('chunkError', on.chunkError);
    session.on('close', on.closed);
    session.on('close', () => lease?.release());
    try {
      await session.ready;
    } catch (err) {
      this.counters.handshakesFailed++;
      throw err;
    }
    this.counters.handshakesCompleted++;
    this.emit('session', session);
    return session;
  }

}
