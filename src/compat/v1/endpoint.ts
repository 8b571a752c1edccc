/**
 * The HTTP endpoint v1.0 peers talk to (node:http): `POST /message` → 200
 * `{"status":"received"}` or 400 `{"detail": "<code in lower case>", "error_code": "<CODE>"}`;
 * `GET /public-key`, `GET /health`, `GET /peers`, `GET /stats`. Replies (handshake_ack,
 * handshake_confirm) are new POSTs to the peer's own `/message`, through V1Client, so the
 * endpoint needs each peer's base URL (`peers`, addPeer(), or handshake(id, url)).
 *
 * Hostile input: bodies ≤ maxBodyBytes (and ≤ maxBufferedBytes for all bodies at once, of
 * which one address prefix holds at most its share), nesting ≤ maxDepth, members ≤
 * maxMembers, connections per address prefix, header and request timeouts and a minimum
 * upload rate against slow senders, a per-address rate limit asked before a body is read and
 * charged (by msg_type class) before any signature check, and every failure answered, never
 * thrown: the process does not crash and memory stays bounded. Per-address limits count an
 * address prefix (util/ip.ts: IPv4 /32, IPv6 /64; `addressLimits` sets the bits and exempt prefixes).
 *
 * Events: 'message' (V1Message), 'session' (V1Session), 'rejected' (V1Rejection),
 * 'sendFailed' ({ peerId, msgType, error }).
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { constantTimeEqual, type Identity } from '../../crypto/index.js';
import { ErrorCode, PeerError } from '../../errors.js';
import { RateLimiter } from '../../ratelimit/index.js';
import { AddressKeys, type AddressLimits } from '../../util/ip.js';
import { V1Client, type V1ClientOptions, type V1Response } from './client.js';
import { sign } from './envelope.js';
import { HANDSHAKE_TYPES, V1Handshakes, type HandshakeType, type V1HandshakeOptions, type V1Session } from './handshake.js';
import { BodyBudget, answerClientError, errorBody, readBody, sendJson } from './http.js';
import type { JsonInput } from './json.js';
import { DEFAULT_ENDPOINT_LIMITS, REFUSALS, rateClassOfV1, type V1EndpointLimits } from './limits.js';
import { ConnectionShares } from './shares.js';
import { V1Receiver, type KeyDirectory, type V1Message, type V1Outcome, type V1Reply } from './receiver.js';
import { ReplayGuard, type ReplayGuardOptions } from './replay.js';

export interface V1EndpointOptions {
  identity: Identity;
  /** Our entity id (v1.0 sender_id). */
  entityId: string;
  /** Pinned keys and the policy for unpinned entities; a TrustStore fits. */
  trust: KeyDirectory;
  /** Entity id → base URL of its v1.0 endpoint, for replies and sends. */
  peers?: Iterable<[string, string]>;
  /** Announced in our `handshake`. */
  capabilities?: string[];
  limits?: Partial<V1EndpointLimits>;
  replay?: ReplayGuardOptions;
  handshake?: Omit<V1HandshakeOptions, 'capabilities'>;
  /** Per source address prefix and msg_type class (spec defaults); false: none. */
  rateLimiter?: RateLimiter | false;
  /** How per-address limits group addresses (prefix bits) and which are exempt. */
  addressLimits?: AddressLimits;
  client?: V1Client | V1ClientOptions;
  /** How long handshake() waits for the handshake_ack (default 30 s). */
  handshakeTimeoutMs?: number;
  /** Wall clock in ms (default Date.now); v1.0 timestamps are wall-clock times. */
  now?: () => number;
  /** Where the endpoint says that it speaks v1.0 (default: a process warning). */
  log?: (line: string) => void;
}

export interface V1Rejection {
  status: number;
  code: ErrorCode;
  message: string;
  remoteAddress: string;
}

export interface V1EndpointStats {
  received: number;
  rejected: Partial<Record<ErrorCode, number>>;
  /** 500 answers: a bug of ours, never expected. */
  internalErrors: number;
  bufferedBytes: number;
  peakBufferedBytes: number;
  sessions: number;
  pendingHandshakes: number;
  nonces: number;
}

interface Waiter {
  resolve(session: V1Session): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

export { DEFAULT_ENDPOINT_LIMITS, rateClassOfV1, type V1EndpointLimits } from './limits.js';

export class V1Endpoint extends EventEmitter {
  readonly entityId: string;
  readonly identity: Identity;
  readonly limits: Readonly<V1EndpointLimits>;
  private readonly handshakes: V1Handshakes;
  private readonly replay: ReplayGuard;
  private readonly receiver: V1Receiver;
  private readonly client: V1Client;
  private readonly limiter: RateLimiter | undefined;
  private readonly budget: BodyBudget;
  private readonly keys: AddressKeys;
  private readonly connections: ConnectionShares;
  private readonly peers = new Map<string, string>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly seqs = new WeakMap<V1Session, number>();
  private readonly counters = { received: 0, internalErrors: 0, rejected: {} as Partial<Record<ErrorCode, number>> };
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private server: http.Server | undefined;

  constructor(private readonly options: V1EndpointOptions) {
    super();
    this.entityId = options.entityId;
    this.identity = options.identity;
    this.limits = { ...DEFAULT_ENDPOINT_LIMITS, ...options.limits };
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => process.emitWarning(line, { code: 'PEERCOMM_V1' }));
    this.handshakes = new V1Handshakes(options.identity, { ...options.handshake, capabilities: options.capabilities ?? [] });
    this.replay = new ReplayGuard(options.replay);
    this.receiver = new V1Receiver({
      trust: options.trust, handshakes: this.handshakes, replay: this.replay,
      limits: { maxBytes: this.limits.maxBodyBytes, maxDepth: this.limits.maxDepth, maxMembers: this.limits.maxMembers },
    });
    this.client = options.client instanceof V1Client ? options.client : new V1Client(options.client);
    this.limiter = options.rateLimiter === false ? undefined : options.rateLimiter ?? new RateLimiter();
    this.budget = new BodyBudget(this.limits.maxBufferedBytes, this.limits.maxBufferedBytesPerAddress);
    this.keys = new AddressKeys(options.addressLimits);
    this.connections = new ConnectionShares(this.limits.maxConnectionsPerAddress);
    for (const [id, url] of options.peers ?? []) this.addPeer(id, url);
  }

  /** Where to POST replies and messages for `entityId` (its base URL). */
  addPeer(entityId: string, url: string): void {
    this.peers.set(entityId, url);
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /** Our base URL, once listening. */
  get url(): string | undefined {
    const a = this.address;
    return a ? `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : undefined;
  }

  async listen({ host = '127.0.0.1', port = 0 }: { host?: string; port?: number } = {}): Promise<{ host: string; port: number }> {
    if (this.server) throw new PeerError(ErrorCode.INVALID_STATE, 'the v1.0 endpoint is already listening');
    const l = this.limits;
    const server = http.createServer({
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(l.headersTimeoutMs, l.requestTimeoutMs) / 4),
      maxHeaderSize: 16 * 1024,
    });
    server.maxConnections = l.maxConnections;
    server.on('connection', (socket: Socket) => this.connections.admit(socket, this.keys.keyOf(socket.remoteAddress ?? 'unknown')));
    server.on('request', (req, res) => void this.handle(req, res));
    // Expect: 100-continue: refuse an oversized body before the client sends it.
    server.on('checkContinue', (req, res) => {
      if (Number(req.headers['content-length']) > l.maxBodyBytes) return this.refuse(res, new PeerError(ErrorCode.FRAME_TOO_LARGE, 'body too large'), req.socket.remoteAddress, true);
      res.writeContinue();
      void this.handle(req, res);
    });
    server.on('clientError', answerClientError);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.log(`peercomm: v1.0 compatibility endpoint for ${this.entityId} on ${this.url}: v1.0 messages are signed but NOT encrypted`);
    return this.address!;
  }

  async close(): Promise<void> {
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new PeerError(ErrorCode.INVALID_STATE, 'v1.0 endpoint closed'));
      this.waiters.delete(id);
    }
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** The v1.0 handshake as initiator: resolves when the ack verified and our confirm was delivered. */
  async handshake(peerId: string, url?: string): Promise<V1Session> {
    if (url !== undefined) this.addPeer(peerId, url);
    if (!this.peers.has(peerId)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `no URL is known for ${peerId}`);
    if (this.options.trust.pinned(peerId) === undefined && !this.options.trust.acceptUnknown) {
      throw new PeerError(ErrorCode.UNKNOWN_SENDER, `entity ${peerId} is not trusted`);
    }
    const { sessionId, payload } = this.handshakes.start(peerId, this.now());
    const done = new Promise<V1Session>((resolve, reject) => {
      const timeoutMs = this.options.handshakeTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.waiters.delete(sessionId);
        this.handshakes.cancel(sessionId);
        reject(new PeerError(ErrorCode.CHALLENGE_EXPIRED, `no handshake_ack from ${peerId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(sessionId, { resolve, reject, timer });
    });
    try {
      await this.post(peerId, 'handshake', payload, sessionId);
    } catch (err) {
      this.settle(sessionId, err);
      this.handshakes.cancel(sessionId);
    }
    return done;
  }

  /**
   * Sends a signed v1.0 message to `peerId`'s /message (with its latest session's id and the
   * next sequence number, if there is a session). Resolves with the peer's 2xx answer.
   */
  send(peerId: string, msgType: string, payload: Record<string, JsonInput> | Map<string, JsonInput>, options: { url?: string } = {}): Promise<V1Response> {
    if ((HANDSHAKE_TYPES as readonly string[]).includes(msgType)) {
      return Promise.reject(new PeerError(ErrorCode.INVALID_ARGUMENT, 'handshake messages are sent by handshake()'));
    }
    if (options.url !== undefined) this.addPeer(peerId, options.url);
    return this.post(peerId, msgType, payload);
  }

  /** Live v1.0 sessions. */
  sessions(): V1Session[] {
    return this.handshakes.liveSessions(this.now());
  }

  stats(): V1EndpointStats {
    return {
      received: this.counters.received,
      rejected: { ...this.counters.rejected },
      internalErrors: this.counters.internalErrors,
      bufferedBytes: this.budget.used,
      peakBufferedBytes: this.budget.peak,
      sessions: this.handshakes.sessionCount,
      pendingHandshakes: this.handshakes.pendingCount,
      nonces: this.replay.size,
    };
  }

  private async post(peerId: string, msgType: string, payload: Record<string, JsonInput> | Map<string, JsonInput>, sessionId?: string): Promise<V1Response> {
    const url = this.peers.get(peerId);
    if (url === undefined) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `no URL is known for ${peerId}`);
    const now = this.now();
    let sequenceNum: number | null = null;
    if (sessionId === undefined) {
      const session = this.handshakes.sessionWith(peerId, now);
      if (session !== undefined) {
        sessionId = session.id;
        sequenceNum = (this.seqs.get(session) ?? 0) + 1; // v1.0: starts at 1
        this.seqs.set(session, sequenceNum);
      }
    }
    const body = sign({ msgType, senderId: this.entityId, recipientId: peerId, sessionId: sessionId ?? null, sequenceNum, payload, timestamp: now }, this.identity);
    return this.client.post(url, body);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    if (this.connections.refused(req.socket)) return void req.resume(); // answered when it connected
    try {
      const path = (req.url ?? '/').split('?')[0];
      const get = req.method === 'GET' || req.method === 'HEAD';
      if (path === '/message') {
        if (req.method !== 'POST') return sendJson(res, 405, { detail: 'Method Not Allowed' });
        return await this.onMessage(req, res, address);
      }
      if (!get) return sendJson(res, path === '/health' || path === '/public-key' ? 405 : 404, { detail: 'Not Found' }, true);
      switch (path) {
        case '/health': return sendJson(res, 200, { status: 'healthy', entity_id: this.entityId, version: '1.0' });
        case '/public-key': return sendJson(res, 200, { entity_id: this.entityId, public_key: this.identity.publicKey.toString('hex') });
        case '/peers': return sendJson(res, 200, { peers: [] }); // we do not publish whom we talk to
        case '/stats': return sendJson(res, 200, { messages_received: this.counters.received, sessions: this.handshakes.sessionCount });
        default: return sendJson(res, 404, { detail: 'Not Found' });
      }
    } catch (err) {
      // Not a PeerError: a bug of ours. Answer 500 (as v1.0 peers do) and keep serving.
      if (err instanceof PeerError) return this.refuse(res, err, address, true);
      this.counters.internalErrors++;
      sendJson(res, 500, { detail: 'internal_error' }, true);
    }
  }

  private async onMessage(req: http.IncomingMessage, res: http.ServerResponse, address: string): Promise<void> {
    const key = this.keys.keyOf(address);
    const limitKey = key === null || this.limiter === undefined ? undefined : `v1:${key}`;
    // Asked before the body is read: an address whose requests keep being refused sends no more bodies.
    if (limitKey !== undefined && this.limiter!.tokens(`${REFUSALS}${limitKey}`, 'task', this.now()) < 1) {
      return this.refuse(res, new PeerError(ErrorCode.RATE_LIMITED, 'rate limited'), address, true);
    }
    let body;
    try {
      body = await readBody(req, {
        maxBytes: this.limits.maxBodyBytes, budget: this.budget, key,
        minBytesPerSecond: this.limits.minUploadBytesPerSecond, graceMs: this.limits.uploadGraceMs,
      });
    } catch (err) {
      return this.refuse(res, err as PeerError, address, true); // the rest of the body is unread: close
    }
    const now = this.now();
    let admitted = false;
    let outcome: V1Outcome;
    try {
      outcome = this.receiver.receive(body.bytes, now, {
        admit: (env) => {
          admitted = true;
          if (limitKey !== undefined) this.limiter!.check(limitKey, rateClassOfV1(env.msgType), now);
        },
        canReply: (peerId) => this.peers.has(peerId),
      });
    } catch (err) {
      // Bodies that fail before admission count too, so junk is rate limited like the rest.
      const limited = !admitted && limitKey !== undefined && this.limiter!.take(limitKey, 'task', now) !== 0;
      const failed = err instanceof PeerError && err.details?.authenticated === true ? err.details.sessionId : undefined;
      if (typeof failed === 'string') this.settle(failed, err); // our handshake() learns at once
      return this.refuse(res, limited ? new PeerError(ErrorCode.RATE_LIMITED, 'rate limited') : err as PeerError, address, false);
    } finally {
      this.budget.release(body.reserved, key);
    }
    this.counters.received++;
    sendJson(res, 200, { status: 'received', nonce: outcome.kind === 'message' ? outcome.message.envelope.nonce : outcome.envelope.nonce });
    process.nextTick(() => this.deliver(outcome));
  }

  private deliver(outcome: V1Outcome): void {
    switch (outcome.kind) {
      case 'message':
        this.emit('message', outcome.message satisfies V1Message);
        return;
      case 'handshake':
        this.answerHandshake(outcome.reply, outcome.publicKey).catch(() => undefined); // reported by 'sendFailed'
        return;
      case 'handshake_ack': {
        const session = outcome.session;
        this.reply(outcome.reply).then(
          () => {
            this.settle(session.id, undefined, session);
            this.emit('session', session);
          },
          (err: unknown) => this.settle(session.id, err),
        );
        return;
      }
      case 'handshake_confirm':
        this.emit('session', outcome.session);
    }
  }

  /**
   * Acks a v1.0 handshake. An unpinned sender's key must first be the one its configured URL
   * serves on GET /public-key: the ack goes to that URL, and someone who only claims the id
   * (and never sees the ack) must not get a session under it. Only then may a confirm complete it.
   */
  private async answerHandshake(r: V1Reply, key: Buffer): Promise<void> {
    try {
      if (this.options.trust.pinned(r.to) === undefined) {
        const served = await this.client.publicKey(this.peers.get(r.to)!);
        if (!constantTimeEqual(served.publicKey, key)) {
          throw new PeerError(ErrorCode.INVALID_SIGNATURE, `${r.to}'s handshake is signed by a key other than the one its URL serves`);
        }
      }
    } catch (error) {
      this.handshakes.cancel(r.sessionId);
      this.emit('sendFailed', { peerId: r.to, msgType: r.msgType, error });
      throw error;
    }
    this.handshakes.acknowledge(r.sessionId);
    await this.reply(r);
  }

  private async reply(r: V1Reply): Promise<void> {
    try {
      await this.post(r.to, r.msgType, r.payload, r.sessionId);
    } catch (error) {
      this.emit('sendFailed', { peerId: r.to, msgType: r.msgType as HandshakeType, error });
      throw error;
    }
  }

  private settle(sessionId: string, err: unknown, session?: V1Session): void {
    const w = this.waiters.get(sessionId);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiters.delete(sessionId);
    if (session) w.resolve(session);
    else {
      this.handshakes.cancel(sessionId);
      w.reject(err);
    }
  }

  private refuse(res: http.ServerResponse, err: unknown, remoteAddress = 'unknown', close: boolean): void {
    const pe = err instanceof PeerError ? err : new PeerError(ErrorCode.MALFORMED_FRAME, String(err));
    // Memory pressure is 503 (v1.0 clients retry it), a stalled upload 408; everything else is v1.0's 400.
    const busy = pe.details?.busy === true;
    const timeout = pe.details?.timeout === true;
    const status = busy ? 503 : timeout ? 408 : 400;
    this.counters.rejected[pe.code] = (this.counters.rejected[pe.code] ?? 0) + 1;
    if (busy) res.setHeader('retry-after', '1');
    // Every refusal but "busy" (ours) costs the address a token of its refusal bucket (task-class limits).
    const key = busy || this.limiter === undefined ? null : this.keys.keyOf(remoteAddress);
    if (key !== null) this.limiter!.take(`${REFUSALS}v1:${key}`, 'task', this.now());
    sendJson(res, status, busy ? { detail: 'busy', error_code: pe.code } : timeout ? { detail: 'request_timeout', error_code: pe.code } : errorBody(pe.code), close);
    if (this.listenerCount('rejected') > 0) this.emit('rejected', { status, code: pe.code, message: pe.message, remoteAddress } satisfies V1Rejection);
  }
}
