/**
 * A v1.0 peer written for the tests with plain node:http and node:crypto (and the independent
 * serialiser of pyjson.ts), from V1_COMPAT.md: it serves POST /message and GET /public-key,
 * signs its envelopes, verifies ours, and runs the 3-message handshake in both roles, replying
 * with new POSTs to the other side's /message as v1.0 peers do. It reads bodies with
 * JSON.parse, as a Python peer reads them with json.loads: fine for the payloads the tests
 * send it (no integral floats, no integers beyond 2^53).
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ed25519, isoMicros, signedText, writeBody, type Model } from './pyjson.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A JSON.parse'd value as the model Python's json.loads would make of it. */
export function modelOf(v: Json): Model {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? { int: BigInt(v) } : { float: v };
  if (Array.isArray(v)) return v.map(modelOf);
  return { obj: Object.entries(v).map(([k, x]) => [k, modelOf(x)]) };
}

/** A plain object of strings, booleans and safe integers as a model. */
export const obj = (o: Record<string, Json>): { obj: [string, Model][] } => modelOf(o) as { obj: [string, Model][] };

export interface Received {
  envelope: Record<string, Json>;
  payload: Record<string, Json>;
}

export interface Misbehaviour {
  /** Sign acks' challenge_response over something else. */
  badChallengeResponse?: boolean;
  /** Shift the handshake_confirm timestamp by this much. */
  confirmSkewMs?: number;
}

export class FakeV1Peer extends EventEmitter {
  readonly keys = ed25519();
  readonly publicKeyHex = this.keys.publicKey.toString('hex');
  /** Entity id → where it listens and (once known) its key. */
  readonly directory = new Map<string, { url?: string; publicKeyHex?: string }>();
  readonly inbox: Received[] = [];
  readonly sessions = new Map<string, { peer: string; publicKeyHex: string }>();
  /** Every answer this peer gave to a POST, in order. */
  readonly answers: { status: number; body: Json }[] = [];
  /** Every POST this peer made with send(), and the answer. */
  readonly posted: { msgType: string; status: number; json: Record<string, Json> }[] = [];
  url = '';
  misbehave: Misbehaviour = {};
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private readonly challenges = new Map<string, { peer: string; challenge: string }>();
  private readonly responding = new Map<string, { peer: string; publicKeyHex: string }>();

  constructor(readonly id: string) {
    super();
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** A signed body in Python's default json.dumps layout (", " and ": "). */
  envelope(msgType: string, to: string, payload: { obj: [string, Model][] }, o: { timestamp?: string; nonce?: string; sessionId?: string | null; seq?: number | null; signWith?: (d: Buffer) => Buffer; version?: string } = {}): string {
    const f = {
      version: o.version ?? '1.0', msg_type: msgType, sender_id: this.id, payload,
      timestamp: o.timestamp ?? isoMicros(Date.now()), nonce: o.nonce ?? crypto.randomBytes(16).toString('hex'),
    };
    const sig = (o.signWith ?? this.keys.sign)(Buffer.from(signedText(f), 'utf8')).toString('base64');
    const env: Model = {
      obj: [['version', f.version], ['msg_type', msgType], ['sender_id', this.id], ['recipient_id', to],
        ['session_id', o.sessionId ?? null], ['sequence_num', o.seq === undefined || o.seq === null ? null : { int: BigInt(o.seq) }],
        ['timestamp', f.timestamp], ['nonce', f.nonce], ['payload', payload], ['signature', sig]],
    };
    return writeBody(env, { space: ' ', rawUtf8: false, oddEscapes: false, floatSpelling: 0 });
  }

  /** POSTs a body to `url`/message. */
  post(url: string, body: string | Buffer): Promise<{ status: number; json: Record<string, Json> }> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${url}/message`, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, Json> }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Sends a message to a peer in the directory. */
  async send(to: string, msgType: string, payload: { obj: [string, Model][] }, o: Parameters<FakeV1Peer['envelope']>[3] = {}) {
    const r = await this.post(this.directory.get(to)!.url!, this.envelope(msgType, to, payload, o));
    this.posted.push({ msgType, ...r });
    return r;
  }

  /** Starts the handshake as initiator; resolves with the session id once our confirm was accepted. */
  async handshake(to: string): Promise<string> {
    const sessionId = crypto.randomUUID();
    const challenge = crypto.randomBytes(32).toString('hex');
    this.challenges.set(sessionId, { peer: to, challenge });
    const established = new Promise<string>((resolve, reject) => {
      this.on('session', (id: string) => id === sessionId && resolve(id));
      this.on('handshakeFailed', (id: string, why: string) => id === sessionId && reject(new Error(why)));
    });
    const r = await this.send(to, 'handshake', obj({
      version: '1.0', session_id: sessionId, challenge, public_key: this.publicKeyHex, supported_versions: ['1.0', '0.3'], capabilities: ['chat'],
    }), { sessionId });
    if (r.status !== 200) throw new Error(`handshake refused: ${JSON.stringify(r.json)}`);
    return established;
  }

  private answer(res: http.ServerResponse, status: number, body: Json): void {
    this.answers.push({ status, body });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private verifyWith(publicKeyHex: string, env: Record<string, Json>): boolean {
    const sig = String(env.signature);
    const bytes = /^[0-9a-f]{128}$/i.test(sig) ? Buffer.from(sig, 'hex') : Buffer.from(sig, 'base64');
    const key = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' });
    const signed = signedText({ version: String(env.version), msg_type: String(env.msg_type), sender_id: String(env.sender_id), payload: modelOf(env.payload!), timestamp: String(env.timestamp), nonce: String(env.nonce) });
    return crypto.verify(null, Buffer.from(signed, 'utf8'), key, bytes);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/public-key') return this.answer(res, 200, { entity_id: this.id, public_key: this.publicKeyHex });
    let text = '';
    for await (const chunk of req) text += chunk;
    const env = JSON.parse(text) as Record<string, Json>;
    const p = env.payload as Record<string, Json>;
    const from = String(env.sender_id);
    const sid = String(p.session_id);
    // Handshake messages carry the sender's key; the rest need it from the directory or a session.
    const key = env.msg_type === 'handshake' || env.msg_type === 'handshake_ack'
      ? String(p.public_key)
      : this.directory.get(from)?.publicKeyHex ?? [...this.sessions.values()].find((s) => s.peer === from)?.publicKeyHex ?? this.responding.get(sid)?.publicKeyHex;
    if (key === undefined) return this.answer(res, 400, { detail: 'Unknown sender' });
    if (!this.verifyWith(key, env)) return this.answer(res, 400, { detail: 'Invalid signature' });

    switch (env.msg_type) {
      case 'handshake': {
        this.responding.set(sid, { peer: from, publicKeyHex: key });
        this.answer(res, 200, { status: 'received' });
        const challenge = this.misbehave.badChallengeResponse ? `${p.challenge}x` : String(p.challenge);
        await this.send(from, 'handshake_ack', obj({
          session_id: sid, public_key: this.publicKeyHex, challenge_response: this.keys.sign(Buffer.from(challenge)).toString('base64'),
          selected_version: '1.0', confirm: true,
        }), { sessionId: sid });
        return;
      }
      case 'handshake_ack': {
        const c = this.challenges.get(sid);
        const response = Buffer.from(String(p.challenge_response), /^[0-9a-f]{128}$/i.test(String(p.challenge_response)) ? 'hex' : 'base64');
        const keyObj = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key, 'hex')]), format: 'der', type: 'spki' });
        if (!c || c.peer !== from || !crypto.verify(null, Buffer.from(c.challenge), keyObj, response)) {
          this.emit('handshakeFailed', sid, 'bad challenge_response');
          return this.answer(res, 400, { detail: 'Invalid signature' });
        }
        this.answer(res, 200, { status: 'received' });
        const r = await this.send(from, 'handshake_confirm', obj({ session_id: sid, confirm: true, timestamp: isoMicros(Date.now() + (this.misbehave.confirmSkewMs ?? 0)) }), { sessionId: sid });
        if (r.status !== 200) return void this.emit('handshakeFailed', sid, JSON.stringify(r.json));
        this.sessions.set(sid, { peer: from, publicKeyHex: key });
        this.emit('session', sid);
        return;
      }
      case 'handshake_confirm': {
        const r = this.responding.get(sid);
        if (!r || p.confirm !== true) return this.answer(res, 400, { detail: 'Unknown session' });
        this.sessions.set(sid, r);
        this.answer(res, 200, { status: 'received' });
        this.emit('session', sid);
        return;
      }
      default:
        this.inbox.push({ envelope: env, payload: p });
        this.answer(res, 200, { status: 'received' });
        this.emit('message', env);
    }
  }
}
